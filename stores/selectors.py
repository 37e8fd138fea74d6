"""Read paths for memory stores. The Overview's counts and onboarding checklist read every app, so
they are in `workspace.selectors`."""

from .models import Store


def store_list(*, account_id: int):
    return Store.objects.filter(account_id=account_id).order_by("name", "id")
