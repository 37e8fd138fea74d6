from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.forms_util import apply_validation_error
from memory_console.sheets import render_sheet, sheet_done
from stores.access import store_view

from . import services
from .forms import RuleCreateForm, RuleEditForm
from .selectors import identity_rule_get, identity_rules

RULES_FRAGMENT = "identity/_rules.html"


def _rule_or_404(store, rule_id):
    rule = identity_rule_get(store=store, rule_id=rule_id)
    if rule is None:
        raise Http404("No such identity rule in this memory store.")
    return rule


def _done(request, store, message):
    return sheet_done(
        request,
        message=message,
        redirect_to=reverse("identity:list", args=[store.pk]),
        fragment=RULES_FRAGMENT,
        context={"rules": identity_rules(store=store)},
    )


@store_view()
def identifier_list(request, store):
    return render(request, "identity/list.html", {"rules": identity_rules(store=store)})


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def rule_create(request, store):
    form = RuleCreateForm(request.POST if request.method == "POST" else None, store=store)
    if request.method == "POST" and form.is_valid():
        try:
            rule = services.identity_rule_create(store=store, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return _done(request, store, f"Added identity rule {rule.name} at priority {rule.priority}.")
    return render_sheet(
        request,
        "identity/_rule_form.html",
        {"form": form, "action": reverse("identity:rule_create", args=[store.pk]), "creating": True},
        title="Add identity rule",
    )


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def rule_edit(request, store, rule_id):
    rule = _rule_or_404(store, rule_id)
    rules = list(identity_rules(store=store))
    initial = {
        "name": rule.name,
        "limit": rule.limit,
        "priority": rules.index(rule) + 1,
        "mapped_traits": list(rule.mapped_traits.all()),
        "limit_policy": rule.limit_policy,
        "blocked_values": "\n".join(rule.blocked_values),
    }
    form = RuleEditForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        store=store,
        rule=rule,
        rule_count=len(rules),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        order = [r.pk for r in rules if r.pk != rule.pk]
        order.insert(data["priority"] - 1, rule.pk)
        try:
            with transaction.atomic():
                services.identity_rule_update(
                    rule=rule,
                    actor=request.user,
                    name=data["name"],
                    limit=data["limit"],
                    mapped_traits=data.get("mapped_traits") or [],
                    blocked_values=data["blocked_values"],
                    limit_policy=data["limit_policy"],
                )
                if order != [r.pk for r in rules]:
                    services.identity_rules_reorder(store=store, actor=request.user, rule_ids=order)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return _done(request, store, f"Saved identity rule {rule.name}.")
    return render_sheet(
        request,
        "identity/_rule_form.html",
        {"form": form, "rule": rule, "action": reverse("identity:rule_edit", args=[store.pk, rule.pk])},
        title=f"Edit identity rule {rule.name}",
    )


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def rule_delete(request, store, rule_id):
    rule = _rule_or_404(store, rule_id)
    if request.method == "POST":
        services.identity_rule_delete(rule=rule, actor=request.user)
        return _done(request, store, f"Deleted identity rule {rule.name}.")
    return render_sheet(
        request,
        "identity/_rule_delete.html",
        {"rule": rule, "action": reverse("identity:rule_delete", args=[store.pk, rule.pk])},
        title=f"Delete identity rule {rule.name}",
    )


@store_view(write=True)
@require_http_methods(["GET", "POST"])
def priority_edit(request, store):
    """Reorder rules: drag and drop or up/down buttons (JS), or one move per submit without JS."""
    rules = list(identity_rules(store=store))
    error = moved = None
    if request.method == "POST":
        ids = [r.pk for r in rules]
        move = request.POST.get("move", "")
        if move:  # no-JavaScript path: apply one move and save it at once
            rule_id, _, direction = move.partition(":")
            if rule_id.isdigit() and int(rule_id) in ids and direction in ("up", "down"):
                i = ids.index(int(rule_id))
                j = i - 1 if direction == "up" else i + 1
                if 0 <= j < len(ids):
                    ids[i], ids[j] = ids[j], ids[i]
                    rules = services.identity_rules_reorder(store=store, actor=request.user, rule_ids=ids)
                    moved = f"{rules[j].name} moved to priority {j + 1}."
        else:
            try:
                services.identity_rules_reorder(store=store, actor=request.user, rule_ids=request.POST.getlist("order"))
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                return _done(request, store, "Saved the identity rule priority.")
    return render_sheet(
        request,
        "identity/_priority.html",
        {"rules": rules, "error": error, "moved": moved, "action": reverse("identity:priority", args=[store.pk])},
        title="Edit priority",
    )
