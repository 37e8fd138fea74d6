"""Access control for console views.

Every console view is wrapped by `account_view` (account-level pages) or
`stores.access.store_view` (pages under /stores/<store_id>/). The wrapper:

- requires a signed-in user who is a member of an account (403 otherwise);
- for `write=True`, requires the Administrator role: Support gets 403 on GET
  and POST alike;
- tags the view with `access` ("read" or "write") so the test suite can prove
  that no URL escapes the tenant/role matrix.
"""

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

from .models import Membership

READ = "read"
WRITE = "write"


def membership_for(user) -> Membership | None:
    if not user.is_authenticated:
        return None
    try:
        return Membership.objects.select_related("account").get(user=user)
    except Membership.DoesNotExist:
        return None


def require_membership(request, *, write: bool) -> Membership:
    membership = getattr(request, "membership", None) or membership_for(request.user)
    if membership is None:
        raise PermissionDenied("Your user is not a member of any account.")
    if write and not membership.is_admin:
        raise PermissionDenied("Support members have read-only access. Ask an administrator.")
    request.membership = membership
    request.account = membership.account
    return membership


def mark(view, access: str):
    view.access = access
    return view


def account_view(write: bool = False):
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            require_membership(request, write=write)
            return view(request, *args, **kwargs)

        return mark(wrapped, WRITE if write else READ)

    return decorator
