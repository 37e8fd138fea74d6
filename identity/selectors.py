from stores.models import Store

from .models import IdentityRule


def identity_rules(*, store: Store):
    return IdentityRule.objects.filter(store=store).order_by("priority", "id").prefetch_related("mapped_traits__group")


def identity_rule_get(*, store: Store, rule_id: int) -> IdentityRule | None:
    return IdentityRule.objects.filter(store=store, pk=rule_id).first()
