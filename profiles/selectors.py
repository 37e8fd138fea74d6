"""Read paths for profiles: the profile detail (trait rows, events) and trait holding counts.

Profile search lives in `identity.search` (it reads identifiers); identifiers and merge history
of a profile in `identity.selectors`.
"""

from dataclasses import dataclass

from django.db import connection

from stores.models import Store
from traits.selectors import trait_groups_with_traits

from .models import Event, Profile
from .stamps import trait_stamp


def profile_resolve(*, store: Store, profile_id: int) -> Profile | None:
    """The live profile for an id: a merged-away (tombstone) id resolves to its primary."""
    profile = Profile.objects.filter(store=store, pk=profile_id).first()
    seen = set()
    while profile is not None and profile.merged_into_id and profile.pk not in seen:
        seen.add(profile.pk)
        profile = profile.merged_into
    return profile


def profile_get(*, store: Store, profile_id: int) -> Profile | None:
    return Profile.objects.filter(store=store, pk=profile_id).first()


@dataclass
class TraitRow:
    trait: object
    has_value: bool
    value: object
    changed_at: str | None
    source: str | None


def profile_trait_rows(*, profile: Profile) -> list[tuple[object, list[TraitRow]]]:
    """Traits by group, every declared trait with its value (or none) and last change."""
    return [
        (group, [_trait_row(profile, group.name, trait) for trait in group.traits.all()])
        for group in trait_groups_with_traits(store=profile.store)
    ]


def profile_trait_row(*, profile: Profile, trait) -> TraitRow:
    return _trait_row(profile, trait.group.name, trait)


def _trait_row(profile: Profile, group_name: str, trait) -> TraitRow:
    values = profile.traits.get(group_name, {})
    if trait.name not in values:
        return TraitRow(trait, False, None, None, None)  # no value, so no source either
    changed_at, source = trait_stamp(profile.trait_sources, group_name, trait.name) or [None, None]
    return TraitRow(trait, True, values[trait.name], changed_at, source)


def profile_events(*, profile: Profile, limit: int = 100):
    return list(Event.objects.filter(profile=profile).order_by("-timestamp", "-id")[:limit])


def holding_condition(*, group: str, trait: str | None = None) -> tuple[str, str, list]:
    """SQL for "the profile holds a value in this group (or trait)": (where, json path or "", params).

    PostgreSQL tests the jsonb keys; SQLite asks json_type() for the path. Names cannot contain
    a double quote (see traits.charset), so quoting them in a JSON path is safe.
    """
    if connection.vendor == "postgresql":
        if trait is None:
            return "traits ? %s", "", [group]
        return "(traits -> %s) ? %s", "", [group, trait]
    path = f'$."{group}"' if trait is None else f'$."{group}"."{trait}"'
    return "json_type(traits, %s) IS NOT NULL", path, [path]


def profiles_holding_count(*, store: Store, group: str, trait: str | None = None) -> int:
    """How many profiles hold a value in a group (or one trait): shown before deletes."""
    where, _, params = holding_condition(group=group, trait=trait)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM profiles_profile WHERE store_id = %s AND {where}", [store.pk, *params])
        return cursor.fetchone()[0]
