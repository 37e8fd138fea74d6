"""Identify one event: `profile_identify` turns an event's identifiers (plus optional traits and
events) into a profile, creating, matching and merging under the store's rules (docs/ARCHITECTURE.md)."""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from memory_console.errors import FieldError
from memory_console.text import strip_invisible
from profiles.events import event_clean
from profiles.models import Event, Profile
from profiles.services import (
    event_record,
    profile_set_traits,
    trait_values_apply,
    trait_values_coerce,
    trait_values_fill,
)
from stores.config import store_config
from stores.models import Store
from traits.coercion import DELETE
from traits.selectors import name_key, trait_schema

from ..models import Identifier, IdentityRule, MergeRecord, RuleSource
from ..normalization import IdentifierError, normalize_identifier

ATTEMPTS = 5

# --- resolution --------------------------------------------------------------------------------


@dataclass
class Note:
    kind: str
    value: str
    reason: str


@dataclass
class IdentifyResult:
    profile: Profile
    created: bool
    merged_profile_ids: list[int] = field(default_factory=list)
    added: list[tuple[str, str]] = field(default_factory=list)
    dropped: list[Note] = field(default_factory=list)
    ignored: list[Note] = field(default_factory=list)
    blocked_merges: list[dict] = field(default_factory=list)
    changed_traits: list[str] = field(default_factory=list)


@dataclass
class ResolutionInput:
    """Validated, normalised input: nothing is written until all of it is valid."""

    pairs: list[tuple[str, str]]
    ignored: list[Note]
    typed_traits: dict
    events: list[dict]


class _Retry(Exception):
    """The profiles changed between reading and locking them: resolve again."""


def identify_input_prepare(
    *, store: Store, rules: list[IdentityRule], identifiers, traits=None, events=None, schema=None
) -> ResolutionInput:
    """Normalise identifiers, type traits and check events; ValidationError lists every problem."""
    errors: list[str] = []
    by_kind = {rule.kind: rule for rule in rules}
    raw_pairs = list(identifiers or [])
    schema = schema if schema is not None else trait_schema(store=store)
    typed, trait_errors = trait_values_coerce(schema=schema, values=traits or {})
    errors += trait_errors
    # Mapped traits: whenever one is set, its value is also an identifier of the rule's kind.
    # A mapped value's error names the trait it came from (traits.Group.trait), not "identifiers".
    raw_pairs = [(kind, raw, None) for kind, raw in raw_pairs] + _mapped_pairs(rules, typed)
    pairs: list[tuple[str, str]] = []
    ignored: list[Note] = []
    for kind, raw, mapped_from in raw_pairs:
        if kind not in by_kind:
            ignored.append(Note(kind, str(raw), f"no identity rule for the kind “{kind}”"))
            continue
        try:
            value = normalize_identifier(kind, raw, region=store.default_region)
        except IdentifierError as exc:
            if mapped_from is None:
                errors.append(FieldError(str(exc), ("identifiers", kind)))
            else:
                group, trait = mapped_from
                errors.append(FieldError(f"{group}.{trait} as identifier {exc}", _given_loc(traits, group, trait)))
            continue
        if (kind, value) not in pairs:
            pairs.append((kind, value))
    checked_events = []
    for position, event in enumerate(events or []):
        try:
            checked_events.append(
                event_clean(
                    name=event.get("name"), timestamp=event.get("timestamp"), properties=event.get("properties")
                )
            )
        except ValidationError as exc:
            errors += [
                FieldError(f"events[{position}]: {error.message}", ("events", position, *error.message.loc))
                for error in exc.error_list
            ]
    if not pairs and not errors:
        errors.append(
            FieldError("At least one identifier of a kind with an identity rule is needed.", ("identifiers",))
        )
    if errors:
        raise ValidationError(errors)
    rank = {rule.kind: position for position, rule in enumerate(rules)}
    pairs.sort(key=lambda pair: rank[pair[0]])  # stable: input order within a kind
    return ResolutionInput(pairs=pairs, ignored=ignored, typed_traits=typed, events=checked_events)


def profile_identify(*, store: Store, identifiers, traits=None, events=None, source: str) -> IdentifyResult:
    """Resolve identifiers to one profile (create, match, merge), then apply traits and events.

    Concurrent calls with the same new identifiers never create two profiles: the unique
    constraint on (store, kind, value) fails the loser, which resolves again and matches.
    """
    config = store_config(store=store)
    rules = config.rules
    prepared = identify_input_prepare(
        store=store, rules=rules, identifiers=identifiers, traits=traits, events=events, schema=config.schema
    )
    return _identify_prepared(store, rules, prepared, source)


def _resolve(store: Store, rules: list[IdentityRule], prepared: ResolutionInput, source: str) -> IdentifyResult:
    limit = {rule.kind: rule.limit for rule in rules}
    rank = {rule.kind: position for position, rule in enumerate(rules)}
    pairs = prepared.pairs
    holders = _holders(store, pairs)

    if not holders:
        profile = Profile(store=store, traits={}, trait_sources={})
        changed = trait_values_apply(
            traits=profile.traits,
            sources=profile.trait_sources,
            typed=prepared.typed_traits,
            source=source,
            at=timezone.now(),
        )
        profile.save(force_insert=True)
        result = IdentifyResult(profile=profile, created=True, ignored=list(prepared.ignored), changed_traits=changed)
        _attach(store, profile, pairs, limit, {}, result)
        for event in prepared.events:
            event_record(profile=profile, source=source, **event)
        return result
    else:
        locked = _lock(store, set(holders.values()))
        if _holders(store, pairs) != holders or any(p.merged_into_id for p in locked.values()):
            raise _Retry  # another resolution moved these identifiers meanwhile
        best = min(rank[kind] for kind, _ in holders)
        candidates = {pid for (kind, _), pid in holders.items() if rank[kind] == best}
        primary = min((locked[pid] for pid in candidates), key=lambda p: (p.created_at, p.pk))
        result = IdentifyResult(profile=primary, created=False, ignored=list(prepared.ignored))
        counts = _counts(primary)
        others = sorted(
            {pid for pid in holders.values() if pid != primary.pk},
            key=lambda pid: (min(rank[k] for (k, _), h in holders.items() if h == pid), locked[pid].created_at, pid),
        )
        for pid in others:
            other = locked[pid]
            matching = [(k, v) for (k, v), h in holders.items() if h == pid]
            theirs = _counts(other)
            over = [k for k in limit if counts.get(k, 0) + theirs.get(k, 0) > limit[k]]
            if over:
                result.blocked_merges.append(
                    {
                        "profile_id": pid,
                        "identifiers": [f"{k}:{v}" for k, v in matching],
                        "reason": "merging would exceed the limit of "
                        + ", ".join(f"{limit[k]} {k}" for k in over)
                        + " identifiers",
                    }
                )
                continue
            profile_merge(store=store, profile=other, into=primary, matching=matching, source=source)
            for kind, n in theirs.items():
                counts[kind] = counts.get(kind, 0) + n
            result.merged_profile_ids.append(pid)
        unmatched = [pair for pair in pairs if pair not in holders]
        _attach(store, primary, unmatched, limit, counts, result)

    profile = result.profile  # locked above, so its traits are current
    result.changed_traits = trait_values_apply(
        traits=profile.traits,
        sources=profile.trait_sources,
        typed=prepared.typed_traits,
        source=source,
        at=timezone.now(),
    )
    if result.changed_traits or result.merged_profile_ids or result.added:
        profile.save(update_fields=["traits", "trait_sources", "updated_at"])
    for event in prepared.events:
        event_record(profile=profile, source=source, **event)
    return result


def _holders(store: Store, pairs) -> dict[tuple[str, str], int]:
    if not pairs:
        return {}
    condition = Q(pk__in=[])
    for kind, value in pairs:
        condition |= Q(kind=kind, value=value)
    rows = Identifier.objects.filter(condition, store=store).values_list("kind", "value", "profile_id")
    return {(kind, value): pid for kind, value, pid in rows}


def _lock(store: Store, profile_ids) -> dict[int, Profile]:
    """Lock the matched profiles in id order, so concurrent merges cannot deadlock."""
    rows = Profile.objects.select_for_update().filter(store=store, pk__in=sorted(profile_ids)).order_by("pk")
    return {p.pk: p for p in rows}


def _counts(profile: Profile) -> dict[str, int]:
    rows = Identifier.objects.filter(profile=profile).values("kind").annotate(n=Count("id"))
    return {row["kind"]: row["n"] for row in rows}


def _attach(store, profile, pairs, limit, counts, result) -> None:
    """Add identifiers to `profile` while under each kind's limit; report the rest as dropped."""
    new = []
    for kind, value in pairs:
        if counts.get(kind, 0) >= limit[kind]:
            result.dropped.append(
                Note(kind, value, f"the profile already holds the limit of {limit[kind]} {kind} identifiers")
            )
            continue
        counts[kind] = counts.get(kind, 0) + 1
        new.append(Identifier(store=store, profile=profile, kind=kind, value=value))
        result.added.append((kind, value))
    Identifier.objects.bulk_create(new)


def profile_merge(*, store: Store, profile: Profile, into: Profile, matching, source: str) -> MergeRecord:
    """Move everything of `profile` to `into` and leave `profile` as a tombstone pointing to it.

    Identifiers and events move; trait values keep `into`'s value where both have one and fill
    gaps from `profile`. Later capabilities add their profile-owned rows (observations, summaries,
    conversation participants) to `profile_owned_models`.
    """
    trait_values_fill(
        traits=into.traits, sources=into.trait_sources, other_traits=profile.traits, other_sources=profile.trait_sources
    )
    into.save(update_fields=["traits", "trait_sources", "updated_at"])
    profile_merge_rows(from_id=profile.pk, into_id=into.pk, at=timezone.now())
    profile.merged_into = into
    return MergeRecord.objects.create(
        store=store,
        from_profile=profile,
        into_profile=into,
        matching_identifiers=[f"{k}:{v}" for k, v in matching],
        source=source,
    )


@transaction.atomic
def profile_traits_set(*, profile: Profile, values: dict, source: str) -> tuple[list[str], IdentifyResult]:
    """Set trait values on one known profile (the console's inline edit) and honour mapped traits.

    A value of a trait mapped by an identity rule also becomes an identifier of this profile. The
    profile is the subject here, so nothing is merged: a value that already identifies another
    profile is reported in `dropped`, as is one over the rule's limit. An invalid identifier value
    (say a malformed phone number in a mapped trait) rejects the whole edit.
    """
    store = profile.store
    config = store_config(store=store)
    typed, errors = trait_values_coerce(schema=config.schema, values=values)
    if errors:
        raise ValidationError(errors)
    pairs: list[tuple[str, str]] = []
    for kind, raw, _ in _mapped_pairs(config.rules, typed):
        try:
            value = normalize_identifier(kind, raw, region=store.default_region)
        except IdentifierError as exc:
            raise ValidationError(str(exc)) from exc
        if (kind, value) not in pairs:
            pairs.append((kind, value))
    changed = profile_set_traits(profile=profile, values=values, source=source, schema=config.schema)
    result = IdentifyResult(profile=profile, created=False)
    holders = _holders(store, pairs)
    free = []
    for kind, value in pairs:
        holder = holders.get((kind, value))
        if holder is None:
            free.append((kind, value))
        elif holder != profile.pk:
            result.dropped.append(Note(kind, value, f"it already identifies profile {holder}"))
    limit = {rule.kind: rule.limit for rule in config.rules}
    _attach(store, profile, free, limit, _counts(profile), result)
    return changed, result


def _mapped_pairs(rules: list[IdentityRule], typed: dict) -> list[tuple[str, str, tuple[str, str]]]:
    """(kind, raw value, (group, trait)) for every mapped trait set in `typed` (coerced trait values
    by stored group and trait name).

    Blank is empty, as on every identifier path: a value (or array item) that is empty after
    `strip_invisible` (spaces, NBSP, zero-width characters) makes no identifier; the trait itself
    is still set as the trait rule says. Only text and whole numbers identify.
    """
    pairs = []
    for rule in rules:
        if rule.source != RuleSource.TRAITS:
            continue
        for trait in rule.mapped_traits.all():
            value = typed.get(trait.group.name, {}).get(trait.name)
            if value is None or value is DELETE:
                continue
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and not strip_invisible(item):
                    continue
                if isinstance(item, str | int) and not isinstance(item, bool):
                    pairs.append((rule.kind, str(item), (trait.group.name, trait.name)))
    return pairs


def _given_loc(values, group: str, trait: str) -> tuple:
    """("traits", group, trait) as the request spelled the names (which may not be NFC), so an error
    names a path that is in the request."""
    if isinstance(values, dict):
        for given_group, group_values in values.items():
            if name_key(given_group) == group and isinstance(group_values, dict):
                for given_trait in group_values:
                    if name_key(given_trait) == trait:
                        return ("traits", given_group, given_trait)
    return ("traits", group, trait)


def profile_merge_rows(*, from_id: int, into_id: int, at) -> None:
    """The row moves of a merge: identifiers and profile-owned rows go to `into_id`, `from_id`
    becomes its tombstone, and tombstones that pointed at `from_id` point at `into_id` (one hop).
    Traits are the caller's: `profile_merge` and CSV imports merge them in memory first."""
    Identifier.objects.filter(profile_id=from_id).update(profile_id=into_id)
    for model in profile_owned_models():
        model.objects.filter(profile_id=from_id).update(profile_id=into_id)
    Profile.objects.filter(pk=from_id).update(merged_into_id=into_id, updated_at=at)
    Profile.objects.filter(merged_into_id=from_id).update(merged_into_id=into_id)


def profile_owned_models():
    return [Event]


def profile_resolve(*, store: Store, profile_id: int) -> Profile | None:
    """The live profile for an id: a merged-away (tombstone) id resolves to its primary."""
    profile = Profile.objects.filter(store=store, pk=profile_id).first()
    seen = set()
    while profile is not None and profile.merged_into_id and profile.pk not in seen:
        seen.add(profile.pk)
        profile = profile.merged_into
    return profile


def _identify_prepared(store, rules, prepared: ResolutionInput, source: str) -> IdentifyResult:
    for attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                return _resolve(store, rules, prepared, source)
        except (IntegrityError, _Retry, OperationalError) as exc:
            if attempt == ATTEMPTS - 1 or (isinstance(exc, OperationalError) and not is_deadlock(exc)):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def is_deadlock(exc: BaseException) -> bool:
    """PostgreSQL chose this transaction as a deadlock victim (SQLSTATE 40P01): retrying is safe.

    Happens when another transaction holding profile locks (a CSV import holds each chunk's until it
    commits) asks for one this call holds; the savepoint is rolled back with its locks and redone.
    """
    return isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) == "40P01"
