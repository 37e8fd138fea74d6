"""The identity-resolution rule, once, without a database.

Every writer (`identity.services.profile_identify`, the batch identify, the CSV chunk resolver,
the console's trait edit, later conversation ingestion) does its own reads and writes and asks
this module what to do:

1. `RuleSet.of(rules)`: the store's rules as the planner reads them (priority rank, limit, limit
   policy, blocked values, mapped traits), built once per call, batch or import.
2. `RuleSet.identifier(kind, raw)`: one identifier of an event, prepared: the kind's rule, the
   blocked values, then `identity.normalization.normalize_identifier`. Answers a `(kind, value)`
   pair, a `Note` (NO_RULE, BLOCKED_VALUE: ignored) or raises `IdentifierError`.
   `RuleSet.mapped_identifiers(typed)` lists the identifiers that mapped trait values make.
3. `plan(rules, pairs, holders, profiles)`: given an event's prepared pairs (priority order), the
   live profile holding each pair already held (`holders`) and what the store holds about those
   profiles (`profiles`: `Facts` or any object with `counts`, `order` and, for kinds whose limit
   policy is FIFO, `values`), a `Plan`: the primary profile (or None: create one), the profiles to
   merge into it in order, the identifiers to attach and to detach, and `Note`s with a `Code`.

The rule (docs/ARCHITECTURE.md, "Identity resolution"):
- the primary is the oldest profile among those matched by the event's highest-priority matched
  kind; the other matched profiles merge into it in order (by their best matched kind, then age)
  unless the merge would put more identifiers of a kind on the primary than the kind's limit
  (MERGE_BLOCKED);
- the event's identifiers nobody holds are attached to the primary while under each kind's limit.
  Over it, the limit policy decides (Twilio's `limit_policy`): LIFO keeps the profile's values and
  drops the new one (LIMIT_REACHED); FIFO detaches the profile's oldest value that the event does
  not name itself to make room
  (LIMIT_REPLACED);
- limits keep the customer's best identifier (Segment Unify's rule): when an identifier would be
  dropped for a limit under LIFO and the event reached that profile only through identifiers of
  lower priority than the dropped one, the lowest-priority of those is dropped instead (LOWER_PRIORITY_DROPPED)
  and the event is resolved again, so the higher-priority identifier starts or finds its own
  profile. Seven people sharing one placeholder email then stay apart once the email's profile is
  full, instead of all landing on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from memory_console.text import strip_invisible

from .blocking import BlockList
from .models import LimitPolicy, RuleSource
from .normalization import IdentifierError, normalize_identifier

Pair = tuple[str, str]  # (kind, normalised value)


class Code(StrEnum):
    """Why an identifier was not used as given, or a merge did not happen. Stable: API answers,
    import notes and tests carry the code; `Note.message` makes the words from it."""

    NO_RULE = "no_rule"  # no identity rule for the kind: ignored
    BLOCKED_VALUE = "blocked_value"  # on the rule's blocked values: ignored
    LIMIT_REACHED = "limit_reached"  # not added: the profile holds the kind's limit (LIFO)
    LIMIT_REPLACED = "limit_replaced"  # removed from the profile to make room for a newer value (FIFO)
    LOWER_PRIORITY_DROPPED = "lower_priority_dropped"  # not used, so a better identifier keeps its own profile
    MERGE_BLOCKED = "merge_blocked"  # profiles not merged: the merge would exceed a limit
    HELD_ELSEWHERE = "held_elsewhere"  # not added: it identifies another profile (an edit of one profile)


@dataclass(frozen=True, slots=True)
class Note:
    """What happened to one identifier (or one merge) that was not applied as given.

    `kind`/`value`: the identifier (for MERGE_BLOCKED the first matching one); `limit`: the kind's
    limit; `profile`: the other profile (MERGE_BLOCKED, HELD_ELSEWHERE, LIMIT_REPLACED: the profile
    it left; a negative key is a profile created earlier in the same import); `matching`: the
    identifiers the blocked merge would have followed; `over`: ((kind, limit), ...) a blocked merge
    would exceed; `pattern`: the blocked value that matched; `instead`: the identifier whose limit
    made LOWER_PRIORITY_DROPPED drop this one.
    """

    code: Code
    kind: str
    value: str
    limit: int | None = None
    profile: int | None = None
    matching: tuple[Pair, ...] = ()
    over: tuple[tuple[str, int], ...] = ()
    pattern: str | None = None
    instead: Pair | None = None

    def message(self) -> str:
        """The words for the code, the only place they are made (console, API, import notes): a clause
        that follows the identifier ("email a@example.com " + message), or for MERGE_BLOCKED stands alone."""
        code = self.code
        if code is Code.LIMIT_REACHED:
            return f"was not added: the profile already holds the limit of {self.limit} {self.kind} identifiers"
        if code is Code.MERGE_BLOCKED:
            limits = ", ".join(f"{limit} {kind}" for kind, limit in self.over)
            return f"not merged with {_profile(self.profile)}: merging would exceed the limit of {limits} identifiers"
        if code is Code.NO_RULE:
            return f"was ignored: no identity rule for the kind “{self.kind}”"
        if code is Code.BLOCKED_VALUE:
            return f"was ignored: the {self.kind} rule's blocked values include “{self.pattern}”"
        if code is Code.HELD_ELSEWHERE:
            return f"was not added: it already identifies {_profile(self.profile)}"
        if code is Code.LIMIT_REPLACED:
            return (
                f"was removed from the profile to make room for a newer {self.kind} "
                f"(limit {self.limit}; the rule replaces the oldest value)"
            )
        kind, value = self.instead
        return (
            f"was not used: the profile it identifies already holds the limit of {self.limit} {kind} identifiers, "
            f"so {kind} {value} starts or finds a profile of its own"
        )

    @property
    def shown(self) -> str:
        """The identifier as `kind:value`, or a blocked merge's matching identifiers `; `-joined."""
        if self.matching:
            return "; ".join(f"{k}:{v}" for k, v in self.matching)
        return f"{self.kind}:{self.value}"


def _profile(key: int | None) -> str:
    return f"profile {key}" if key is not None and key > 0 else "a profile created earlier in this import"


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    rank: int  # 0 = highest priority
    limit: int
    fifo: bool
    blocked: BlockList | None


class RuleSet:
    """A store's identity rules as the planner reads them. Build once per call, batch or import."""

    __slots__ = ("by_kind", "rank", "limit", "kinds", "fifo", "mapped", "region", "blocking")

    def __init__(self, rules: list[Rule], mapped: dict[tuple[str, str], list[str]], region: str):
        self.by_kind = {rule.kind: rule for rule in rules}
        self.kinds = [rule.kind for rule in rules]  # priority order
        self.rank = {rule.kind: rule.rank for rule in rules}
        self.limit = {rule.kind: rule.limit for rule in rules}
        self.fifo = {rule.kind for rule in rules if rule.fifo}
        self.blocking = any(rule.blocked is not None for rule in rules)
        self.mapped = mapped  # (group, trait) -> kinds of the rules mapping it
        self.region = region

    @classmethod
    def of(cls, rules, *, region: str) -> RuleSet:
        """From `IdentityRule`s in priority order (mapped traits prefetched, as `store_config` has them)
        and the store's default phone region."""
        built, mapped = [], {}
        for rank, rule in enumerate(rules):
            patterns = rule.blocked_values
            blocked = BlockList(patterns) if patterns else None
            built.append(Rule(rule.kind, rank, rule.limit, rule.limit_policy == LimitPolicy.FIFO, blocked))
            if rule.source == RuleSource.TRAITS:
                for trait in rule.mapped_traits.all():
                    mapped.setdefault((trait.group.name, trait.name), []).append(rule.kind)
        return cls(built, mapped, region)

    def identifier(self, kind: str, raw: str) -> Pair | Note:
        """One identifier of an event, prepared: `(kind, normalised value)`, or a Note when it is
        ignored (NO_RULE, BLOCKED_VALUE). Raises `identity.normalization.IdentifierError` for an
        invalid value (the caller says where it came from). Blocked values are checked before
        the value is normalised too, so a placeholder such as ``n/a`` is ignored, not refused."""
        rule = self.by_kind.get(kind)
        if rule is None:
            return Note(Code.NO_RULE, kind, str(raw))
        blocked = rule.blocked
        if blocked is None:
            return (kind, normalize_identifier(kind, raw, region=self.region))
        try:
            value = normalize_identifier(kind, raw, region=self.region)
        except IdentifierError:
            pattern = blocked.blocks(raw, None)  # a placeholder need not be a valid value
            if pattern is None:
                raise
        else:
            pattern = blocked.blocks(raw, value)
            if pattern is None:
                return (kind, value)
        return Note(Code.BLOCKED_VALUE, kind, strip_invisible(str(raw)), pattern=pattern)

    def mapped_identifiers(self, typed: dict) -> list[tuple[str, str, tuple[str, str]]]:
        """(kind, raw value, (group, trait)) for every mapped trait set in `typed` (coerced trait
        values by stored group and trait name), in the order `typed` gives them: the request's, or
        the file's columns (`identifiers_prepare` and the CSV rows then sort all pairs by rule
        priority, stably)."""
        found = []
        if not self.mapped:
            return found
        for group, values in typed.items():
            for trait, value in values.items():
                kinds = self.mapped.get((group, trait))
                if kinds is None or value is None:
                    continue
                for item in identifying_items(value):
                    for kind in kinds:
                        found.append((kind, item, (group, trait)))
        return found

    def sort(self, pairs: list[Pair]) -> None:
        """Priority order, in place; stable: input order within a kind."""
        rank = self.rank
        pairs.sort(key=lambda pair: rank[pair[0]])


def identifying_items(value) -> list[str]:
    """The identifier values a mapped trait's coerced value makes: text and whole numbers (as
    text), each item of an array; nothing for a deletion, a blank text (empty after
    `strip_invisible`), a boolean or any other type. The trait itself is still set."""
    items = []
    for item in value if isinstance(value, list) else (value,):
        if isinstance(item, bool) or not isinstance(item, str | int):
            continue  # also traits.coercion.DELETE, an object of its own
        if isinstance(item, str) and not strip_invisible(item):
            continue
        items.append(str(item))
    return items


@dataclass(slots=True)
class Facts:
    """What the store holds about one profile: `order` sorts the oldest first (creation time, then
    a tie-breaker); `counts` its identifiers per kind; `values` for FIFO kinds only, its values of
    the kind oldest first (as `(age, value)` pairs, `age` from `stored_age`, comparable across
    profiles)."""

    order: tuple
    counts: dict[str, int]
    values: dict[str, list[tuple[object, str]]] = field(default_factory=dict)


@dataclass(slots=True)
class Plan:
    """What to do for one event. `primary`: the profile it resolves to, None to create one;
    `merges`: (profile, matching identifiers) to merge into the primary, in order; `attach`: new
    identifiers for the primary; `detach`: identifiers to remove from it (FIFO), each with the
    profile it is on; `counts`: the primary's identifiers per kind afterwards; `values`: its FIFO
    kinds' values afterwards; `pairs`: the identifiers the event was resolved with (LOWER_PRIORITY_DROPPED
    removes some); `notes`: what was not applied as given."""

    primary: int | None
    merges: list[tuple[int, list[Pair]]]
    attach: list[Pair]
    detach: list[tuple[Pair, int]]
    counts: dict[str, int]
    values: dict[str, list[tuple[object, str]]]
    pairs: list[Pair]
    notes: list[Note]


def plan(rules: RuleSet, pairs: list[Pair], holders, profiles, *, subject: int | None = None, age=None) -> Plan:
    """The plan for one event (see the module docstring for the rule).

    `pairs`: prepared identifiers in priority order, no duplicates. `holders`: pair -> key of the
    live profile holding it (a mapping; pairs nobody holds are absent). `profiles`: key -> `Facts`
    (or an object with the same attributes) for every key in `holders`. `subject`: the event is an
    edit of this one profile (the console's trait edit): nothing merges, an identifier another
    profile holds is HELD_ELSEWHERE. `age`: the age of identifiers attached now (`new_age`; FIFO
    kinds only).
    """
    if not holders and subject is None and not rules.fifo:
        return _plan_new(rules, pairs)  # the common case of an import into a new store, kept cheap
    notes: list[Note] = []
    while True:
        result = _plan_once(rules, pairs, holders, profiles, subject, age)
        if subject is not None:
            break
        dropped = _lower_priority(rules, result, holders)
        if dropped is None:
            break
        notes.append(dropped)
        pairs = [pair for pair in pairs if pair != (dropped.kind, dropped.value)]
    if notes:
        result.notes[:0] = notes
    return result


def _lower_priority(rules: RuleSet, result: Plan, holders) -> Note | None:
    """Limits keep the customer's best identifier: after an identifier of a LIFO kind was dropped
    for its limit, when every identifier of the event that led to the full profile (held by the
    primary or a profile merged into it) is of lower priority than the dropped one, the
    lowest-priority of those is dropped instead, as a note; None when the rule does not apply."""
    rank = rules.rank
    for note in result.notes:
        if note.code is not Code.LIMIT_REACHED or note.kind in rules.fifo:
            continue
        led_to = {result.primary, *(key for key, _ in result.merges)}
        led = [pair for pair in result.pairs if pair in holders and holders[pair] in led_to]
        if led and all(rank[kind] > rank[note.kind] for kind, _ in led):
            kind, value = led[-1]  # pairs are in priority order: the last is the lowest
            return Note(Code.LOWER_PRIORITY_DROPPED, kind, value, limit=note.limit, instead=(note.kind, note.value))
    return None


def _plan_new(rules: RuleSet, pairs) -> Plan:
    """`_plan_once` when nobody holds any of the pairs and no rule is FIFO: create a profile and
    attach under the limits (nothing to merge, no full profile to step around)."""
    limit = rules.limit
    counts: dict[str, int] = {}
    attach: list[Pair] = []
    notes: list[Note] = []
    for pair in pairs:
        kind = pair[0]
        n = counts.get(kind, 0)
        if n >= limit[kind]:
            notes.append(Note(Code.LIMIT_REACHED, kind, pair[1], limit=limit[kind]))
        else:
            counts[kind] = n + 1
            attach.append(pair)
    return Plan(None, [], attach, [], counts, {}, pairs, notes)


def _plan_once(rules: RuleSet, pairs, holders, profiles, subject, age) -> Plan:
    limit, fifo = rules.limit, rules.fifo
    notes: list[Note] = []
    merges: list[tuple[int, list[Pair]]] = []
    matched: dict[int, list[Pair]] = {}
    if holders:
        for pair in pairs:
            key = holders.get(pair)
            if key is not None:
                matched.setdefault(key, []).append(pair)
    if subject is not None:
        primary = subject
        facts = profiles[subject]
        for key, held in matched.items():
            if key != subject:
                notes += [Note(Code.HELD_ELSEWHERE, kind, value, profile=key) for kind, value in held]
    elif not matched:
        primary, facts = None, None
    elif len(matched) == 1:  # the common match: one profile, nothing to choose or merge
        primary = next(iter(matched))
        facts = profiles[primary]
    else:
        rank = rules.rank
        best = min(rank[kind] for held in matched.values() for kind, _ in held)
        primary = min(
            (key for key, held in matched.items() if any(rank[kind] == best for kind, _ in held)),
            key=lambda key: profiles[key].order,
        )
        facts = profiles[primary]
    counts = dict(facts.counts) if facts is not None else {}
    values = {kind: list(facts.values.get(kind, ())) for kind in fifo} if facts is not None and fifo else {}
    if subject is None and len(matched) > 1:
        rank = rules.rank
        others = sorted(
            (key for key in matched if key != primary),
            key=lambda key: (min(rank[kind] for kind, _ in matched[key]), profiles[key].order),
        )
        for key in others:
            theirs = profiles[key]
            over = tuple(
                (kind, limit[kind])
                for kind in rules.kinds
                if counts.get(kind, 0) + theirs.counts.get(kind, 0) > limit[kind]
            )
            held = matched[key]
            if over:
                kind, value = held[0]
                notes.append(Note(Code.MERGE_BLOCKED, kind, value, profile=key, matching=tuple(held), over=over))
                continue
            merges.append((key, held))
            for kind, n in theirs.counts.items():
                counts[kind] = counts.get(kind, 0) + n
            for kind in fifo:
                if kind in theirs.values:
                    values[kind] = sorted(values.get(kind, []) + theirs.values[kind], key=_age)
    attach: list[Pair] = []
    detach: list[tuple[Pair, int]] = []
    named = set(pairs) if fifo else ()
    for pair in pairs:
        if holders and pair in holders:
            continue
        kind = pair[0]
        if counts.get(kind, 0) >= limit[kind]:
            # FIFO: the oldest value the event does not name itself makes room.
            room = [i for i, (_, held) in enumerate(values.get(kind, ())) if (kind, held) not in named]
            if kind in fifo and room:
                oldest = values[kind].pop(room[0])[1]  # stored: what this event attaches, it names
                detach.append(((kind, oldest), primary))
                notes.append(Note(Code.LIMIT_REPLACED, kind, oldest, limit=limit[kind], profile=primary))
            else:
                notes.append(Note(Code.LIMIT_REACHED, kind, pair[1], limit=limit[kind]))
                continue
        else:
            counts[kind] = counts.get(kind, 0) + 1
        attach.append(pair)
        if kind in fifo:
            values.setdefault(kind, []).append((age, pair[1]))
    return Plan(primary, merges, attach, detach, counts, values, list(pairs), notes)


def stored_age(created_at, pk: int) -> tuple:
    """The age of a stored identifier (FIFO order): its creation time, then its id."""
    return (created_at, 0, pk)


def new_age(at, sequence: int = 0) -> tuple:
    """The age of identifiers attached now, after every stored one of the same time (an import's
    identifiers written by an earlier chunk share its time), in `sequence` order."""
    return (at, 1, sequence)


def _age(entry):
    return entry[0]
