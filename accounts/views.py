from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_http_methods

from stores.selectors import store_list

from . import services
from .access import account_view
from .forms import ApiKeyForm, MemberCreateForm, MemberRoleForm
from .forms_util import apply_validation_error
from .selectors import api_key_get, api_key_list, audit_events, member_get, member_list


def _member_or_404(request, membership_id):
    membership = member_get(account_id=request.account.pk, membership_id=membership_id)
    if membership is None:
        raise Http404("No such member in your account.")
    return membership


@account_view()
def members(request):
    page = Paginator(member_list(account_id=request.account.pk), 50).get_page(request.GET.get("page"))
    return render(request, "accounts/members.html", {"page": page, "role_form": MemberRoleForm()})


@account_view(write=True)
@require_http_methods(["GET", "POST"])
def member_create(request):
    form = MemberCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            membership = services.member_create(account=request.account, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Added {membership.user.email} as {membership.get_role_display()}.")
            return redirect("accounts:members")
    return render(request, "accounts/member_create.html", {"form": form})


@account_view(write=True)
def member_role(request, membership_id):
    membership = _member_or_404(request, membership_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = MemberRoleForm(request.POST)
    if form.is_valid():
        try:
            membership = services.member_change_role(
                membership=membership, actor=request.user, role=form.cleaned_data["role"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{membership.user.email} is now {membership.get_role_display()}.")
    else:
        messages.error(request, "Choose Administrator or Support.")
    return redirect("accounts:members")


@account_view(write=True)
@require_http_methods(["GET", "POST"])
def member_remove(request, membership_id):
    membership = _member_or_404(request, membership_id)
    if request.method == "POST":
        try:
            services.member_remove(membership=membership, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Removed {membership.user.email} from the account.")
        return redirect("accounts:members")
    return render(request, "accounts/member_remove.html", {"member": membership})


@account_view()
def activity(request):
    stores = {store.pk: store for store in store_list(account_id=request.account.pk)}
    store_id = request.GET.get("store")
    selected = None
    if store_id and store_id.isdigit() and int(store_id) in stores:
        selected = stores[int(store_id)]
    events = audit_events(account_id=request.account.pk, store_id=selected.pk if selected else None)
    page = Paginator(events, 50).get_page(request.GET.get("page"))
    for event in page:
        # Which store each event is about: its name, "Deleted memory store #N" once the store is gone
        # (the trail outlives it), "Account" for account-wide changes (members, API keys).
        if event.store_id is None:
            event.store_label, event.store_link = "Account", None
        elif event.store_id in stores:
            event.store_label, event.store_link = stores[event.store_id].name, stores[event.store_id]
        else:
            event.store_label, event.store_link = f"Deleted memory store #{event.store_id}", None
    return render(
        request,
        "accounts/activity.html",
        {"page": page, "store_choices": stores.values(), "selected": selected},
    )


# The session key under which a new key's secret waits for the page the creation redirects to.
NEW_API_KEY = "new_api_key"


@account_view()
def api_keys(request):
    """The API keys page. Right after a creation (POST-redirect-GET) it shows the new key's secret,
    taken out of the session: shown on this one response, never in a URL, never again."""
    keys = api_key_list(account_id=request.account.pk)
    new_key = raw = None
    waiting = request.session.pop(NEW_API_KEY, None)
    if isinstance(waiting, dict):
        new_key = api_key_get(account_id=request.account.pk, key_id=waiting.get("id"))
        raw = waiting.get("raw") if new_key is not None else None
    response = render(
        request, "accounts/api_keys.html", {"keys": keys, "form": ApiKeyForm(), "new_key": new_key, "raw_key": raw}
    )
    if raw:
        add_never_cache_headers(response)  # no copy of the secret in any cache, nor on Back
    return response


@account_view(write=True)
@require_http_methods(["POST"])
def api_key_create(request):
    form = ApiKeyForm(request.POST)
    if form.is_valid():
        try:
            new_key, raw = services.api_key_create(account=request.account, actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            # POST-redirect-GET: a reload does not post again; the secret goes through the session.
            request.session[NEW_API_KEY] = {"id": new_key.pk, "raw": raw}
            return redirect("accounts:api_keys")
    return render(
        request, "accounts/api_keys.html", {"keys": api_key_list(account_id=request.account.pk), "form": form}
    )


@account_view(write=True)
@require_http_methods(["GET", "POST"])
def api_key_revoke(request, key_id):
    key = api_key_get(account_id=request.account.pk, key_id=key_id)
    if key is None:
        raise Http404("No such API key in your account.")
    if request.method == "POST":
        services.api_key_revoke(key=key, actor=request.user)
        messages.success(request, f"Revoked API key {key.name}. Requests using it are refused from now on.")
        return redirect("accounts:api_keys")
    return render(request, "accounts/api_key_revoke.html", {"key": key})
