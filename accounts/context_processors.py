import contextlib

from django.urls import NoReverseMatch, reverse

from stores.selectors import store_list


def console(request):
    """Top bar and navigation: the account, its stores and the current store.

    The current store is the page's own (`request.store`, set by `store_view`); on the account's
    pages (Members, Activity, API keys), which belong to no store, it is the store last visited
    (the session's ``last_store_id``, when that store is still the account's), so the header and
    the sidebar keep it instead of forgetting it."""
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    current = getattr(request, "store", None)
    stores = list(store_list(account_id=membership.account_id))
    if current is None and hasattr(request, "session"):
        last = request.session.get("last_store_id")
        current = next((store for store in stores if store.pk == last), None)
    match = getattr(request, "resolver_match", None)
    switch_targets = []
    for store in stores:
        url = reverse("stores:overview", args=[store.pk])
        # Stay on the same section when switching (Settings -> Settings).
        if getattr(request, "store", None) is not None and match is not None and set(match.kwargs) == {"store_id"}:
            with contextlib.suppress(NoReverseMatch):
                url = reverse(match.view_name, kwargs={"store_id": store.pk})
        switch_targets.append((store, url))
    return {
        "membership": membership,
        "account": membership.account,
        "is_admin": membership.is_admin,
        "current_store": current,
        "store_switch": switch_targets,
    }
