"""The store pages (URL namespace "stores"): home, Get started, create, Overview, settings, delete.

Here rather than in `stores` because creating and deleting a store and the Overview reach every app.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.access import account_view
from accounts.forms_util import apply_validation_error
from accounts.selectors import audit_events
from conversations.memory import extractor_label
from stores import services as store_services
from stores.access import store_view
from stores.forms import StoreCreateForm, StoreDeleteForm, StoreSettingsForm
from stores.selectors import store_list

from . import services
from .selectors import store_counts, store_onboarding


@account_view()
def home(request):
    stores = list(store_list(account_id=request.account.pk))
    last = request.session.get("last_store_id")
    for store in stores:
        if store.pk == last:
            return redirect("stores:overview", store.pk)
    if stores:
        return redirect("stores:overview", stores[0].pk)
    return redirect("stores:get_started")


@account_view()
def get_started(request):
    stores = store_list(account_id=request.account.pk)
    return render(request, "stores/get_started.html", {"stores": stores})


@account_view(write=True)
@require_http_methods(["GET", "POST"])
def store_create(request):
    form = StoreCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            store = services.store_create(
                account=request.account,
                actor=request.user,
                name=form.cleaned_data["name"] or None,
                description=form.cleaned_data["description"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Created memory store “{store.name}”. You can rename it in Settings.")
            return redirect("stores:overview", store.pk)
    return render(request, "stores/store_create.html", {"form": form})


@store_view()
def overview(request, store):
    steps = store_onboarding(store=store)
    return render(
        request,
        "stores/overview.html",
        {
            "counts": store_counts(store=store),
            "steps": steps,
            "steps_done": sum(step.done for step in steps),
        },
    )


@store_view()
def settings_view(request, store):
    return render(
        request,
        "stores/settings.html",
        {
            "events": audit_events(account_id=store.account_id, store_id=store.pk)[:10],
            "extractor": extractor_label(),
        },
    )


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def settings_edit(request, store):
    initial = {"name": store.name, "description": store.description, "default_region": store.default_region}
    form = StoreSettingsForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            store_services.store_update(store=store, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, "Memory store settings saved.")
            return redirect("stores:settings", store.pk)
    return render(request, "stores/settings_edit.html", {"form": form})


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def store_delete(request, store):
    form = StoreDeleteForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        name = store.name
        try:
            services.store_delete(store=store, actor=request.user, confirm_name=form.cleaned_data["confirm_name"])
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Deleted memory store “{name}” and everything in it.")
            return redirect("home")
    return render(request, "stores/store_delete.html", {"form": form, "counts": store_counts(store=store)})
