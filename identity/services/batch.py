"""Identify many events at once: `profiles_identify_batch`, the same outcome as `profile_identify` for
each item in order, with bulk statements."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from profiles.models import Event, Profile
from profiles.services import (
    trait_values_apply,
)
from stores.config import store_config
from stores.models import Store

from ..models import Identifier
from ..selectors import identifier_holders

# --- batches -----------------------------------------------------------------------------------
from .identify import (
    IdentifyResult,
    Note,
    ResolutionInput,
    _identify_prepared,
    _lock,
    identify_input_prepare,
)


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
