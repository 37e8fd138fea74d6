from django.db.models import Count

from stores.models import Store

from .models import Identifier, IdentityRule, MergeRecord


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


def identifier_counts(*, profile_ids: list[int]):
    """(profile id, kind, number of identifiers) for each kind each of the profiles holds."""
    return (
        Identifier.objects.filter(profile_id__in=profile_ids)
        .values("profile_id", "kind")
        .annotate(n=Count("id"))
        .values_list("profile_id", "kind", "n")
    )


def identifier_ages(*, profile_ids: list[int], kinds):
    """(profile id, kind, value, age) of the profiles' identifiers of `kinds`, oldest first; `age`
    is (created_at, id), comparable across profiles."""
    rows = (
        Identifier.objects.filter(profile_id__in=profile_ids, kind__in=list(kinds))
        .order_by("created_at", "id")
        .values_list("profile_id", "kind", "value", "created_at", "id")
    )
    return [(pid, kind, value, (created_at, pk)) for pid, kind, value, created_at, pk in rows]


def profile_merges(*, profile, limit: int = 50):
    """Merges into this profile, newest first (the profile's history)."""
    return list(MergeRecord.objects.filter(into_profile=profile).order_by("-created_at", "-id")[:limit])


def profile_merges_page(*, profile, after: int | None = None, limit: int = 50) -> tuple[list[MergeRecord], int | None]:
    """One page of the merges into this profile, newest first, as the profile page lists them
    (`profile_merges`), by keyset on the merge record's id: ``(records, next)``, `next` the id to
    pass as `after` for the following page (None on the last). Merges into profiles that were
    themselves merged into this one later stay on those profiles' histories, as on the page."""
    records = MergeRecord.objects.filter(into_profile=profile)
    if after is not None:
        records = records.filter(pk__lt=after)
    rows = list(records.order_by("-id")[: limit + 1])
    return rows[:limit], rows[limit - 1].pk if len(rows) > limit else None


def profile_identifiers(*, profile):
    return list(Identifier.objects.filter(profile=profile).order_by("kind", "id"))
