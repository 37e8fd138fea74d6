"""Identity rules and the identity-resolution algorithm (docs/ARCHITECTURE.md explains it).

`profile_identify` is the one entry point that turns an event's identifiers (plus optional traits
and events) into a profile: it creates, matches and merges profiles under the store's rules.
"""

import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.services import audit_record
from memory_console.errors import FieldError
from memory_console.text import strip_invisible, text_nfc
from profiles.events import event_clean
from profiles.models import Event, Profile
from profiles.services import (
    event_record,
    profile_set_traits,
    trait_values_apply,
    trait_values_coerce,
    trait_values_fill,
)
from stores.config import store_config, store_config_bump
from stores.models import Store
from traits.charset import name_problem
from traits.coercion import DELETE
from traits.selectors import name_key, trait_schema

from .defaults import CUSTOM_RULE_LIMIT, DEFAULT_RULES
from .models import Identifier, IdentityRule, MergeRecord, RuleSource
from .normalization import IdentifierError, normalize_identifier
from .selectors import identifier_holders

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ATTEMPTS = 5


# --- rules -------------------------------------------------------------------------------------


def identity_rules_defaults_create(*, store: Store) -> None:
    IdentityRule.objects.bulk_create(
        IdentityRule(store=store, name=name, kind=kind, limit=limit, priority=position, is_default=True)
        for position, (name, kind, limit) in enumerate(DEFAULT_RULES, start=1)
    )


RULE_NAME_MAX = IdentityRule._meta.get_field("name").max_length


def _clean_rule_fields(*, store: Store, name: str, limit, mapped_traits, source: str, exclude_pk=None):
    """(name in NFC, limit, traits), or ValidationError naming the field."""
    name = text_nfc(name or "")
    problem = name_problem(name)
    if problem:
        raise ValidationError({"name": f"The rule name {problem}."})
    if len(name) > RULE_NAME_MAX:
        raise ValidationError({"name": f"The rule name can have at most {RULE_NAME_MAX} characters."})
    if IdentityRule.objects.filter(store=store, name__iexact=name).exclude(pk=exclude_pk).exists():
        raise ValidationError({"name": f"An identity rule named “{name}” already exists in this memory store."})
    try:
        limit = int(limit)
    except (TypeError, ValueError):
        raise ValidationError({"limit": "The limit must be a whole number from 1 to 100."}) from None
    if not 1 <= limit <= 100:
        raise ValidationError({"limit": "The limit must be a whole number from 1 to 100."})
    traits = list(mapped_traits or [])
    if any(t.store_id != store.pk for t in traits):
        raise ValidationError({"mapped_traits": "Mapped traits must belong to this memory store."})
    if source == RuleSource.TRAITS and not traits:
        raise ValidationError({"mapped_traits": "Pick at least one trait to map, or choose “API identifier”."})
    return name, limit, traits


@transaction.atomic
def identity_rule_create(
    *,
    store: Store,
    actor,
    name: str,
    kind: str,
    limit=CUSTOM_RULE_LIMIT,
    source: str = RuleSource.API,
    mapped_traits=(),
) -> IdentityRule:
    """A custom rule; it goes in at the lowest priority."""
    kind = (kind or "").strip()
    if not KIND_PATTERN.match(kind):
        raise ValidationError(
            {"kind": "The identifier kind must start with a lower-case letter and use only a-z, 0-9 and _ (max 64)."}
        )
    if IdentityRule.objects.filter(store=store, kind=kind).exists():
        raise ValidationError({"kind": f"This memory store already has a rule for the identifier kind “{kind}”."})
    if source not in RuleSource.values:
        raise ValidationError({"source": "Choose “API identifier” or “Mapped traits”."})
    name, limit, traits = _clean_rule_fields(
        store=store, name=name, limit=limit, mapped_traits=mapped_traits, source=source
    )
    last = IdentityRule.objects.filter(store=store).order_by("-priority").values_list("priority", flat=True).first()
    rule = IdentityRule.objects.create(
        store=store, name=name, kind=kind, limit=limit, priority=(last or 0) + 1, source=source
    )
    rule.mapped_traits.set(traits if source == RuleSource.TRAITS else [])
    store_config_bump(store_id=store.pk)
    audit_record(
        account=store.account,
        actor=actor,
        action="identity_rule.create",
        store_id=store.pk,
        summary=f"Added identity rule {name} ({kind}, limit {limit})",
    )
    return rule


@transaction.atomic
def identity_rule_update(*, rule: IdentityRule, actor, name: str, limit, mapped_traits=()) -> IdentityRule:
    store = rule.store
    name, limit, traits = _clean_rule_fields(
        store=store, name=name, limit=limit, mapped_traits=mapped_traits, source=rule.source, exclude_pk=rule.pk
    )
    rule.name, rule.limit = name, limit
    rule.save(update_fields=["name", "limit"])
    if rule.source == RuleSource.TRAITS:
        rule.mapped_traits.set(traits)
    store_config_bump(store_id=store.pk)
    audit_record(
        account=store.account,
        actor=actor,
        action="identity_rule.update",
        store_id=store.pk,
        summary=f"Edited identity rule {name} (limit {limit})",
    )
    return rule


@transaction.atomic
def identity_rules_reorder(*, store: Store, actor, rule_ids: list[int]) -> list[IdentityRule]:
    """Set the priority order of all the store's rules at once (first = highest priority)."""
    rules = {r.pk: r for r in IdentityRule.objects.select_for_update().filter(store=store)}
    try:
        ids = [int(i) for i in rule_ids]
    except (TypeError, ValueError):
        raise ValidationError("The new order must list rule ids.") from None
    if sorted(ids) != sorted(rules) or len(set(ids)) != len(ids):
        raise ValidationError("The new order must list every identity rule of this memory store exactly once.")
    for position, pk in enumerate(ids, start=1):
        rules[pk].priority = position
    IdentityRule.objects.bulk_update(rules.values(), ["priority"])
    store_config_bump(store_id=store.pk)
    audit_record(
        account=store.account,
        actor=actor,
        action="identity_rule.reorder",
        store_id=store.pk,
        summary="Changed identity rule priority: " + ", ".join(rules[pk].name for pk in ids),
    )
    return [rules[pk] for pk in ids]


@transaction.atomic
def identity_rule_delete(*, rule: IdentityRule, actor) -> None:
    """Stop using the rule's identifiers to match and merge. Past merges and stored identifiers stay."""
    store, name = rule.store, rule.name
    rule.delete()
    remaining = list(IdentityRule.objects.filter(store=store).order_by("priority", "id"))
    for position, other in enumerate(remaining, start=1):
        other.priority = position
    IdentityRule.objects.bulk_update(remaining, ["priority"])
    store_config_bump(store_id=store.pk)
    audit_record(
        account=store.account,
        actor=actor,
        action="identity_rule.delete",
        store_id=store.pk,
        summary=f"Deleted identity rule {name}",
    )


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


# --- batches -----------------------------------------------------------------------------------


def profiles_identify_batch(*, store: Store, items: list[dict], source: str) -> list:
    """Identify many events in one transaction; per item an IdentifyResult or a ValidationError.

    Same outcome as calling `profile_identify` for each item in order, faster: an item whose
    identifiers no other item of the batch shares, and that matches no profile or exactly one, is
    written with bulk statements; everything else (merges, identifiers shared inside the batch)
    goes through the one-at-a-time algorithm, in order. Invalid items fail alone.
    """
    config = store_config(store=store)
    rules = config.rules
    limit = {rule.kind: rule.limit for rule in rules}
    results: list = [None] * len(items)
    prepared: dict[int, ResolutionInput] = {}
    for position, item in enumerate(items):
        try:
            prepared[position] = identify_input_prepare(
                store=store,
                rules=rules,
                identifiers=item.get("identifiers"),
                traits=item.get("traits"),
                events=item.get("events"),
                schema=config.schema,
            )
        except ValidationError as exc:
            results[position] = exc
    if not prepared:
        return results
    try:
        with transaction.atomic():
            _identify_batch(store, rules, limit, prepared, results, source)
    except IntegrityError:
        # Another writer took one of the new identifiers meanwhile: redo the batch one by one.
        for position, ready in prepared.items():
            results[position] = _identify_prepared(store, rules, ready, source)
    return results


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


def _identify_batch(store, rules, limit, prepared, results, source) -> None:
    uses: dict[tuple[str, str], int] = {}
    for ready in prepared.values():
        for pair in ready.pairs:
            uses[pair] = uses.get(pair, 0) + 1
    holders = identifier_holders(store=store, pairs=list(uses))
    new, matched, sequential = [], {}, []
    for position, ready in prepared.items():
        if any(uses[pair] > 1 for pair in ready.pairs):
            sequential.append(position)
            continue
        owners = {holders[pair] for pair in ready.pairs if pair in holders}
        if not owners:
            new.append(position)
        elif len(owners) == 1:
            matched.setdefault(owners.pop(), []).append(position)
        else:
            sequential.append(position)
    # A profile that a merge (or a shared identifier) touches is handled in order with it.
    seq_owners = {holders[pair] for p in sequential for pair in prepared[p].pairs if pair in holders}
    # Profiles are created in item order, as identifying each item in turn would (the oldest
    # profile wins a later tie): a new item after the first one handled in turn goes in turn too,
    # since the bulk-created ones are all older than any profile created in turn.
    if sequential:
        first = min(sequential)
        sequential += [position for position in new if position > first]
        new = [position for position in new if position < first]
    for pid in [pid for pid in matched if pid in seq_owners]:
        sequential += matched.pop(pid)
    now = timezone.now()
    _batch_new(store, limit, [(p, prepared[p]) for p in new], results, source, now)
    _batch_matched(store, limit, matched, prepared, holders, results, source, now, sequential)
    for position in sorted(sequential):
        results[position] = _identify_prepared(store, rules, prepared[position], source)


def _batch_new(store, limit, entries, results, source, now) -> None:
    if not entries:
        return
    profiles = []
    for position, ready in entries:
        profile = Profile(store=store, traits={}, trait_sources={}, created_at=now, updated_at=now)
        changed = trait_values_apply(
            traits=profile.traits, sources=profile.trait_sources, typed=ready.typed_traits, source=source, at=now
        )
        profiles.append(profile)
        results[position] = IdentifyResult(
            profile=profile, created=True, ignored=list(ready.ignored), changed_traits=changed
        )
    Profile.objects.bulk_create(profiles)
    identifiers, events = [], []
    for (position, ready), profile in zip(entries, profiles, strict=True):
        result = results[position]
        counts: dict[str, int] = {}
        for kind, value in ready.pairs:
            if counts.get(kind, 0) >= limit[kind]:
                result.dropped.append(
                    Note(kind, value, f"the profile already holds the limit of {limit[kind]} {kind} identifiers")
                )
                continue
            counts[kind] = counts.get(kind, 0) + 1
            identifiers.append(Identifier(store=store, profile=profile, kind=kind, value=value, created_at=now))
            result.added.append((kind, value))
        events += [Event(store=store, profile=profile, source=source, **event) for event in ready.events]
    Identifier.objects.bulk_create(identifiers)
    Event.objects.bulk_create(events)


def _batch_matched(store, limit, matched, prepared, holders, results, source, now, sequential) -> None:
    if not matched:
        return
    locked = _lock(store, matched)
    # Anything that moved between the lookup and the lock is resolved one by one instead.
    current = identifier_holders(
        store=store, pairs=[pair for ps in matched.values() for p in ps for pair in prepared[p].pairs]
    )
    counts: dict[int, dict[str, int]] = {pid: {} for pid in locked}
    for pid, kind, n in (
        Identifier.objects.filter(profile_id__in=list(locked))
        .values("profile_id", "kind")
        .annotate(n=Count("id"))
        .values_list("profile_id", "kind", "n")
    ):
        counts[pid][kind] = n
    changed_profiles, identifiers, events = {}, [], []
    for pid, positions in matched.items():
        profile = locked.get(pid)
        for position in positions:
            ready = prepared[position]
            if (
                profile is None
                or profile.merged_into_id
                or any(current.get(pair) != holders.get(pair) for pair in ready.pairs)
            ):
                sequential.append(position)
                continue
            result = IdentifyResult(profile=profile, created=False, ignored=list(ready.ignored))
            for kind, value in ready.pairs:
                if (kind, value) in holders:
                    continue
                if counts[pid].get(kind, 0) >= limit[kind]:
                    result.dropped.append(
                        Note(kind, value, f"the profile already holds the limit of {limit[kind]} {kind} identifiers")
                    )
                    continue
                counts[pid][kind] = counts[pid].get(kind, 0) + 1
                identifiers.append(Identifier(store=store, profile=profile, kind=kind, value=value, created_at=now))
                result.added.append((kind, value))
            result.changed_traits = trait_values_apply(
                traits=profile.traits, sources=profile.trait_sources, typed=ready.typed_traits, source=source, at=now
            )
            if result.changed_traits or result.added:
                profile.updated_at = now
                changed_profiles[pid] = profile
            events += [Event(store=store, profile=profile, source=source, **event) for event in ready.events]
            results[position] = result
    Profile.objects.bulk_update(list(changed_profiles.values()), ["traits", "trait_sources", "updated_at"])
    Identifier.objects.bulk_create(identifiers)
    Event.objects.bulk_create(events)
