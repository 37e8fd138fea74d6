from stores.models import Store

from .models import Identifier, IdentityRule


def identity_rules(*, store: Store):
    return IdentityRule.objects.filter(store=store).order_by("priority", "id").prefetch_related("mapped_traits__group")


def identity_rule_get(*, store: Store, rule_id: int) -> IdentityRule | None:
    return IdentityRule.objects.filter(store=store, pk=rule_id).first()


def identifier_holders(*, store: Store, pairs) -> dict[tuple[str, str], int]:
    """{(kind, value): profile id} for the pairs some profile of the store holds (batched by kind)."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in pairs:
        by_kind.setdefault(kind, []).append(value)
    holders = {}
    for kind, values in by_kind.items():
        for start in range(0, len(values), 2000):
            rows = Identifier.objects.filter(store=store, kind=kind, value__in=values[start : start + 2000])
            for value, pid in rows.values_list("value", "profile_id"):
                holders[(kind, value)] = pid
    return holders
