"""Identity resolution as plain Python: the specification the writer paths are tested against.

This is docs/ARCHITECTURE.md's "Identity resolution" (prepare, primary, merges, attach, limits keep
the best identifier, traits) with no database: given a store's rules (priority order, a limit, a
limit policy and blocked values per kind) and a stream of events (identifiers and trait values),
`resolve` says which profiles exist at the end, which merges happened and what was noted. Every
writer path (`profile_identify` event by event, `profiles_identify_batch`, a CSV import) must end
where this model ends; `tests/test_resolution_equivalence.py` checks that they do.

It is written to be read and extended: one function per step of the documented rule, names as in
the documentation (primary, merge, blocked merge, dropped identifier). What it leaves out, because
the paths compared here do not exercise it: normalisation (values are given normalised; a blocked
value pattern is matched on the value only, not on a phone's digits alone), events,
mapped traits (identifiers taken from trait values), trait typing, and concurrency.

Traits are `{group: {trait: value}}`; a value of None removes the trait, as `\\N` in a CSV cell or
null in the API does.
"""

import copy
import re
from dataclasses import dataclass, field

Pair = tuple[str, str]  # (kind, value)

LIMIT = "limit"  # an identifier dropped: the profile already holds its kind's limit
MERGE_BLOCKED = "merge_blocked"  # a matched profile left alone: merging would exceed a limit
LOWER_PRIORITY_DROPPED = "lower_priority_dropped"  # not used, so a better identifier is not lost to a limit
LIMIT_REPLACED = "limit_replaced"  # an identifier removed from its profile to make room (FIFO)
BLOCKED_VALUE = "blocked_value"  # an identifier ignored: its value is on the rule's blocked values

LIFO, FIFO = "lifo", "fifo"  # limit policies: keep the values held, or replace the oldest


@dataclass(frozen=True)
class Rule:
    kind: str
    limit: int
    policy: str = LIFO
    blocked: tuple[str, ...] = ()  # blocked values: exact, ignoring case; `*` matches any run of characters

    def blocks(self, value: str) -> bool:
        return any(re.fullmatch(".*".join(map(re.escape, p.split("*"))), value, re.I) for p in self.blocked)


@dataclass(frozen=True)
class Event:
    identifiers: tuple[Pair, ...]
    traits: dict = field(default_factory=dict)  # {group: {trait: value or None}}


@dataclass
class Profile:
    number: int  # creation order: a lower number is an older profile
    created_by: int  # the index of the event that created it
    identifiers: list[Pair] = field(default_factory=list)  # in the order they were attached or moved in
    traits: dict = field(default_factory=dict)
    merged_into: int | None = None  # the live profile this tombstone points to (always one hop)

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.identifiers if k == kind)


@dataclass(frozen=True)
class Merge:
    event: int
    from_profile: int
    into_profile: int
    matching: tuple[Pair, ...]  # the event's identifiers that the merged profile held


@dataclass(frozen=True)
class Note:
    """Something an event asked for that the rules refused; the event's other effects still happen.

    LIMIT: `identifier` was not attached (its profile held the limit of its kind).
    LIMIT_REPLACED: `identifier` was removed from its profile (and identifies no one) to make room.
    BLOCKED_VALUE: `identifier` was ignored (one note per time the event names it).
    MERGE_BLOCKED: `profile` (matched by `matching`) was not merged into the primary.
    LOWER_PRIORITY_DROPPED: `identifier` was left out of the event and the event resolved again (step 6).
    """

    event: int
    category: str
    identifier: Pair | None = None
    profile: int | None = None
    matching: tuple[Pair, ...] = ()


@dataclass
class Outcome:
    profiles: dict[int, Profile]  # by number, tombstones included
    merges: list[Merge]
    notes: list[Note]
    resolved: list[int]  # per event, the profile it resolved to (created or primary)

    def live(self) -> list[Profile]:
        return [p for p in self.profiles.values() if p.merged_into is None]


def resolve(rules: list[Rule], events: list[Event]) -> Outcome:
    """Identify each event in order, as `profile_identify` called once per event does."""
    state = Resolution(rules)
    for index, event in enumerate(events):
        state.identify(index, event)
    return Outcome(state.profiles, state.merges, state.notes, state.resolved)


class Resolution:
    """The store as resolution sees it: rules, profiles, who holds each identifier."""

    def __init__(self, rules: list[Rule]):
        self.rank = {rule.kind: position for position, rule in enumerate(rules)}  # 0 = highest priority
        self.limit = {rule.kind: rule.limit for rule in rules}
        self.fifo = {rule.kind for rule in rules if rule.policy == FIFO}
        self.rules = {rule.kind: rule for rule in rules}
        self.profiles: dict[int, Profile] = {}
        self.holder: dict[Pair, int] = {}  # identifier -> the live profile holding it
        self.age: dict[Pair, int] = {}  # identifier -> when it was attached (FIFO: the lowest is the oldest)
        self.clock = 0
        self.merges: list[Merge] = []
        self.notes: list[Note] = []
        self.resolved: list[int] = []

    def blocked(self, pair: Pair) -> bool:
        return pair[0] in self.rules and self.rules[pair[0]].blocks(pair[1])

    def identify(self, index: int, event: Event) -> None:
        """One event: the steps of the documented rule, in order."""
        pairs = self.prepare(index, event.identifiers)
        if not pairs:
            raise ValueError(f"event {index} has no identifier that identifies anyone: every path refuses it")
        while True:
            state = (self.profiles, self.holder, self.age, self.clock, self.merges, self.notes)
            before = copy.deepcopy(state)
            instead = self.resolve_event(index, pairs, event.traits)
            if instead is None:
                return
            # 6. Limits keep the customer's best identifier: undo the event, leave out the
            #    lower-priority identifier that led to the full profile, and resolve again.
            self.profiles, self.holder, self.age, self.clock, self.merges, self.notes = before
            self.notes.append(Note(index, LOWER_PRIORITY_DROPPED, identifier=instead))
            pairs = [pair for pair in pairs if pair != instead]

    def resolve_event(self, index: int, pairs: list[Pair], traits: dict) -> Pair | None:
        """Steps 2-5 for the event's identifiers; or, when step 6 applies, the identifier to leave out."""
        matched = self.look_up(pairs)
        unmatched = [pair for pair in pairs if pair not in self.holder]
        led: list[Pair] = []  # the identifiers that led to the primary or a profile merged into it
        if matched:
            profile = self.primary(matched)
            led += matched[profile.number]
            for other in self.others(matched, profile):
                if self.merge_exceeds_a_limit(profile, other):
                    self.notes.append(Note(index, MERGE_BLOCKED, profile=other.number, matching=matched[other.number]))
                else:
                    self.merge(index, other, profile, matched[other.number])
                    led += matched[other.number]
        else:
            profile = self.create(index)
        dropped = self.attach(index, profile, pairs, unmatched)
        # 6. applies when an identifier of a LIFO kind was dropped for its limit and every
        #    identifier that led to the full profile has a lower priority than its kind.
        led = [pair for pair in pairs if pair in led]  # priority order, input order within a kind
        if led and any(all(self.rank[pair[0]] > self.rank[kind] for pair in led) for kind, _ in dropped):
            return led[-1]  # the lowest priority (the last of them in the event, within a kind)
        self.apply_traits(profile, traits)
        self.resolved.append(profile.number)
        return None

    # 1. Prepare: kinds without a rule are ignored, blocked values ignored and noted (each time
    #    the event names one), duplicates dropped; sorted by rule priority, input order kept within
    #    a kind. An event left with no identifier is refused (every path raises or fails the row).
    def prepare(self, index: int, identifiers) -> list[Pair]:
        pairs: list[Pair] = []
        for pair in identifiers:
            if self.blocked(pair):
                self.notes.append(Note(index, BLOCKED_VALUE, identifier=pair))
            elif pair[0] in self.rank and pair not in pairs:
                pairs.append(pair)
        return sorted(pairs, key=lambda pair: self.rank[pair[0]])

    # 2. Look up: the live profiles holding the event's identifiers, each with the pairs it matched.
    #    None matched: a new profile (and every identifier is unmatched).
    def look_up(self, pairs: list[Pair]) -> dict[int, tuple[Pair, ...]]:
        matched: dict[int, list[Pair]] = {}
        for pair in pairs:
            if pair in self.holder:
                matched.setdefault(self.holder[pair], []).append(pair)
        return {number: tuple(found) for number, found in matched.items()}

    def create(self, index: int) -> Profile:
        profile = Profile(number=len(self.profiles), created_by=index)
        self.profiles[profile.number] = profile
        return profile

    # 3. The primary: the profile matched by the highest-priority identifier; a tie (several
    #    profiles matched by identifiers of that same rule) goes to the oldest.
    def best_rank(self, matching: tuple[Pair, ...]) -> int:
        return min(self.rank[kind] for kind, _ in matching)

    def primary(self, matched: dict[int, tuple[Pair, ...]]) -> Profile:
        best = min(self.best_rank(matching) for matching in matched.values())
        candidates = [number for number, matching in matched.items() if self.best_rank(matching) == best]
        return self.profiles[min(candidates)]

    #    Every other matched profile, in order of its best-matching rule, then oldest first.
    def others(self, matched: dict[int, tuple[Pair, ...]], primary: Profile) -> list[Profile]:
        numbers = sorted((n for n in matched if n != primary.number), key=lambda n: (self.best_rank(matched[n]), n))
        return [self.profiles[n] for n in numbers]

    #    It is merged unless the primary plus that profile would hold more identifiers of some kind
    #    than its limit: then it is left alone (and the blocked merge is noted).
    def merge_exceeds_a_limit(self, primary: Profile, other: Profile) -> bool:
        return any(primary.count(kind) + other.count(kind) > limit for kind, limit in self.limit.items())

    # 4. Merge: identifiers move to the primary; trait values keep the primary's value where both
    #    have one and fill gaps from the merged profile. The merged profile stays as a tombstone;
    #    tombstones that pointed at it now point at the primary (chains stay one hop).
    def merge(self, index: int, other: Profile, into: Profile, matching: tuple[Pair, ...]) -> None:
        for pair in other.identifiers:
            self.holder[pair] = into.number
        into.identifiers += other.identifiers
        other.identifiers = []
        for group, values in other.traits.items():
            target = into.traits.setdefault(group, {})
            for name, value in values.items():
                target.setdefault(name, value)
        other.merged_into = into.number
        for tombstone in self.profiles.values():
            if tombstone.merged_into == other.number:
                tombstone.merged_into = into.number
        self.merges.append(Merge(index, other.number, into.number, matching))

    #    Unmatched identifiers are attached while under their kind's limit. At the limit:
    #    LIFO drops the new one (noted); FIFO removes the profile's oldest value of the kind that
    #    the event does not name itself (noted; it then identifies no one) and attaches the new one,
    #    or, when the event names every value held, drops the new one (noted).
    def attach(self, index: int, profile: Profile, pairs: list[Pair], unmatched: list[Pair]) -> list[Pair]:
        """Returns the identifiers of LIFO kinds dropped for their limit (step 6 looks at them)."""
        dropped = []
        for pair in unmatched:
            kind = pair[0]
            if profile.count(kind) >= self.limit[kind]:
                room = sorted((p for p in profile.identifiers if p[0] == kind and p not in pairs), key=self.age.get)
                if kind not in self.fifo or not room:
                    self.notes.append(Note(index, LIMIT, identifier=pair))
                    if kind not in self.fifo:
                        dropped.append(pair)
                    continue
                oldest = room[0]  # never one the event names, so never one it attached itself
                profile.identifiers.remove(oldest)
                del self.holder[oldest], self.age[oldest]
                self.notes.append(Note(index, LIMIT_REPLACED, identifier=oldest))
            profile.identifiers.append(pair)
            self.holder[pair] = profile.number
            self.age[pair] = self.clock
            self.clock += 1
        return dropped

    # 5. Traits: new values win; None removes a trait.
    def apply_traits(self, profile: Profile, traits: dict) -> None:
        for group, values in traits.items():
            for name, value in values.items():
                if value is None:
                    profile.traits.get(group, {}).pop(name, None)
                else:
                    profile.traits.setdefault(group, {})[name] = value
