"""Identify one event: `profile_identify` turns an event's identifiers (plus optional traits and
events) into a profile, creating, matching and merging under the store's rules (docs/ARCHITECTURE.md)."""

import contextlib
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.services import audit_record
from memory_console import rawsql
from memory_console.errors import FieldError
from memory_console.text import text_visible
from profiles.events import events_clean
from profiles.models import Profile
from profiles.services import (
    event_record,
    profile_merge_effects,
    profile_traits_set,
    trait_values_apply,
    trait_values_coerce,
    trait_values_fill,
)
from stores.models import Store
from traits.selectors import name_key, trait_schema

from ..config import store_config
from ..models import Identifier, MergeRecord
from ..normalization import IdentifierError
from ..resolution import Code, Facts, Note, Plan, RuleSet, new_age, stored_age
from ..resolution import plan as resolution_plan
from ..selectors import identifier_ages, identifier_counts

ATTEMPTS = 5

# --- resolution --------------------------------------------------------------------------------

DROPPED = (Code.LIMIT_REACHED, Code.LIMIT_REPLACED, Code.LOWER_PRIORITY_DROPPED, Code.HELD_ELSEWHERE)
IGNORED = (Code.NO_RULE, Code.BLOCKED_VALUE)


@dataclass
class IdentifyResult:
    """One event's outcome. `notes`: `identity.resolution.Note`s (each with a `Code`), in the order
    they arose; `dropped`, `ignored` and `blocked_merges` are views of them by code."""

    profile: Profile
    created: bool
    merged_profile_ids: list[int] = field(default_factory=list)
    added: list[tuple[str, str]] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    changed_traits: list[str] = field(default_factory=list)

    @property
    def dropped(self) -> list[Note]:
        """Identifiers not added (limits, held by another profile) or removed to make room."""
        return [note for note in self.notes if note.code in DROPPED]

    @property
    def ignored(self) -> list[Note]:
        """Identifiers that identify no one here: no rule for the kind, or a blocked value."""
        return [note for note in self.notes if note.code in IGNORED]

    @property
    def blocked_merges(self) -> list[Note]:
        return [note for note in self.notes if note.code is Code.MERGE_BLOCKED]


@dataclass
class ResolutionInput:
    """Validated, normalised input: nothing is written until all of it is valid. `pairs` in
    priority order; `notes`: identifiers ignored while preparing (NO_RULE, BLOCKED_VALUE)."""

    pairs: list[tuple[str, str]]
    notes: list[Note]
    typed_traits: dict
    events: list[dict]


class _Retry(Exception):
    """The profiles changed between reading and locking them: resolve again."""


def identify_input_prepare(*, store: Store, ruleset: RuleSet, identifiers, traits=None, events=None, schema=None):
    """Normalise identifiers, type traits and check events: a `ResolutionInput`, or ValidationError
    listing every problem (each a `FieldError` naming where in the request it is)."""
    errors: list = []
    schema = schema if schema is not None else trait_schema(store=store)
    typed, trait_errors = trait_values_coerce(schema=schema, values=traits or {})
    errors += trait_errors
    # Mapped traits: whenever one is set, its value is also an identifier of the rule's kind.
    # A mapped value's error names the trait it came from (traits.Group.trait), not "identifiers".
    raw_pairs = [(kind, raw, None) for kind, raw in identifiers or []] + ruleset.mapped_identifiers(typed)

    def problem(kind, mapped_from, exc):
        if mapped_from is None:
            errors.append(FieldError(str(exc), ("identifiers", kind)))
        else:
            group, trait = mapped_from
            errors.append(FieldError(f"{group}.{trait} as identifier {exc}", _given_loc(traits, group, trait)))

    pairs, notes = identifiers_prepare(ruleset=ruleset, raw_pairs=raw_pairs, on_error=problem)
    checked_events, event_errors = events_clean(events)
    errors += event_errors
    if not pairs and not errors:
        blocked = [note for note in notes if note.code is Code.BLOCKED_VALUE]
        errors += [
            FieldError(
                f"{note.kind} “{text_visible(note.value)}” {note.message()}: no identifier identifies anyone.",
                ("identifiers", note.kind),
            )
            for note in blocked
        ] or [FieldError("At least one identifier of a kind with an identity rule is needed.", ("identifiers",))]
    if errors:
        raise ValidationError(errors)
    return ResolutionInput(pairs=pairs, notes=notes, typed_traits=typed, events=checked_events)


def identifiers_prepare(*, ruleset: RuleSet, raw_pairs, on_error) -> tuple[list[tuple[str, str]], list[Note]]:
    """(pairs in priority order without repeats, notes of ignored identifiers) from
    `(kind, raw value, (group, trait) or None)`; `on_error(kind, mapped_from, IdentifierError)` is
    called for each invalid value."""
    pairs: list[tuple[str, str]] = []
    notes: list[Note] = []
    for kind, raw, mapped_from in raw_pairs:
        try:
            got = ruleset.identifier(kind, raw)
        except IdentifierError as exc:
            on_error(kind, mapped_from, exc)
            continue
        if isinstance(got, Note):
            notes.append(got)
        elif got not in pairs:
            pairs.append(got)
    ruleset.sort(pairs)
    return pairs, notes


def profile_identify(*, store: Store, identifiers, traits=None, events=None, source: str) -> IdentifyResult:
    """Resolve identifiers to one profile (create, match, merge), then apply traits and events.

    Concurrent calls with the same new identifiers never create two profiles: the unique
    constraint on (store, kind, value) fails the loser, which resolves again and matches.
    """
    config = store_config(store=store)
    ruleset = config.ruleset(store.default_region)
    prepared = identify_input_prepare(
        store=store, ruleset=ruleset, identifiers=identifiers, traits=traits, events=events, schema=config.schema
    )
    return _identify_prepared(store, ruleset, prepared, source)


def _resolve(
    store: Store, ruleset: RuleSet, prepared: ResolutionInput, source: str, *, unheld: bool = False
) -> IdentifyResult:
    """Read what the planner needs (holders, then the matched profiles locked), plan, write.
    `unheld`: the caller has just read that no profile holds any of the identifiers (a new
    customer's one identifier): the holders are not read again. Should one be attached meanwhile,
    the unique constraint fails this insert and the caller resolves again, reading them."""
    pairs = prepared.pairs
    holders = {} if unheld else _holders(store, pairs)
    locked: dict[int, Profile] = {}
    if holders:
        locked = _lock(store, set(holders.values()))
        if _holders(store, pairs) != holders or any(p.merged_into_id for p in locked.values()):
            raise _Retry  # another resolution moved these identifiers meanwhile
    now = timezone.now()
    plan = resolution_plan(ruleset, pairs, holders, profile_facts(ruleset, locked), age=new_age(now))
    if plan.primary is None:
        profile, created = Profile(store=store, traits={}, trait_sources={}), True
    else:
        profile, created = locked[plan.primary], False
    result = IdentifyResult(profile=profile, created=created, notes=[*prepared.notes, *plan.notes])
    for pid, matching in plan.merges:
        merge_create(store=store, profile=locked[pid], into=profile, matching=matching, source=source)
        result.merged_profile_ids.append(pid)
    result.changed_traits = trait_values_apply(
        traits=profile.traits, sources=profile.trait_sources, typed=prepared.typed_traits, source=source, at=now
    )
    if created:
        rawsql.insert(profile)  # as save(force_insert=True), without compiling a query (a new customer's hot path)
    elif result.changed_traits or plan.merges or plan.attach or plan.detach:
        profile.save(update_fields=["traits", "trait_sources", "updated_at"])
    result.added = plan_identifiers_write(store=store, profile=profile, plan=plan, at=None)
    for event in prepared.events:
        event_record(profile=profile, source=source, **event)
    return result


def profile_facts(ruleset: RuleSet, profiles: dict[int, Profile]) -> dict[int, Facts]:
    """What the planner needs of each (locked) profile: age order, identifier counts per kind and,
    for FIFO kinds, the values oldest first. Two queries whatever the number of profiles."""
    facts = {pid: Facts((p.created_at, pid), {}) for pid, p in profiles.items()}
    if not facts:
        return facts
    for pid, kind, n in identifier_counts(profile_ids=list(facts)):
        facts[pid].counts[kind] = n
    if ruleset.fifo:
        for pid, kind, value, (created_at, pk) in identifier_ages(profile_ids=list(facts), kinds=ruleset.fifo):
            facts[pid].values.setdefault(kind, []).append((stored_age(created_at, pk), value))
    return facts


def plan_identifiers_write(*, store: Store, profile: Profile, plan: Plan, at) -> list[tuple[str, str]]:
    """Write a plan's identifier changes on `profile` (its primary, saved): detach, then attach.
    Returns the attached pairs. `at`: their creation time (None: now)."""
    for (kind, value), _ in plan.detach:
        Identifier.objects.filter(store=store, profile=profile, kind=kind, value=value).delete()
    extra = {} if at is None else {"created_at": at}
    rows = [Identifier(store=store, profile=profile, kind=kind, value=value, **extra) for kind, value in plan.attach]
    if len(rows) == 1:
        rawsql.insert(rows[0])  # a new customer's one identifier: no bulk query to compile
    else:
        Identifier.objects.bulk_create(rows)
    return list(plan.attach)


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


def merge_create(*, store: Store, profile: Profile, into: Profile, matching, source: str) -> MergeRecord:
    """Merge `profile` into `into`: its identifiers move (identity's part), its trait values fill
    `into`'s gaps and its profile-owned rows move (`profiles.services.profile_merge_effects`), it stays
    as a tombstone pointing to `into`, and a MergeRecord names the matching identifiers."""
    trait_values_fill(
        traits=into.traits, sources=into.trait_sources, other_traits=profile.traits, other_sources=profile.trait_sources
    )
    into.save(update_fields=["traits", "trait_sources", "updated_at"])
    merge_rows_move(from_id=profile.pk, into_id=into.pk, at=timezone.now())
    profile.merged_into = into
    return MergeRecord.objects.create(
        store=store,
        from_profile=profile,
        into_profile=into,
        matching_identifiers=[f"{k}:{v}" for k, v in matching],
        source=source,
    )


@transaction.atomic
def profile_traits_identify(*, profile: Profile, values: dict, source: str) -> tuple[list[str], IdentifyResult]:
    """Set trait values on one known profile (the console's inline edit) and honour mapped traits.

    A value of a trait mapped by an identity rule also becomes an identifier of this profile. The
    profile is the subject here, so nothing is merged: a value that already identifies another
    profile is a HELD_ELSEWHERE note, one over the rule's limit a LIMIT_REACHED note (or, FIFO, it
    replaces the oldest). An invalid identifier value (say a malformed phone number in a mapped
    trait) rejects the whole edit with ValidationError.
    """
    store = profile.store
    config = store_config(store=store)
    ruleset = config.ruleset(store.default_region)
    typed, errors = trait_values_coerce(schema=config.schema, values=values)
    if errors:
        raise ValidationError(errors)

    def problem(kind, mapped_from, exc):
        # Located at the trait as the caller spelled it (the API's PATCH answers 422 naming it).
        raise ValidationError([FieldError(str(exc), _given_loc(values, *mapped_from))]) from exc

    pairs, notes = identifiers_prepare(ruleset=ruleset, raw_pairs=ruleset.mapped_identifiers(typed), on_error=problem)
    changed = profile_traits_set(profile=profile, values=values, source=source, schema=config.schema)
    holders = _holders(store, pairs)
    plan = resolution_plan(
        ruleset,
        pairs,
        holders,
        profile_facts(ruleset, {profile.pk: profile}),
        subject=profile.pk,
        age=new_age(timezone.now()),
    )
    result = IdentifyResult(profile=profile, created=False, notes=[*notes, *plan.notes])
    result.added = plan_identifiers_write(store=store, profile=profile, plan=plan, at=None)
    return changed, result


@transaction.atomic
def profile_traits_update(*, profile: Profile, values: dict, actor, source: str) -> tuple[list[str], IdentifyResult]:
    """`profile_traits_identify` (the console's trait edit: the one trait rule, mapped traits
    identify) with the change recorded in the account's Activity trail as ``profile.traits_update``.

    `values`: ``{group: {trait: raw value}}``, a JSON ``null`` (or ``\\N``) removing the trait;
    `actor`: who asked (an ``ApiKey`` for the API). All or nothing: ValidationError of `FieldError`s
    located at ``("traits", group, trait)`` as the names were given (unknown group or trait, a value
    the trait's type refuses, a mapped value that is no valid identifier). The audit event names the
    changed traits and identifiers, never the values (personal data). Returns
    ``(changed trait paths, IdentifyResult)``; nothing is audited when nothing changed.
    """
    changed, result = profile_traits_identify(profile=profile, values=values, source=source)
    if changed or result.added or result.dropped:
        what = ", ".join(changed) or "no trait"
        audit_record(
            account=profile.store.account,
            actor=actor,
            action="profile.traits_update",
            store_id=profile.store_id,
            summary=f"Updated {what} of profile #{profile.pk}",
            details={
                "profile": profile.pk,
                "traits": changed,
                "identifiers_added": [kind for kind, _ in result.added],
            },
        )
    return changed, result


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


def _identify_prepared(store, ruleset: RuleSet, prepared: ResolutionInput, source: str) -> IdentifyResult:
    known = _known_holder(store, prepared)
    if known is not None and known is not _UNHELD:
        return IdentifyResult(profile=known, created=False, notes=list(prepared.notes))
    if known is _UNHELD:
        created = _create_at_once(store, ruleset, prepared)
        if created is not None:
            return created
        known = None  # taken meanwhile: the resolution reads the holders
    for attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                return _resolve(store, ruleset, prepared, source, unheld=known is _UNHELD and attempt == 0)
        except (IntegrityError, _Retry, OperationalError) as exc:
            if attempt == ATTEMPTS - 1 or (isinstance(exc, OperationalError) and not is_deadlock(exc)):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


_UNHELD = object()  # `_known_holder`: nobody holds the one identifier


def _known_holder(store, prepared: ResolutionInput):
    """The profile already holding the one identifier of an identify with nothing else to write (no
    traits, no events): a returning customer's message. The planner would match that profile and
    write nothing (one identifier cannot merge, and one already attached meets every limit), so it
    is read without a transaction or locks: one query instead of five. `_UNHELD` when no profile
    holds it (a new customer: the resolution need not read the holders again); None when the call
    is not of this kind (the full resolution runs). The statement is written by hand: this is the
    Twilio webhook's hot path (`memory_console.rawsql` says why)."""
    if len(prepared.pairs) != 1 or prepared.typed_traits or prepared.events:
        return None
    kind, value = prepared.pairs[0]
    rows = rawsql.fetch(
        f"SELECT {rawsql.columns(Profile, 'p')} FROM {Identifier._meta.db_table} i "
        f"JOIN {Profile._meta.db_table} p ON p.id = i.profile_id "
        "WHERE i.store_id = %s AND i.kind = %s AND i.value = %s AND p.merged_into_id IS NULL LIMIT 1",
        [store.pk, kind, value],
        [Profile],
    )
    return rows[0][0] if rows else _UNHELD


def _create_at_once(store, ruleset: RuleSet, prepared: ResolutionInput) -> IdentifyResult | None:
    """A new customer's one identifier, nobody holding it (`_known_holder` read so): the planner's
    plan for it (new profile, identifier attached, no merge) written in one statement on
    PostgreSQL, a data-modifying WITH inserting the profile and its identifier (atomic without
    BEGIN and COMMIT: the Twilio webhook's hot path). None when the plan is anything else, on
    SQLite, or when another call attached the identifier meanwhile (the unique constraint fails the
    whole statement: nothing is written, and the caller resolves reading the holders)."""
    if connection.vendor != "postgresql":
        return None
    now = timezone.now()
    plan = resolution_plan(ruleset, prepared.pairs, {}, {}, age=new_age(now))
    if plan.primary is not None or plan.merges or plan.detach or list(plan.attach) != list(prepared.pairs):
        return None
    profile = Profile(store=store, traits={}, trait_sources={})
    ((kind, value),) = plan.attach
    insert_profile, profile_params = rawsql.insert_returning(profile)
    insert_identifier, identifier_params = rawsql.insert_returning(
        Identifier(store=store, kind=kind, value=value), links={"profile_id": "p.id"}, source="p"
    )
    sql = f"WITH p AS ({insert_profile}), i AS ({insert_identifier}) SELECT {rawsql.columns(Profile, 'p')} FROM p"
    try:
        with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
            [(profile,)] = rawsql.fetch(sql, [*profile_params, *identifier_params], [Profile])
    except IntegrityError:
        return None
    return IdentifyResult(profile=profile, created=True, notes=[*prepared.notes, *plan.notes], added=list(plan.attach))


def is_deadlock(exc: BaseException) -> bool:
    """PostgreSQL chose this transaction as a deadlock victim (SQLSTATE 40P01): retrying is safe.

    Happens when another transaction holding profile locks (a CSV import holds each chunk's until it
    commits) asks for one this call holds; the savepoint is rolled back with its locks and redone.
    """
    return isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) == "40P01"


def merge_rows_move(*, from_id: int, into_id: int, at) -> None:
    """The row moves of a merge: identifiers go to `into_id` (identity's part), then
    `profiles.services.profile_merge_effects` moves the profile-owned rows and leaves `from_id` a
    tombstone. Traits are the caller's: `merge_create` and CSV imports merge them in memory first."""
    Identifier.objects.filter(profile_id=from_id).update(profile_id=into_id)
    profile_merge_effects(from_id=from_id, into_id=into_id, at=at)
