"""Identify many events at once: `profiles_identify_batch`, the same outcome as `profile_identify` for
each item in order, with bulk statements."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from profiles.models import Event, Profile
from profiles.services import profiles_traits_save, trait_values_apply
from stores.models import Store

from ..config import store_config
from ..models import Identifier
from ..resolution import RuleSet, new_age
from ..resolution import plan as resolution_plan
from ..selectors import identifier_holders
from .identify import (
    IdentifyResult,
    ResolutionInput,
    _identify_prepared,
    _lock,
    identify_input_prepare,
    profile_facts,
)


def profiles_identify_batch(*, store: Store, items: list[dict], source: str) -> list:
    """Identify many events in one transaction; per item an IdentifyResult or a ValidationError.

    Same outcome as calling `profile_identify` for each item in order, faster: an item whose
    identifiers no other item of the batch shares, and whose plan (`identity.resolution.plan`)
    creates a profile or only adds to the one profile it matches, is written with bulk statements;
    everything else (merges, identifiers shared inside the batch, a profile such an item touches,
    and every item creating a profile after the first of those) goes through `profile_identify`'s
    path, in order. Invalid items fail alone.
    """
    config = store_config(store=store)
    ruleset = config.ruleset(store.default_region)
    results: list = [None] * len(items)
    prepared: dict[int, ResolutionInput] = {}
    for position, item in enumerate(items):
        try:
            prepared[position] = identify_input_prepare(
                store=store,
                ruleset=ruleset,
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
            _identify_batch(store, ruleset, prepared, results, source)
    except IntegrityError:
        # Another writer took one of the new identifiers meanwhile: redo the batch one by one.
        for position, ready in prepared.items():
            results[position] = _identify_prepared(store, ruleset, ready, source)
    return results


def _identify_batch(store, ruleset: RuleSet, prepared: dict[int, ResolutionInput], results, source) -> None:
    uses: dict[tuple[str, str], int] = {}
    for ready in prepared.values():
        for pair in ready.pairs:
            uses[pair] = uses.get(pair, 0) + 1
    holders = identifier_holders(store=store, pairs=list(uses))
    new: list[int] = []
    matched: dict[int, list[int]] = {}
    sequential: set[int] = set()
    for position, ready in prepared.items():
        if any(uses[pair] > 1 for pair in ready.pairs):
            sequential.add(position)
            continue
        owners = {holders[pair] for pair in ready.pairs if pair in holders}
        if not owners:
            new.append(position)
        elif len(owners) == 1:
            matched.setdefault(owners.pop(), []).append(position)
        else:
            sequential.add(position)
    now = timezone.now()
    plans = _plan_matched(store, ruleset, prepared, holders, matched, sequential, now)
    while True:
        # A profile that an item handled in turn touches is handled in turn with all its items.
        touched = {holders[pair] for p in sequential for pair in prepared[p].pairs if pair in holders}
        moved = [pid for pid in matched if pid in touched]
        for pid in moved:
            sequential.update(matched.pop(pid))
        # Profiles are created in item order, as identifying each item in turn would (the oldest
        # profile wins a later tie): a new item after the first one handled in turn goes in turn
        # too, since the bulk-created ones are all older than any profile created in turn.
        if sequential:
            first = min(sequential)
            sequential.update(position for position in new if position > first)
            new = [position for position in new if position < first]
        if not moved:
            break
    _batch_new(store, ruleset, [(p, prepared[p]) for p in new], results, source, now)
    _batch_matched(store, [(p, prepared[p], *plans[p]) for ps in matched.values() for p in ps], results, source, now)
    for position in sorted(sequential):
        results[position] = _identify_prepared(store, ruleset, prepared[position], source)


def _plan_matched(store, ruleset, prepared, holders, matched, sequential, now) -> dict:
    """Lock the profiles items match and plan those items, in order per profile: position ->
    (profile, plan). A profile whose items cannot all be bulk-written (it moved since the lookup,
    or an item's plan merges, creates or detaches) goes to `sequential` whole."""
    plans: dict[int, tuple] = {}
    if not matched:
        return plans
    locked = _lock(store, matched)
    # Anything that moved between the lookup and the lock is resolved one by one instead.
    current = identifier_holders(
        store=store, pairs=[pair for ps in matched.values() for p in ps for pair in prepared[p].pairs]
    )
    facts = profile_facts(ruleset, locked)
    for pid in list(matched):
        profile = locked.get(pid)
        for position in matched[pid]:
            ready = prepared[position]
            if profile is None or profile.merged_into_id or any(current.get(p) != holders.get(p) for p in ready.pairs):
                break
            own = {pair: pid for pair in ready.pairs if pair in holders}
            plan = resolution_plan(ruleset, ready.pairs, own, facts, age=new_age(now, position))
            if plan.primary != pid or plan.merges or plan.detach:
                break
            facts[pid].counts, facts[pid].values = plan.counts, plan.values
            plans[position] = (profile, plan)
        else:
            continue
        sequential.update(matched.pop(pid))
    return plans


def _batch_new(store, ruleset, entries, results, source, now) -> None:
    if not entries:
        return
    profiles = []
    for position, ready in entries:
        plan = resolution_plan(ruleset, ready.pairs, {}, {}, age=new_age(now, position))
        profile = Profile(store=store, traits={}, trait_sources={}, created_at=now, updated_at=now)
        changed = trait_values_apply(
            traits=profile.traits, sources=profile.trait_sources, typed=ready.typed_traits, source=source, at=now
        )
        profiles.append((profile, plan))
        results[position] = IdentifyResult(
            profile=profile,
            created=True,
            notes=[*ready.notes, *plan.notes],
            changed_traits=changed,
            added=list(plan.attach),
        )
    Profile.objects.bulk_create([profile for profile, _ in profiles])
    identifiers, events = [], []
    for (_, ready), (profile, plan) in zip(entries, profiles, strict=True):
        identifiers += [
            Identifier(store=store, profile=profile, kind=kind, value=value, created_at=now)
            for kind, value in plan.attach
        ]
        events += [Event(store=store, profile=profile, source=source, **event) for event in ready.events]
    Identifier.objects.bulk_create(identifiers)
    Event.objects.bulk_create(events)


def _batch_matched(store, entries, results, source, now) -> None:
    """Write the planned items that add to the one profile they match: (position, input, profile, plan)."""
    if not entries:
        return
    changed_profiles, identifiers, events = {}, [], []
    for position, ready, profile, plan in sorted(entries, key=lambda entry: entry[0]):
        result = IdentifyResult(
            profile=profile, created=False, notes=[*ready.notes, *plan.notes], added=list(plan.attach)
        )
        identifiers += [
            Identifier(store=store, profile=profile, kind=kind, value=value, created_at=now)
            for kind, value in plan.attach
        ]
        result.changed_traits = trait_values_apply(
            traits=profile.traits, sources=profile.trait_sources, typed=ready.typed_traits, source=source, at=now
        )
        if result.changed_traits or result.added:
            profile.updated_at = now
            changed_profiles[profile.pk] = profile
        events += [Event(store=store, profile=profile, source=source, **event) for event in ready.events]
        results[position] = result
    profiles_traits_save(profiles=list(changed_profiles.values()), at=now)
    Identifier.objects.bulk_create(identifiers)
    Event.objects.bulk_create(events)
