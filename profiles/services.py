"""Write paths for profiles: the one place trait values are written.

`profile_traits_set` is the only write path for trait values: the console's inline edit, the API
and CSV imports all go through `trait_values_coerce` + `trait_values_apply` (imports call the two
halves directly on batches of profiles), so every path types, validates and records the same way.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.services import audit_record
from memory_console.errors import FieldError
from stores.models import Store
from traits.coercion import DELETE, TraitValueError, coerce_trait_value
from traits.selectors import name_key, trait_schema

from .events import event_clean, events_clean
from .models import Event, Profile
from .selectors import holding_condition
from .stamps import trait_stamp, trait_stamp_set, trait_stamps_share


class Source:
    """Who wrote a value: stored as "<kind>:<id>" beside every trait value."""

    @staticmethod
    def user(user) -> str:
        return f"user:{user.email or user.pk}"

    @staticmethod
    def import_(import_id: int) -> str:
        return f"import:{import_id}"

    @staticmethod
    def api_key(name: str) -> str:
        return f"api:{name}"

    @staticmethod
    def conversation(conversation_id) -> str:
        return f"conversation:{conversation_id}"


def trait_values_coerce(*, schema, values: dict) -> tuple[dict, list[str]]:
    """Type raw ``{group: {trait: raw}}`` values against the store's traits.

    Names are read in NFC (`traits.selectors.name_key`), the form they are stored in, so
    ``"Jose\u0301"`` sets the group ``José``; typed values are keyed by the stored names. One trait
    given twice (its name in two Unicode forms) is refused rather than one value silently winning.
    Returns ``(typed, errors)``: typed holds every value that passed (``DELETE`` for removals);
    errors holds one message per unknown group/trait or bad value, naming it and the value.
    """
    typed: dict[str, dict] = {}
    errors: list[str] = []
    if not isinstance(values, dict):
        return typed, [FieldError("Traits must be an object of trait groups.", ("traits",))]
    seen: set[tuple[str, str]] = set()
    for given_group, group_values in values.items():
        group_name = name_key(given_group)
        group_schema = schema.get(group_name)
        if group_schema is None:
            errors.append(FieldError(f"Unknown trait group “{group_name}”.", ("traits", given_group)))
            continue
        if not isinstance(group_values, dict):
            errors.append(FieldError(f"{group_name}: expected an object of traits.", ("traits", given_group)))
            continue
        for given_trait, raw in group_values.items():
            loc = ("traits", given_group, given_trait)
            trait_name = name_key(given_trait)
            trait = group_schema.get(trait_name)
            if trait is None:
                errors.append(FieldError(f"Unknown trait “{group_name}.{trait_name}”.", loc))
                continue
            if (group_name, trait_name) in seen:
                errors.append(FieldError(f"{group_name}.{trait_name} is given twice (its name written two ways).", loc))
                continue
            seen.add((group_name, trait_name))
            try:
                typed.setdefault(group_name, {})[trait_name] = coerce_trait_value(
                    trait.data_type, raw, label=f"{group_name}.{trait_name}"
                )
            except TraitValueError as exc:
                errors.append(FieldError(str(exc), loc))
    return typed, errors


def trait_values_apply(
    *, traits: dict, sources: dict, typed: dict, source: str, at: datetime, stamp: list | None = None
) -> list[str]:
    """Apply typed values to a profile's ``traits``/``trait_sources`` dicts in place.

    Returns the changed trait paths; an unchanged value keeps its old source and time. Stamps are
    stored as `profiles.stamps` describes (the most common one once). `stamp`: ``[at.isoformat(),
    source]`` when the caller applies many rows with the same one (an import).
    """
    changed = []
    if stamp is None:
        stamp = [at.isoformat(), source]
    stamped = 0
    for group_name, group_values in typed.items():
        for trait_name, value in group_values.items():
            current = traits.get(group_name, {})
            if value is DELETE:
                if trait_name in current:
                    del current[trait_name]
                    sources.get(group_name, {}).pop(trait_name, None)
                    changed.append(f"{group_name}.{trait_name}")
                continue
            if trait_name in current and current[trait_name] == value and type(current[trait_name]) is type(value):
                continue
            traits.setdefault(group_name, {})[trait_name] = value
            trait_stamp_set(sources, group_name, trait_name, stamp)
            stamped += 1
            changed.append(f"{group_name}.{trait_name}")
    if changed:
        trait_stamps_share(traits, sources, stamp, stamped)
    return changed


def trait_values_fill(*, traits: dict, sources: dict, other_traits: dict, other_sources: dict) -> None:
    """A merge's trait rule: keep every value `traits` has, fill its gaps from `other_traits`
    (with their source and time). Both dicts are changed in place."""
    for group, values in other_traits.items():
        target = traits.setdefault(group, {})
        for name, value in values.items():
            if name not in target:
                target[name] = value
                trait_stamp_set(sources, group, name, trait_stamp(other_sources, group, name))


@transaction.atomic
def profile_traits_set(*, profile: Profile, values: dict, source: str, schema=None) -> list[str]:
    """Set trait values on one profile from raw values; all or nothing.

    Raises ValidationError listing every unknown trait and bad value. Returns changed paths.
    """
    schema = schema if schema is not None else trait_schema(store=profile.store)
    typed, errors = trait_values_coerce(schema=schema, values=values)
    if errors:
        raise ValidationError(errors)
    locked = Profile.objects.select_for_update().get(pk=profile.pk, store_id=profile.store_id)
    changed = trait_values_apply(
        traits=locked.traits, sources=locked.trait_sources, typed=typed, source=source, at=timezone.now()
    )
    if changed:
        locked.save(update_fields=["traits", "trait_sources", "updated_at"])
    profile.traits, profile.trait_sources, profile.updated_at = (
        locked.traits,
        locked.trait_sources,
        locked.updated_at,
    )
    return changed


@transaction.atomic
def profile_create(*, store: Store, source: str, traits: dict | None = None) -> Profile:
    profile = Profile.objects.create(store=store)
    if traits:
        profile_traits_set(profile=profile, values=traits, source=source)
    return profile


def event_record(*, profile: Profile, name: str, timestamp: datetime, properties: dict | None, source: str) -> Event:
    """Append an event; its fields pass `profiles.events.event_clean` (ValidationError otherwise)."""
    event = event_clean(name=name, timestamp=timestamp, properties=properties)
    return Event.objects.create(store_id=profile.store_id, profile=profile, source=source, **event)


EVENTS_MAX = 1000


@transaction.atomic
def profile_events_add(*, profile: Profile, events, actor, source: str) -> list[Event]:
    """Append up to `EVENTS_MAX` (1,000) events to one profile, in the order given; all or nothing.

    `events`: a list of ``{"name", "timestamp" (optional), "properties" (optional)}``, identify's
    event shape, each passing `profiles.events.event_clean` (the one rule every path records events
    by). `source`: stored on each event (`Source`); `actor`: who asked, for the Activity trail
    (``profile.events_add``, with the count and the distinct names, never the properties). Raises
    ValidationError of `FieldError`s: ``("events",)`` for no events or more than `EVENTS_MAX`,
    ``("events", position, field, ...)`` for each bad event (every problem listed). Returns the
    stored events.
    """
    if not isinstance(events, list | tuple) or not events:
        raise ValidationError([FieldError("Send at least one event.", ("events",))])
    if len(events) > EVENTS_MAX:
        raise ValidationError(
            [FieldError(f"At most {EVENTS_MAX:,} events per call; {len(events):,} were sent.", ("events",))]
        )
    cleaned, errors = events_clean(events)
    if errors:
        raise ValidationError(errors)
    stored = Event.objects.bulk_create(
        [Event(store_id=profile.store_id, profile=profile, source=source, **event) for event in cleaned]
    )
    names = sorted({event["name"] for event in cleaned})
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    audit_record(
        account=profile.store.account,
        actor=actor,
        action="profile.events_add",
        store_id=profile.store_id,
        summary=f"Added {len(stored):,} event{'s' if len(stored) != 1 else ''} ({shown}) to profile #{profile.pk}",
        details={"profile": profile.pk, "events": len(stored), "names": names[:50]},
    )
    return stored


def profile_traits_remove(*, store: Store, group: str, trait: str | None = None) -> int:
    """Remove a whole group's values, or one trait's, from every profile of the store.

    One UPDATE per call (no row-by-row loop), so deleting a trait from a million profiles is a
    single statement. Returns the number of profiles changed.
    """
    where, path, params = holding_condition(group=group, trait=trait)
    if connection.vendor == "postgresql":
        if trait is None:
            setter, set_params = "traits = traits - %s, trait_sources = trait_sources - %s", [group, group]
        else:
            setter = "traits = traits #- %s::text[], trait_sources = trait_sources #- %s::text[]"
            set_params = [[group, trait], [group, trait]]
    else:
        setter = "traits = json_remove(traits, %s), trait_sources = json_remove(trait_sources, %s)"
        set_params = [path, path]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE profiles_profile SET {setter}, updated_at = %s WHERE store_id = %s AND {where}",
            [*set_params, timezone.now(), store.pk, *params],
        )
        return cursor.rowcount


def profile_merge_effects(*, from_id: int, into_id: int, at) -> None:
    """A merge's effects on profiles (identity decides the merge, moves identifiers and records it):
    profile-owned rows (`profile_owned_models`) go to `into_id`, `from_id` becomes its tombstone,
    and tombstones that pointed at `from_id` point at `into_id` (one hop). Trait values are merged
    by the caller in memory (`trait_values_fill`), before."""
    for model in profile_owned_models():
        model.objects.filter(profile_id=from_id).update(profile_id=into_id)
    Profile.objects.filter(pk=from_id).update(merged_into_id=into_id, updated_at=at)
    Profile.objects.filter(merged_into_id=from_id).update(merged_into_id=into_id)


_OWNED_MODELS: list = [Event]


def profile_owned_register(model) -> None:
    """Make `model`'s rows (a `profile` foreign key) follow their profile into a merge. Called by
    the apps above profiles from their AppConfig.ready (conversations), which profiles cannot import."""
    if model not in _OWNED_MODELS:
        _OWNED_MODELS.append(model)


def profile_owned_models():
    """The models whose rows belong to one profile and follow it into a merge: events, and what the
    apps above registered (`profile_owned_register`: conversations)."""
    return list(_OWNED_MODELS)


def profiles_traits_save(*, profiles: list[Profile], at) -> None:
    """Save the trait values, their sources and `updated_at = at` of many profiles in one
    statement sent once per profile (psycopg pipelines them), each value adapted by its own field
    (exact numbers). Django's `bulk_update` builds a CASE expression per row and field, which cost
    five times the database's own work for batches of 500."""
    if not profiles:
        return
    fields = {name: Profile._meta.get_field(name) for name in ("traits", "trait_sources", "updated_at")}
    table = Profile._meta.db_table
    params = [
        [
            fields["traits"].get_db_prep_save(profile.traits, connection),
            fields["trait_sources"].get_db_prep_save(profile.trait_sources, connection),
            fields["updated_at"].get_db_prep_save(at, connection),
            profile.pk,
        ]
        for profile in profiles
    ]
    with connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {table} SET traits = %s, trait_sources = %s, updated_at = %s WHERE id = %s", params)
