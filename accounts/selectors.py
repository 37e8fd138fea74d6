from .models import ApiKey, AuditEvent, Membership


def member_list(*, account_id: int):
    return Membership.objects.filter(account_id=account_id).select_related("user").order_by("user__email")


def member_get(*, account_id: int, membership_id: int) -> Membership | None:
    return Membership.objects.select_related("user", "account").filter(account_id=account_id, pk=membership_id).first()


def audit_events(*, account_id: int, store_id: int | None = None):
    events = AuditEvent.objects.filter(account_id=account_id).select_related("api_key")
    if store_id is not None:
        events = events.filter(store_id=store_id)
    return events.order_by("-created_at", "-id")


def api_key_list(*, account_id: int):
    return ApiKey.objects.filter(account_id=account_id).select_related("created_by").order_by("-created_at")


def api_key_get(*, account_id: int, key_id: int) -> ApiKey | None:
    return ApiKey.objects.filter(account_id=account_id, pk=key_id).first()
