from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import Http404

from accounts.access import READ, WRITE, mark, require_membership

from .models import Store


def store_view(write: bool = False):
    """Resolve `store_id` to a store of the user's account (404 for any other)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, store_id, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            # Tenant wall first: another account's store is 404 whatever the role.
            membership = require_membership(request, write=False)
            try:
                store = Store.objects.get(pk=store_id, account_id=membership.account_id)
            except Store.DoesNotExist:
                raise Http404("No such memory store in your account.") from None
            request.store = store
            require_membership(request, write=write)
            # The store last visited: home opens it, and the account's pages keep it in the header.
            if request.session.get("last_store_id") != store.pk:  # a session saved on every visit is a write
                request.session["last_store_id"] = store.pk
            return view(request, store, *args, **kwargs)

        return mark(wrapped, WRITE if write else READ)

    return decorator
