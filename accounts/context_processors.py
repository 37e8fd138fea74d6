import contextlib

from django.urls import NoReverseMatch, reverse

from stores.selectors import store_list


def console(request):
    """Top bar and navigation: the account, its stores and the current store."""
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    current = getattr(request, "store", None)
    match = getattr(request, "resolver_match", None)
    switch_targets = []
    for store in store_list(account_id=membership.account_id):
        url = reverse("stores:overview", args=[store.pk])
        # Stay on the same section when switching (Settings -> Settings).
        if current is not None and match is not None and set(match.kwargs) == {"store_id"}:
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
