"""Issue 14's equivalence test: every writer path resolves a stream of events as the model does.

The writer paths, each given the same rules and the same events in the same order:

- (a) `profile_identify`, once per event;
- (b) `profiles_identify_batch`, the stream as one batch and split into several batches;
- (c) CSV imports: the stream as rows in file order, split into one or more files, each file read in
  chunks of a few rows or in one chunk;
- (d) `tests.resolution_model`, the documented rule in plain Python.

Each path runs in a fresh store of its own and is reduced to one `Canonical` outcome, with no ids
or times in it: the live profiles (identifiers and traits), where each event's identifiers ended,
the merge records and tombstones, and the notes (identifiers dropped for a limit, merges blocked
by a limit). The paths word their notes differently today; one small adapter per path turns them
into `(event, category, kind, value)`.

The CSV import's documented difference: a profile created and merged away within one chunk is
never written, so it leaves no tombstone or merge record (`imports/engine.py`). Its expected
outcome keeps only the model's merges whose merged profile was created before the merge's chunk.

Hypothesis draws the rules and the streams; CI runs a fixed set of examples (derandomized), in
both passes of scripts/run_tests.py (no database marker). MC_EQUIV_EXAMPLES=300 runs more;
MC_EQUIV_RANDOM=1 draws new ones on every run; MC_EQUIV_MAX_EVENTS=30 draws longer streams
(over half of them merge something, against two in five); --hypothesis-show-statistics says how many merged,
blocked a merge or dropped an identifier. A failure names the path and each part of the outcome
that differs, and Hypothesis prints the scenario (`Falsifying example: ... scenario=Scenario(...)`):
`paths_agree_with_model(account, Scenario(...))` in a test of its own replays it.
"""

import csv
import io
import itertools
import json
import os
from dataclasses import dataclass, field, fields
from unittest import mock

import hypothesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from identity.models import Identifier, IdentityRule, MergeRecord
from identity.resolution import Code
from identity.services import (
    IdentifyResult,
    identity_rule_create,
    identity_rule_delete,
    identity_rule_update,
    identity_rules_reorder,
    profile_identify,
    profiles_identify_batch,
)
from imports.models import ImportRowError, ImportStatus
from imports.services import run as import_run_module
from profiles.models import Profile
from stores.models import Store
from tests import imports_helpers
from tests.resolution_model import (
    BLOCKED_VALUE,
    FIFO,
    LIFO,
    LIMIT,
    LIMIT_REPLACED,
    LOWER_PRIORITY_DROPPED,
    MERGE_BLOCKED,
    Event,
    Outcome,
    Resolution,
    Rule,
    resolve,
)
from workspace.services import store_create

SOURCE = "equivalence"
EXAMPLES = int(os.environ.get("MC_EQUIV_EXAMPLES", "60"))
RANDOM = os.environ.get("MC_EQUIV_RANDOM") == "1"
MAX_EVENTS = int(os.environ.get("MC_EQUIV_MAX_EVENTS", "12"))

# Small pools of values, already normalised (every path stores them as given), so that events
# often share identifiers: matches, merges and limits happen in most streams.
POOLS = {
    "phone": ("+14155550101", "+14155550102", "+14155550103"),
    "email": ("a@example.org", "b@example.org", "c@example.org"),
    "chat": ("chat-a", "chat-b", "chat-c"),
    "loyalty": ("L-1", "L-2", "L-3"),  # a custom kind
}
SIZES = (2, 1, 3)  # identifiers per event (drawn in this order of preference; see `scenarios`)
MAX_IDENTIFIERS = max(SIZES)  # a CSV file has this many columns per kind
TRAITS = ("firstName", "lastName", "address")  # traits of the Contact group every store has


# --- scenarios ---------------------------------------------------------------------------------


def event(index: int, *identifiers, sets=("firstName", "lastName"), removes=()) -> Event:
    """An event whose trait values say which event wrote them: each Contact trait in `sets` is set
    to the event's index, each in `removes` removed."""
    values = {name: str(index) for name in sets} | {name: None for name in removes}
    return Event(tuple(identifiers), {"Contact": values})


@dataclass(frozen=True)
class Scenario:
    rules: tuple[Rule, ...]  # priority order
    events: tuple[Event, ...]
    cuts: tuple[int, ...] = ()  # where the stream is split into batches (b) and files (c)
    chunk_rows: int = 10_000  # rows per import chunk (c)


@st.composite
def rule_sets(draw) -> tuple[Rule, ...]:
    """2-4 kinds in a random priority order, small limits. An import must map phone or email (or
    whatsappid), so one of those has a rule. Each rule's limit policy is FIFO one time in three;
    one rule in four blocks one value of its pool (so events name it), written as the value, in
    capitals or as a `*` pattern matching only it."""
    anchor = draw(st.sampled_from(["email", "phone"]))
    others = draw(st.lists(st.sampled_from([k for k in POOLS if k != anchor]), min_size=1, max_size=3, unique=True))
    kinds = draw(st.permutations([anchor, *others]))
    return tuple(
        Rule(
            kind, draw(st.sampled_from([2, 3, 1])), draw(st.sampled_from([LIFO, LIFO, FIFO])), draw(blocked_lists(kind))
        )
        for kind in kinds
    )


@st.composite
def blocked_lists(draw, kind: str) -> tuple[str, ...]:
    if draw(st.integers(0, 3)) > 0:
        return ()
    value = draw(st.sampled_from(POOLS[kind]))
    # The pools' values differ in their first or last character: value[0]*value[-1] blocks one.
    return (draw(st.sampled_from([value, value.upper(), f"{value[0]}*{value[-1]}"])),)


@st.composite
def scenarios(draw) -> Scenario:
    """Rules, 1-12 events (MAX_EVENTS), up to two cuts, a chunk size.

    Sizes are drawn as integers, not as list lengths: Hypothesis keeps lists short, and a stream
    of two one-identifier events rarely merges anything. Limits and event sizes are drawn from
    lists that start with 2: the first value is the one Hypothesis favours (and shrinks to), and
    2 gives the most merges, blocked merges and dropped identifiers.

    Drawn at random from the pools, only about a quarter of the streams merge anything. So about
    half of the events, once two live profiles exist, are *bridges*: the model, run as the stream
    is drawn, names the live profiles, and the event takes an identifier of each of two of them
    (plus one from the pools, for size 3); the limits then decide whether they merge.

    Traits: an import maps at least two trait columns and each row sets (or, with \\N, removes)
    every mapped trait, so the events of one part (one file) all write the same 2-3 traits; the
    parts differ, so a merge has gaps to fill and shows whose values it kept.
    """
    rules = draw(rule_sets())
    identifier = st.sampled_from([(rule.kind, value) for rule in rules for value in POOLS[rule.kind]])
    usable = st.sampled_from([(r.kind, value) for r in rules for value in POOLS[r.kind] if not r.blocks(value)])
    length = draw(st.integers(1, MAX_EVENTS))
    cuts = sorted(draw(st.lists(st.integers(1, length - 1), max_size=2, unique=True))) if length > 1 else []
    so_far = Resolution(list(rules))
    events = []
    for start, end in spans(length, cuts):
        names = draw(st.lists(st.sampled_from(TRAITS), min_size=2, max_size=3, unique=True))
        for index in range(start, end):
            size = draw(st.sampled_from(SIZES))
            live = [p for p in so_far.profiles.values() if p.merged_into is None]
            if size >= 2 and len(live) >= 2 and draw(st.booleans()):
                two = draw(st.lists(st.sampled_from(live), min_size=2, max_size=2, unique_by=lambda p: p.number))
                pairs = [draw(st.sampled_from(p.identifiers)) for p in two]
                pairs += draw(st.lists(identifier, min_size=size - 2, max_size=size - 2))
            else:
                pairs = draw(st.lists(identifier, min_size=size, max_size=size))
            if all(so_far.blocked(pair) for pair in pairs):  # every path would refuse the event
                pairs[-1] = draw(usable)
            removed = draw(st.lists(st.sampled_from(names), max_size=1))
            events.append(event(index, *pairs, sets=[n for n in names if n not in removed], removes=removed))
            so_far.identify(index, events[-1])
    chunk_rows = draw(st.sampled_from([10_000, 1, 2, 3]))
    return Scenario(rules, tuple(events), tuple(cuts), chunk_rows)


def spans(length: int, cuts) -> list[tuple[int, int]]:
    """[start, end) of each part of a stream of `length` split before each position in `cuts`."""
    bounds = [0, *sorted(cuts), length]
    return list(itertools.pairwise(bounds))


# --- the canonical outcome ---------------------------------------------------------------------

Label = tuple[str, ...]  # a live profile: its identifiers as sorted "kind:value"


@dataclass(frozen=True)
class Canonical:
    profiles: tuple[tuple[Label, str], ...]  # live profiles: (identifiers, traits as JSON), sorted
    landed: tuple[tuple[Label | None, ...], ...]  # per event, per identifier: the live profile holding it
    merges: tuple[tuple[Label, Label], ...]  # per merge record: (matching identifiers, live profile it went to)
    tombstones: tuple[Label, ...]  # per merged-away profile: the live profile it points to
    notes: tuple[tuple[int, str, str, str], ...]  # (event, category, kind, value), sorted
    resolved: tuple[Label, ...] | None = field(default=None)  # per event: the live profile of its result


def label(pairs) -> Label:
    return tuple(sorted(f"{kind}:{value}" for kind, value in pairs))


def unique_pairs(event_: Event) -> list[tuple[str, str]]:
    return list(dict.fromkeys(event_.identifiers))


def model_canonical(outcome: Outcome, events, *, written=lambda merge: True, resolved=True) -> Canonical:
    """The model's outcome; `written(merge)` says whether the path writes that merge's record."""
    profiles = outcome.profiles
    labels = {p.number: label(p.identifiers) for p in outcome.live()}

    def final(number: int) -> Label:
        into = profiles[number].merged_into
        return labels[number if into is None else into]

    holder = {pair: labels[p.number] for p in outcome.live() for pair in p.identifiers}
    merges = [merge for merge in outcome.merges if written(merge)]
    return Canonical(
        profiles=tuple(sorted((labels[p.number], traits_text(p.traits)) for p in outcome.live())),
        landed=tuple(tuple(holder.get(pair) for pair in unique_pairs(e)) for e in events),
        merges=tuple(sorted((label(m.matching), final(m.into_profile)) for m in merges)),
        tombstones=tuple(sorted(final(m.from_profile) for m in merges)),
        notes=tuple(sorted(model_notes(outcome))),
        resolved=tuple(final(number) for number in outcome.resolved) if resolved else None,
    )


def model_notes(outcome: Outcome) -> list[tuple[int, str, str, str]]:
    notes = []
    for note in outcome.notes:
        pairs = note.matching if note.category == MERGE_BLOCKED else [note.identifier]
        notes += [(note.event, note.category, kind, value) for kind, value in pairs]
    return notes


def traits_text(traits: dict) -> str:
    return json.dumps(traits, sort_keys=True)


def database_canonical(store, events, notes, resolved_ids=None) -> Canonical:
    """A store's outcome, read from the database; checks the storage invariants on the way."""
    rows = Profile.objects.filter(store=store).values_list("pk", "merged_into_id", "traits")
    merged_into = {pk: into for pk, into, _ in rows}
    traits = {pk: value for pk, _, value in rows}
    held: dict[int, list] = {}
    for kind, value, pid in Identifier.objects.filter(store=store).values_list("kind", "value", "profile_id"):
        held.setdefault(pid, []).append((kind, value))
    live = [pk for pk, into in merged_into.items() if into is None]
    assert not [pid for pid in held if merged_into[pid] is not None], "a tombstone holds identifiers"
    assert all(merged_into[into] is None for into in merged_into.values() if into), "tombstone chains are one hop"
    assert all(held.get(pk) for pk in live), "a live profile holds no identifier"
    labels = {pk: label(held[pk]) for pk in live}

    def final(pk: int) -> Label:
        return labels[merged_into[pk] or pk]

    holder = {pair: labels[pk] for pk in live for pair in held[pk]}
    records = MergeRecord.objects.filter(store=store).values_list("matching_identifiers", "into_profile_id")
    return Canonical(
        profiles=tuple(sorted((labels[pk], traits_text(traits[pk])) for pk in live)),
        landed=tuple(tuple(holder.get(pair) for pair in unique_pairs(e)) for e in events),
        merges=tuple(sorted((tuple(sorted(matching)), final(into)) for matching, into in records)),
        tombstones=tuple(sorted(final(pk) for pk, into in merged_into.items() if into)),
        notes=tuple(sorted(notes)),
        resolved=tuple(final(pk) for pk in resolved_ids) if resolved_ids is not None else None,
    )


# --- note adapters: each path's notes as (event, category, kind, value) ------------------------


def split_identifier(text: str) -> tuple[str, str]:
    """ "kind:value" (a kind has no colon; a value may: whatsapp:+1...)."""
    kind, _, value = text.partition(":")
    return kind, value


def notes_of_identify_result(index: int, result: IdentifyResult) -> list[tuple[int, str, str, str]]:
    """`IdentifyResult.notes` by code: a blocked merge gives one tuple per matching identifier; a
    blocked value is in `notes` (and `ignored`)."""
    assert not [note for note in result.ignored if note.code is Code.NO_RULE], result.ignored  # every kind has a rule
    notes = []
    for note in result.notes:
        category = CATEGORY[note.code]
        if note.code is Code.MERGE_BLOCKED:
            notes += [(index, category, kind, value) for kind, value in note.matching]
        else:
            notes.append((index, category, note.kind, note.value))
    return notes


def notes_of_import(profile_import, first_event: int) -> list[tuple[int, str, str, str]]:
    """The import's row notes (`ImportRowError` with row_failed False) by code: the row's line (the
    header is line 1) gives the event; a note names the identifier's kind as the column and its
    value; a blocked merge lists the matching identifiers as "kind:value; kind:value"."""
    notes = []
    for row in ImportRowError.objects.filter(profile_import=profile_import, row_failed=False):
        index = first_event + row.line - 2
        category = CATEGORY[Code(row.code)]
        if row.code == Code.MERGE_BLOCKED:
            notes += [(index, category, *split_identifier(text)) for text in row.value.split("; ")]
        else:
            notes.append((index, category, row.column, row.value))
    return notes


CATEGORY = {
    Code.LIMIT_REACHED: LIMIT,
    Code.MERGE_BLOCKED: MERGE_BLOCKED,
    Code.LOWER_PRIORITY_DROPPED: LOWER_PRIORITY_DROPPED,
    Code.LIMIT_REPLACED: LIMIT_REPLACED,
    Code.BLOCKED_VALUE: BLOCKED_VALUE,
}  # the planner's codes, the model's words


# --- the paths ---------------------------------------------------------------------------------

_stores = itertools.count(1)


def store_with_rules(account, rules) -> Store:
    """A fresh store whose identity rules are exactly `rules`, in that priority order, with their
    limits, limit policies and blocked values (a new store's default blocked values replaced)."""
    store = store_create(account=account, actor=None, name=f"Equivalence {next(_stores)}")
    existing = {rule.kind: rule for rule in IdentityRule.objects.filter(store=store)}
    for rule in rules:
        settings_ = {"limit": rule.limit, "limit_policy": rule.policy, "blocked_values": list(rule.blocked)}
        if rule.kind not in existing:
            identity_rule_create(store=store, actor=None, name=rule.kind, kind=rule.kind, **settings_)
        else:
            stored = existing[rule.kind]
            identity_rule_update(rule=stored, actor=None, name=stored.name, **settings_)
    for kind, stored in existing.items():
        if kind not in {rule.kind for rule in rules}:
            identity_rule_delete(rule=stored, actor=None)
    ids = dict(IdentityRule.objects.filter(store=store).values_list("kind", "pk"))
    identity_rules_reorder(store=store, actor=None, rule_ids=[ids[rule.kind] for rule in rules])
    stored = IdentityRule.objects.filter(store=store).order_by("priority")
    stored = [tuple(r) for r in stored.values_list("kind", "limit", "limit_policy", "blocked_values")]
    assert stored == [(rule.kind, rule.limit, rule.policy, list(rule.blocked)) for rule in rules]
    return store


def identify_one_by_one(store, events) -> Canonical:
    """(a) `profile_identify` once per event, in order."""
    notes, resolved = [], []
    for index, e in enumerate(events):
        result = profile_identify(store=store, identifiers=list(e.identifiers), traits=e.traits, source=SOURCE)
        notes += notes_of_identify_result(index, result)
        resolved.append(result.profile.pk)
    return database_canonical(store, events, notes, resolved)


def identify_in_batches(store, events, cuts=()) -> Canonical:
    """(b) `profiles_identify_batch`, one call per part of the stream."""
    notes, resolved = [], []
    for start, end in spans(len(events), cuts):
        items = [{"identifiers": list(e.identifiers), "traits": e.traits} for e in events[start:end]]
        results = profiles_identify_batch(store=store, items=items, source=SOURCE)
        for index, result in enumerate(results, start=start):
            assert isinstance(result, IdentifyResult), result
            notes += notes_of_identify_result(index, result)
            resolved.append(result.profile.pk)
    return database_canonical(store, events, notes, resolved)


def import_columns(rules, traits) -> tuple[list[str], list[str]]:
    """Headers and mapping specs: MAX_IDENTIFIERS columns per kind, then one per Contact trait."""
    headers = [f"{rule.kind}{n}" for rule in rules for n in range(1, MAX_IDENTIFIERS + 1)]
    specs = [f"{header}=identifier:{header[:-1]}" for header in headers]
    return [*headers, *traits], [*specs, *(f"{name}=Contact.{name}" for name in traits)]


def import_file(rules, events) -> tuple[str, list[str]]:
    """The events as one CSV file, rows in order: a kind's values in its columns in event order; a
    removed trait as \\N. Its text and mapping specs."""
    traits = list(events[0].traits["Contact"])
    assert all(set(e.traits["Contact"]) == set(traits) for e in events), "a file's rows set the same traits"
    headers, specs = import_columns(rules, traits)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    for e in events:
        cells = []
        for rule in rules:
            values = [value for kind, value in e.identifiers if kind == rule.kind]
            cells += values + [""] * (MAX_IDENTIFIERS - len(values))
        contact = e.traits["Contact"]
        cells += ["\\N" if contact[name] is None else contact[name] for name in traits]
        writer.writerow(cells)
    return out.getvalue(), specs


def import_in_files(store, rules, events, cuts=(), chunk_rows=10_000) -> Canonical:
    """(c) One CSV import per part of the stream, run inline (`import_run`, as the worker does)."""
    notes = []
    with mock.patch.object(import_run_module, "CHUNK_ROWS", chunk_rows):
        for start, end in spans(len(events), cuts):
            text, specs = import_file(rules, events[start:end])
            finished = imports_helpers.run(store, text, specs, name=f"events-{start}.csv")
            assert finished.status == ImportStatus.COMPLETED, finished.failure_reason
            assert (finished.rows_ingested, finished.rows_failed) == (end - start, 0)
            notes += notes_of_import(finished, start)
    return database_canonical(store, events, notes)


def import_chunk_starts(length: int, cuts, chunk_rows: int) -> list[int]:
    """The first event of every chunk the imports resolve: each file is read in chunks of `chunk_rows`."""
    return [chunk for start, end in spans(length, cuts) for chunk in range(start, end, chunk_rows)]


def expected_of_import(outcome: Outcome, events, cuts, chunk_rows) -> Canonical:
    """The model's outcome as an import writes it: a merge leaves a record and a tombstone only when
    the merged profile was created before the merge's chunk began."""
    starts = import_chunk_starts(len(events), cuts, chunk_rows)

    def written(merge) -> bool:
        chunk_start = max(start for start in starts if start <= merge.event)
        return outcome.profiles[merge.from_profile].created_by < chunk_start

    return model_canonical(outcome, events, written=written, resolved=False)


def paths_agree_with_model(account, scenario: Scenario) -> Outcome:
    """Run every path on a fresh store each and compare it with the model; the model's outcome."""
    rules, events, cuts = list(scenario.rules), list(scenario.events), scenario.cuts
    outcome = resolve(rules, events)
    expected = model_canonical(outcome, events)

    assert_same("(a) profile_identify", identify_one_by_one(store_with_rules(account, rules), events), expected)
    assert_same("(b) one batch", identify_in_batches(store_with_rules(account, rules), events), expected)
    if cuts:
        assert_same("(b) batches", identify_in_batches(store_with_rules(account, rules), events, cuts), expected)
    imported = import_in_files(store_with_rules(account, rules), rules, events, cuts, scenario.chunk_rows)
    assert_same("(c) CSV import", imported, expected_of_import(outcome, events, cuts, scenario.chunk_rows))
    return outcome


def assert_same(path: str, actual: Canonical, expected: Canonical) -> None:
    """Equal, or an error naming the path and showing each part that differs."""
    differences = [
        f"{part.name}:\n    {path}: {getattr(actual, part.name)}\n    model: {getattr(expected, part.name)}"
        for part in fields(Canonical)
        if getattr(actual, part.name) != getattr(expected, part.name)
    ]
    assert not differences, f"{path} differs from the model:\n  " + "\n  ".join(differences)


def has_chained_merges(outcome: Outcome) -> bool:
    """Whether a profile that took a merge was merged away later (its tombstones re-pointed)."""
    intos = set()
    for merge in outcome.merges:
        if merge.from_profile in intos:
            return True
        intos.add(merge.into_profile)
    return False


# --- the property ------------------------------------------------------------------------------


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not RANDOM,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios())
def test_every_writer_path_ends_where_the_model_ends(account, scenario):
    outcome = paths_agree_with_model(account, scenario)
    # What the examples exercised: pytest --hypothesis-show-statistics lists these.
    hypothesis.event(f"merges: {min(len(outcome.merges), 3)}{'+' if len(outcome.merges) >= 3 else ''}")
    hypothesis.event(f"chained merges: {has_chained_merges(outcome)}")
    for category in (LIMIT, MERGE_BLOCKED, LOWER_PRIORITY_DROPPED, LIMIT_REPLACED, BLOCKED_VALUE):
        hypothesis.event(f"{category} notes: {any(note.category == category for note in outcome.notes)}")
    hypothesis.event(f"FIFO rules: {sum(rule.policy == FIFO for rule in scenario.rules)}")
    hypothesis.event(f"files: {len(scenario.cuts) + 1}, chunk rows: {scenario.chunk_rows}")


# --- known tricky cases, spelled out -----------------------------------------------------------

PHONE_EMAIL_CHAT = (Rule("phone", 5), Rule("email", 5), Rule("chat", 10))  # the defaults' order


def test_a_tie_goes_to_the_oldest_profile_even_when_a_batch_created_it_later_in_turn(account):
    """Issue 14's batch-order case: "first" and "second" are created in item order, so when an
    event matches both (same rule), "first" is the oldest and primary."""
    first, second = ("email", "tie.first@example.org"), ("email", "tie.second@example.org")
    events = (
        event(0, first),
        event(1, second),
        event(2, first),
        event(3, first, second, sets=["firstName"], removes=["address"]),
    )
    outcome = paths_agree_with_model(account, Scenario(PHONE_EMAIL_CHAT, events, cuts=(3,)))
    assert outcome.resolved == [0, 1, 0, 0]
    assert [(m.from_profile, m.into_profile) for m in outcome.merges] == [(1, 0)]
    (live,) = outcome.live()
    assert live.traits == {"Contact": {"firstName": "3", "lastName": "2"}}  # "first"'s lastName, not "second"'s


def test_a_merge_that_would_exceed_a_limit_is_blocked_and_noted(account):
    """Both profiles hold a phone (limit 1): an event matching both by email leaves them apart."""
    rules = (Rule("phone", 1), Rule("email", 3))
    events = (
        event(0, ("email", "a@example.org"), ("phone", "+14155550101")),
        event(1, ("email", "b@example.org"), ("phone", "+14155550102")),
        event(2, ("email", "a@example.org"), ("email", "b@example.org")),
    )
    outcome = paths_agree_with_model(account, Scenario(rules, events))
    assert outcome.merges == []
    assert model_notes(outcome) == [(2, MERGE_BLOCKED, "email", "b@example.org")]
    assert outcome.resolved == [0, 1, 0]


def test_an_identifier_over_its_kinds_limit_is_dropped_and_noted(account):
    """Email limit 1: a new profile keeps its first email; a matched one keeps the one it has."""
    rules = (Rule("email", 1), Rule("chat", 2))
    events = (
        event(0, ("email", "a@example.org"), ("email", "b@example.org")),
        event(1, ("chat", "chat-a"), ("email", "a@example.org"), ("email", "c@example.org")),
        event(2, ("email", "b@example.org")),
    )
    outcome = paths_agree_with_model(account, Scenario(rules, events, cuts=(1,)))
    assert model_notes(outcome) == [(0, LIMIT, "email", "b@example.org"), (1, LIMIT, "email", "c@example.org")]
    assert sorted(p.identifiers for p in outcome.live()) == [
        [("email", "a@example.org"), ("chat", "chat-a")],
        [("email", "b@example.org")],  # dropped by event 0, so still free for event 2
    ]


def test_a_chain_of_merges_leaves_every_tombstone_one_hop_from_the_live_profile(account):
    """A (chat) is merged into B (email), then B into C (phone): A's tombstone is re-pointed to C.
    Split into files so the import writes both merges (A and B exist before the file merging them)."""
    a, b, c = ("chat", "chat-a"), ("email", "b@example.org"), ("phone", "+14155550103")
    events = (event(0, a), event(1, b), event(2, b, a), event(3, c), event(4, c, b))
    outcome = paths_agree_with_model(account, Scenario(PHONE_EMAIL_CHAT, events, cuts=(2, 4), chunk_rows=1))
    assert [(m.event, m.from_profile, m.into_profile) for m in outcome.merges] == [(2, 0, 1), (4, 1, 2)]
    assert [p.merged_into for p in outcome.profiles.values()] == [2, 2, None]
    assert outcome.resolved == [0, 1, 1, 2, 2]


def test_a_merge_keeps_the_primarys_values_and_fills_its_gaps(account):
    """The primary (matched by phone) keeps its address and takes the merged profile's lastName,
    which it had removed; the merging event sets neither, so what the merge did is what is left."""
    p, e = ("phone", "+14155550101"), ("email", "a@example.org")
    events = (
        event(0, e, sets=["lastName", "address"]),
        event(1, p, sets=["address"], removes=["lastName"]),
        event(2, p, e, sets=["firstName", "phone"]),
    )
    outcome = paths_agree_with_model(account, Scenario(PHONE_EMAIL_CHAT, events, cuts=(1, 2)))
    (live,) = outcome.live()
    assert live.traits == {"Contact": {"address": "1", "lastName": "0", "firstName": "2", "phone": "2"}}


def test_other_profiles_merge_best_rule_first_then_oldest_first_until_a_limit_blocks(account):
    """Loyalty (a custom kind) has a limit of 1 and every matched profile holds one: only the first
    profile merged brings its loyalty id; the rest are blocked. Email outranks chat whatever the
    ages (event 3), and between profiles matched by the same rule the older goes first (event 7)."""
    rules = (Rule("phone", 3), Rule("email", 3), Rule("chat", 3), Rule("loyalty", 1))
    events = (
        event(0, ("chat", "chat-a"), ("loyalty", "L-1")),  # profile 0: the oldest, matched by chat
        event(1, ("email", "a@example.org"), ("loyalty", "L-2")),  # profile 1
        event(2, ("phone", "+14155550101")),  # profile 2: the primary of event 3
        event(3, ("phone", "+14155550101"), ("chat", "chat-a"), ("email", "a@example.org")),
        event(4, ("email", "b@example.org"), ("loyalty", "L-3")),  # profile 3: older...
        event(5, ("email", "c@example.org"), ("loyalty", "L-4")),  # profile 4: ...than this one
        event(6, ("phone", "+14155550102")),  # profile 5: the primary of event 7
        event(7, ("phone", "+14155550102"), ("email", "c@example.org"), ("email", "b@example.org")),
    )
    outcome = paths_agree_with_model(account, Scenario(rules, events, cuts=(4,)))
    assert [(m.event, m.from_profile, m.into_profile) for m in outcome.merges] == [(3, 1, 2), (7, 3, 5)]
    assert model_notes(outcome) == [(3, MERGE_BLOCKED, "chat", "chat-a"), (7, MERGE_BLOCKED, "email", "c@example.org")]


def test_limits_keep_the_best_identifier_only_when_every_leading_identifier_is_below_the_full_kind(account):
    """Phone (limit 1) outranks email and chat. Event 1 reached the full profile only through an
    email: the email is left out and the new phone starts a profile of its own. Event 3 reached it
    through a phone too: nothing is left out, the new phone is dropped."""
    rules = (Rule("phone", 1), Rule("email", 3), Rule("chat", 3))
    p1, p2, p3 = (("phone", value) for value in POOLS["phone"])
    a, c = ("email", "a@example.org"), ("chat", "chat-a")
    events = (event(0, a, p1), event(1, a, p2), event(2, p1, c), event(3, p1, c, p3))
    outcome = paths_agree_with_model(account, Scenario(rules, events))
    assert model_notes(outcome) == [(1, LOWER_PRIORITY_DROPPED, *a), (3, LIMIT, *p3)]
    assert outcome.resolved == [0, 1, 0, 0]


def test_fifo_replaces_the_oldest_value_the_event_does_not_name(account):
    """Email (limit 2, FIFO): event 2 names a, so b (the oldest it does not name) makes room for c
    and then identifies no one (event 3 starts a profile with it). Event 4 names every email the
    profile holds: the new one is dropped, and no lower-priority identifier is left out for it."""
    rules = (Rule("email", 2, FIFO), Rule("phone", 3))
    a, b, c = (("email", value) for value in POOLS["email"])
    p1 = ("phone", POOLS["phone"][0])
    events = (event(0, a), event(1, a, b), event(2, a, c), event(3, b), event(4, a, c, p1, b))
    outcome = paths_agree_with_model(account, Scenario(rules, events, cuts=(2,), chunk_rows=1))
    assert model_notes(outcome) == [(2, LIMIT_REPLACED, *b), (4, MERGE_BLOCKED, *b)]
    assert sorted(p.identifiers for p in outcome.live()) == [[a, c, p1], [b]]


def test_a_fifo_kind_at_its_limit_never_leaves_out_a_lower_priority_identifier(account):
    rules = (Rule("email", 1, FIFO), Rule("phone", 3))
    a, c = ("email", "a@example.org"), ("email", "c@example.org")
    p1 = ("phone", POOLS["phone"][0])
    outcome = paths_agree_with_model(account, Scenario(rules, (event(0, a, p1), event(1, a, p1, c))))
    assert model_notes(outcome) == [(1, LIMIT, *c)]


def test_a_blocked_value_identifies_no_one(account):
    """Email blocks a@example.org (as a pattern, ignoring case): both events name it, neither is
    identified by it, so they stay apart."""
    rules = (Rule("email", 2, blocked=("A*G",)), Rule("phone", 2))
    a, p1, p2 = ("email", "a@example.org"), ("phone", POOLS["phone"][0]), ("phone", POOLS["phone"][1])
    outcome = paths_agree_with_model(account, Scenario(rules, (event(0, a, p1), event(1, p2, a, a))))
    assert model_notes(outcome) == [(0, BLOCKED_VALUE, *a), (1, BLOCKED_VALUE, *a), (1, BLOCKED_VALUE, *a)]
    assert outcome.resolved == [0, 1]
