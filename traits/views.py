from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.forms_util import apply_validation_error
from memory_console.sheets import render_sheet, sheet_done
from profiles.selectors import profiles_holding_count
from stores.access import store_view
from workspace import services as workspace_services

from . import services
from .forms import TraitForm, TraitGroupForm
from .selectors import trait_get, trait_group_get, trait_groups_with_traits

GROUPS_FRAGMENT = "traits/_groups.html"


def _groups_context(store):
    return {"groups": trait_groups_with_traits(store=store)}


def _group_or_404(store, group_id):
    group = trait_group_get(store=store, group_id=group_id)
    if group is None:
        raise Http404("No such trait group in this memory store.")
    return group


def _trait_or_404(store, trait_id):
    trait = trait_get(store=store, trait_id=trait_id)
    if trait is None:
        raise Http404("No such trait in this memory store.")
    return trait


def _done(request, store, message):
    return sheet_done(
        request,
        message=message,
        redirect_to=reverse("traits:list", args=[store.pk]),
        fragment=GROUPS_FRAGMENT,
        context=_groups_context(store),
    )


@store_view()
def trait_list(request, store):
    return render(request, "traits/list.html", _groups_context(store))


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def group_create(request, store):
    form = TraitGroupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            group = services.trait_group_create(store=store, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return _done(request, store, f"Added trait group {group.name}.")
    return render_sheet(
        request,
        "traits/_group_form.html",
        {"form": form, "action": reverse("traits:group_create", args=[store.pk])},
        title="Add trait group",
    )


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def group_delete(request, store, group_id):
    group = _group_or_404(store, group_id)
    error = None
    if request.method == "POST":
        try:
            changed = workspace_services.trait_group_delete(group=group, actor=request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            return _done(
                request, store, f"Deleted trait group {group.name}; removed its values from {changed} profile(s)."
            )
    return render_sheet(
        request,
        "traits/_confirm_delete.html",
        {
            "subject": f"trait group {group.name}",
            "error": error
            or (f"The default trait group {group.name} cannot be deleted." if group.is_default else None),
            "trait_count": group.traits.count(),
            "holding": profiles_holding_count(store=store, group=group.name),
            "action": reverse("traits:group_delete", args=[store.pk, group.pk]),
            "button": "Delete trait group",
        },
        title=f"Delete trait group {group.name}",
    )


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def trait_create(request, store, group_id):
    group = _group_or_404(store, group_id)
    form = TraitForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            trait = services.trait_create(group=group, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return _done(request, store, f"Added trait {trait.path}.")
    return render_sheet(
        request,
        "traits/_trait_form.html",
        {"form": form, "group": group, "action": reverse("traits:trait_create", args=[store.pk, group.pk])},
        title=f"Add trait to {group.name}",
    )


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def trait_delete(request, store, trait_id):
    trait = _trait_or_404(store, trait_id)
    error = None
    if request.method == "POST":
        try:
            changed = workspace_services.trait_delete(trait=trait, actor=request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            return _done(request, store, f"Deleted trait {trait.path}; removed its value from {changed} profile(s).")
    return render_sheet(
        request,
        "traits/_confirm_delete.html",
        {
            "subject": f"trait {trait.path}",
            "error": error or (f"{trait.path} is a default trait and cannot be deleted." if trait.is_default else None),
            "holding": profiles_holding_count(store=store, group=trait.group.name, trait=trait.name),
            "action": reverse("traits:trait_delete", args=[store.pk, trait.pk]),
            "button": "Delete trait field",
        },
        title=f"Delete trait {trait.path}",
    )
