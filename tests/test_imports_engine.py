"""The chunked import engine ends where `profile_identify` called row by row, in file order, ends.

`imports.engine.ChunkResolver` resolves a chunk of rows in memory and writes it in bulk (COPY and
raw SQL on PostgreSQL). Its one documented difference: a profile created by one row of the file and
merged into another by a later row is never written, so no tombstone or merge record exists for
it. The comparison is therefore of live profiles (identifiers and traits) and of what became of
the profiles that existed before the import.
"""

import threading
import time

import pytest
from django.db import IntegrityError
from django.utils import timezone

from identity.models import Identifier, IdentityRule
from identity.resolution import Code
from identity.services import identity_rule_update, profile_identify
from imports.engine import ChunkResolver
from imports.models import ImportRowError, ImportStatus
from imports.overlap import ChunkPipeline
from imports.rows import RowCode
from profiles.models import Event, Profile
from profiles.selectors import profile_resolve
from tests.imports_helpers import CONTACT, csv_text, run
from traits.services import trait_create, trait_group_create
from workspace.services import store_create


@pytest.fixture(autouse=True)
def _imports_dir(settings, tmp_path):
    settings.IMPORTS_DIR = tmp_path / "imports"


def ph(n: int) -> str:
    return f"+1415555{n:04d}"


def set_limit(store, kind, limit):
    rule = IdentityRule.objects.get(store=store, kind=kind)
    identity_rule_update(rule=rule, actor=None, name=rule.name, limit=limit)


KINDS = {
    "Email": "email",
    "Email2": "email",
    "Phone": "phone",
    "Phone2": "phone",
    "WhatsApp": "whatsappid",
    "Chat": "chat",
}
HEADER = [*KINDS, "First", "Last"]
SPECS = [f"{header}=identifier:{kind}" for header, kind in KINDS.items()] + [
    "First=Contact.firstName",
    "Last=Contact.lastName",
]


def row(**cells) -> dict:
    assert set(cells) <= set(HEADER)
    return {header: cells.get(header, "") for header in HEADER}


def as_csv(rows) -> str:
    return csv_text(*(",".join(r[h] for h in HEADER) for r in rows), header=",".join(HEADER))


def as_identify(r: dict) -> dict:
    identifiers = [(kind, r[header]) for header, kind in KINDS.items() if r[header] not in ("", "\\N")]
    return {"identifiers": identifiers, "traits": {"Contact": {"firstName": r["First"], "lastName": r["Last"]}}}


# Address and Prefs.tier are not mapped: only merges (which fill gaps, the primary's value winning)
# change them, so they show which profile each merge went into.
SEED = [
    ([("email", "s0@example.com")], {"Contact": {"firstName": "S0", "address": "S0 Road"}, "Prefs": {"tier": "gold"}}),
    ([("phone", ph(2001))], {"Contact": {"firstName": "S1", "lastName": "One"}, "Prefs": {"tier": "silver"}}),
    ([("chat", "c2")], {"Contact": {"address": "S2 Street"}, "Prefs": {"tier": "s2"}}),
    ([("phone", ph(2041))], {"Contact": {"firstName": "S4"}}),
    ([("phone", ph(2051))], {"Contact": {"firstName": "S5"}, "Prefs": {"tier": "bronze"}}),
    ([("whatsappid", ph(2061))], {"Contact": {"address": "S6 Lane"}}),
    ([("email", "s7a@example.com"), ("email", "s7b@example.com")], {}),
    ([("email", "u1@example.com")], {"Contact": {"address": "U1 addr"}, "Prefs": {"tier": "u1"}}),
    ([("phone", ph(2073))], {"Prefs": {"tier": "t3"}}),  # T3, older than T2 and T1
    ([("email", "t2@example.com")], {"Contact": {"address": "T2 addr"}}),  # T2
    ([("chat", "t1c")], {"Contact": {"address": "T1 addr"}, "Prefs": {"tier": "t1"}}),  # T1
    ([("phone", ph(2201))], {"Contact": {"firstName": "P"}}),
    ([("email", "q1@example.com"), ("email", "q2@example.com")], {"Prefs": {"tier": "q"}}),  # Q, older than R
    ([("email", "r1@example.com")], {"Prefs": {"tier": "r"}}),  # R
]

# Limits: phone 1, email 2 (whatsappid 5, chat 10). Comments say what profile_identify does.
ROWS = [
    row(Email="n0@example.com", First="N0", Last="L0"),  # 0: new profile N0
    row(Email="s0@example.com", Phone=ph(2002), First="S0b"),  # 1: matches S0, adds a phone
    row(Email="N0@Example.com", First="N0b"),  # 2: in-file repeat of N0 (email in another case)
    row(Phone=ph(2001), Chat="c2", First="S1", Last="One"),  # 3: S2 merged into S1 (phone outranks chat)
    row(Phone=ph(2041), Phone2=ph(2051), First="S4b"),  # 4: S4 primary (older); S5 blocked: 2 phones > 1
    row(Email="s7a@example.com", Email2="s7new@example.com"),  # 5: S7 holds 2 emails: s7new dropped
    row(Phone=ph(2070), First="N6"),  # 6: new profile N6
    row(Phone=ph(2070), Email="u1@example.com", First="N6b"),  # 7: file profile N6 primary, older U1 merged in
    row(Chat="t1c", Email="t1new@example.com"),  # 8: T1 gains an email...
    row(Email="t2@example.com", Chat="t1c"),  # 9: ...then T1 is merged into T2 (email outranks chat)...
    row(Phone=ph(2073), Email="t2@example.com"),  # 10: ...and T2 into T3: T1's tombstone re-pointed to T3
    row(Chat="t1c", First="via tombstone"),  # 11: T1's old chat now finds T3
    row(WhatsApp=ph(2061), Email="n0@example.com"),  # 12: file profile N0 primary, existing S6 merged in
    row(Phone=ph(2001), Email="n0@example.com"),  # 13: N0 (holding S6) merged into S1
    row(WhatsApp=f"whatsapp:{ph(2061)}", Last="W"),  # 14: S6's whatsapp now finds S1
    row(Email="n15@example.com", First="N15"),  # 15: new N15
    row(Email="n16@example.com", First="N16"),  # 16: new N16
    row(Email="n15@example.com", Email2="n16@example.com"),  # 17: N16 merged into the older N15
    row(Email="s0@example.com", First="\\N", Last="\\N"),  # 18: deletes S0's names
    row(Phone=ph(2091), Phone2=ph(2092), First="N19"),  # 19: new profile; the second phone is dropped
    row(Phone=ph(2101), First="NA"),  # 20: new NA
    row(Phone=ph(2201), Email="q1@example.com", Email2="r1@example.com"),  # 21: Q merged into P, then R blocked
    row(Phone=ph(2102), First="NB"),  # 22: new NB (starts a chunk of 2: NA was written by an earlier chunk)
    row(Phone=ph(2101), Phone2=ph(2102), Email="c@example.com", First="C"),  # 23: NA primary (older), NB blocked
    row(Email="n0@example.com", First="end"),  # 24: N0's email now finds S1
    row(Email="s7new@example.com", First="S7new"),  # 25: dropped at row 5, so still free: a new profile
    row(Phone=ph(2092), First="was dropped"),  # 26: dropped at row 19: a new profile
]


def _store(account, name):
    store = store_create(account=account, actor=None, name=name)
    group = trait_group_create(store=store, actor=None, name="Prefs")
    trait_create(group=group, actor=None, name="tier", data_type="string")
    set_limit(store, "phone", 1)
    set_limit(store, "email", 2)
    seeded = [
        profile_identify(store=store, identifiers=ids, traits=traits, source="seed").profile for ids, traits in SEED
    ]
    for position in (2, 7, 10):  # S2, U1 and T1 have events; merges must carry them to the live profile
        Event.objects.create(store=store, profile=seeded[position], name=f"event-{position}", timestamp=timezone.now())
    return store, [p.pk for p in seeded]


def identifiers_of(profile) -> tuple:
    return tuple(sorted(profile.identifiers.values_list("kind", "value")))


def live_profiles(store):
    profiles = Profile.objects.filter(store=store, merged_into__isnull=True)
    return sorted(
        ((identifiers_of(p), p.traits, sorted(p.events.values_list("name", flat=True))) for p in profiles),
        key=lambda item: item[0],
    )


def fate_of_seeded(store, pks):
    """Per seeded profile: None if live, else the identifiers of the live profile its tombstone points to."""
    fates = []
    for pk in pks:
        profile = Profile.objects.get(pk=pk)
        if profile.merged_into_id is None:
            fates.append(None)
            continue
        target = Profile.objects.get(pk=profile.merged_into_id)
        assert target.merged_into_id is None, "tombstone chains stay one hop long"
        assert profile_resolve(store=store, profile_id=pk) == target
        fates.append(identifiers_of(target))
    return fates


@pytest.mark.parametrize("forked", [False, True], ids=["rows checked in-process", "rows checked in a child"])
@pytest.mark.parametrize("chunk_rows", [2, 1000])
def test_an_import_ends_where_identifying_each_row_in_file_order_ends(account, monkeypatch, chunk_rows, forked):
    from imports import pipeline

    if forked:
        monkeypatch.setattr(pipeline, "PARALLEL_MIN_ROWS", 0)
    assert ROWS[22]["First"] == "NB" and 22 % 2 == 0  # rows 22-23 share a chunk of 2; row 20 was written before
    row_by_row, row_pks = _store(account, "Row by row")
    imported, import_pks = _store(account, "Imported")

    expected_dropped, expected_blocked = set(), set()
    for position, r in enumerate(ROWS):
        result = profile_identify(store=row_by_row, source="rows", **as_identify(r))
        line = position + 2
        expected_dropped |= {(line, note.kind, note.value) for note in result.dropped}
        expected_blocked |= {(line, frozenset(note.shown.split("; "))) for note in result.blocked_merges}

    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", chunk_rows)
    finished = run(imported, as_csv(ROWS), SPECS)
    assert finished.status == ImportStatus.COMPLETED, finished.failure_reason
    assert (finished.rows_ingested, finished.rows_failed) == (len(ROWS), 0)

    assert live_profiles(imported) == live_profiles(row_by_row)
    assert fate_of_seeded(imported, import_pks) == fate_of_seeded(row_by_row, row_pks)
    for store in (imported, row_by_row):
        assert not Identifier.objects.filter(store=store, profile__merged_into__isnull=False).exists()

    notes = ImportRowError.objects.filter(profile_import=finished, row_failed=False)
    dropped = {(n.line, n.column, n.value) for n in notes if n.code == Code.LIMIT_REACHED}
    blocked = {(n.line, frozenset(n.value.split("; "))) for n in notes if n.code == Code.MERGE_BLOCKED}
    assert len(notes) == len(dropped) + len(blocked) == finished.identifiers_dropped
    assert dropped == expected_dropped
    assert blocked == expected_blocked
    # the cases the rows were written for really happened
    assert {line for line, *_ in expected_dropped} == {7, 21}
    assert {line for line, _ in expected_blocked} == {6, 23, 25}


def test_the_sequence_proves_what_its_comments_say(account):
    """Pin the expected end state, so a change to profile_identify cannot quietly hollow out the comparison."""
    store, pks = _store(account, "Rows")
    for r in ROWS:
        profile_identify(store=store, source="rows", **as_identify(r))
    s0, s1, s2, s4, s5, s6, s7, u1, t3, t2, t1, p, q, r_ = (Profile.objects.get(pk=pk) for pk in pks)
    assert [x.merged_into_id for x in (s2, s6, t2, t1, q)] == [s1.pk, s1.pk, t3.pk, t3.pk, p.pk]
    assert [x.merged_into_id for x in (s0, s1, s4, s5, s7, t3, p, r_)] == [None] * 8
    assert u1.merged_into_id is not None and Profile.objects.get(pk=u1.merged_into_id).traits["Contact"] == {
        "firstName": "N6b",
        "lastName": "",
        "address": "U1 addr",
    }
    assert s1.traits == {
        "Contact": {"firstName": "end", "lastName": "", "address": "S2 Street"},
        "Prefs": {"tier": "silver"},
    }
    assert identifiers_of(s1) == tuple(
        sorted(
            [("phone", ph(2001)), ("chat", "c2"), ("email", "n0@example.com"), ("whatsappid", f"whatsapp:{ph(2061)}")]
        )
    )
    assert t3.traits == {
        "Contact": {"firstName": "via tombstone", "lastName": "", "address": "T2 addr"},
        "Prefs": {"tier": "t3"},
    }
    assert ("email", "t1new@example.com") in identifiers_of(t3)
    assert sorted(t3.events.values_list("name", flat=True)) == ["event-10"]
    assert sorted(s1.events.values_list("name", flat=True)) == ["event-2"]
    assert s0.traits == {"Contact": {"address": "S0 Road"}, "Prefs": {"tier": "gold"}}
    na = Identifier.objects.get(store=store, value=ph(2101)).profile
    assert identifiers_of(na) == (("email", "c@example.com"), ("phone", ph(2101)))
    assert na.traits["Contact"]["firstName"] == "C"
    assert Identifier.objects.get(store=store, value=ph(2102)).profile.traits["Contact"]["firstName"] == "NB"
    assert Identifier.objects.get(store=store, value="s7new@example.com").profile_id != s7.pk


def test_notes_report_blocked_merges_and_dropped_identifiers_and_the_rows_still_go_in(store):
    set_limit(store, "email", 1)
    p = profile_identify(store=store, identifiers=[("phone", ph(2401)), ("email", "p@example.com")], source="s").profile
    q = profile_identify(store=store, identifiers=[("email", "q@example.com")], source="s").profile
    finished = run(
        store,
        csv_text(
            f"q@example.com,{ph(2401)},Merge,Blocked",  # 2: q's profile would bring a 2nd email to p's
            f"extra@example.com,{ph(2401)},Extra,Dropped",  # 3: p already holds its one email
            "bad-email,,X,Y",  # 4: a failed row, not a note
        ),
        CONTACT,
    )
    assert finished.status == ImportStatus.COMPLETED
    assert (finished.rows_ingested, finished.rows_failed, finished.identifiers_dropped) == (2, 1, 2)
    notes = ImportRowError.objects.filter(profile_import=finished, row_failed=False).order_by("line")
    assert [(n.line, n.column, n.value, n.code) for n in notes] == [
        (2, "", "email:q@example.com", Code.MERGE_BLOCKED),
        (3, "email", "extra@example.com", Code.LIMIT_REACHED),
    ]
    assert f"profile {q.pk}" in notes[0].reason  # the words name the profile not merged with
    assert ImportRowError.objects.get(profile_import=finished, row_failed=True).code == RowCode.INVALID_IDENTIFIER
    assert ImportRowError.objects.get(profile_import=finished, row_failed=True).line == 4
    p.refresh_from_db()
    q.refresh_from_db()
    assert q.merged_into_id is None and p.traits["Contact"] == {"firstName": "Extra", "lastName": "Dropped"}
    assert identifiers_of(p) == (("email", "p@example.com"), ("phone", ph(2401)))


def test_a_blocked_merge_with_a_profile_of_the_same_file_is_noted_as_such(store):
    set_limit(store, "phone", 1)
    specs = ["Email=identifier:email", "Phone=identifier:phone", "Phone2=identifier:phone", *CONTACT[2:]]
    finished = run(
        store,
        csv_text(
            f",{ph(2501)},,A,",  # 2: new profile A
            f",{ph(2502)},,B,",  # 3: new profile B
            f"a@example.com,{ph(2501)},{ph(2502)},C,",  # 4: A primary (older); B would bring a 2nd phone
            header="Email,Phone,Phone2,First,Last",
        ),
        specs,
    )
    notes = ImportRowError.objects.filter(profile_import=finished, row_failed=False)
    assert [(n.line, n.value, n.code) for n in notes] == [(4, f"phone:{ph(2502)}", Code.MERGE_BLOCKED)]
    assert "a profile created earlier in this import" in notes[0].reason
    a = Identifier.objects.get(store=store, value=ph(2501)).profile
    assert identifiers_of(a) == (("email", "a@example.com"), ("phone", ph(2501)))
    assert a.traits["Contact"]["firstName"] == "C"
    assert Identifier.objects.get(store=store, value=ph(2502)).profile.traits["Contact"]["firstName"] == "B"
    assert (finished.profiles_created, finished.profiles_merged) == (2, 0)


@pytest.mark.parametrize("chunk_rows", [1, 1000])
def test_counts_of_created_updated_and_merged_profiles_do_not_depend_on_chunks(store, monkeypatch, chunk_rows):
    """created: live profiles the import made; merged: earlier profiles it tombstoned; updated: earlier live ones."""
    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", chunk_rows)
    a = profile_identify(
        store=store, identifiers=[("email", "a@example.com")], traits={"Contact": {"firstName": "A"}}, source="s"
    ).profile
    b = profile_identify(store=store, identifiers=[("phone", ph(2301))], source="s").profile
    c = profile_identify(store=store, identifiers=[("email", "c@example.com")], source="s").profile
    d = profile_identify(
        store=store,
        identifiers=[("email", "d@example.com")],
        traits={"Contact": {"firstName": "D", "lastName": ""}},
        source="s",
    ).profile
    e = profile_identify(store=store, identifiers=[("email", "e@example.com")], source="s").profile
    finished = run(
        store,
        csv_text(
            "e@example.com,,E2,",  # updates E...
            f"e@example.com,{ph(2301)},B,",  # ...then merges it into B: merged, not updated
            "a@example.com,,A2,",  # updates A
            "new1@example.com,,N1,",  # creates N1
            f"c@example.com,{ph(2301)},B,",  # merges C into B, updates B
            "new2@example.com,,N2,",  # creates N2...
            f"new2@example.com,{ph(2301)},B,",  # ...and merges it into B: never written
            "a@example.com,,A2,",  # A again, unchanged
            "d@example.com,,D,",  # D matched but unchanged: not counted as updated
            "new3@example.com,,N3,",  # creates N3
        ),
        CONTACT,
    )
    assert finished.status == ImportStatus.COMPLETED
    assert (finished.profiles_created, finished.profiles_updated, finished.profiles_merged) == (2, 2, 2)
    assert Profile.objects.filter(store=store, merged_into__isnull=True).count() == 3 + 2  # A, B, D + N1, N3
    assert Profile.objects.get(pk=c.pk).merged_into_id == b.pk
    assert Profile.objects.get(pk=e.pk).merged_into_id == b.pk
    assert Identifier.objects.get(store=store, value="new2@example.com").profile_id == b.pk
    assert Profile.objects.get(pk=d.pk).updated_at == d.updated_at
    assert Profile.objects.get(pk=a.pk).traits["Contact"] == {"firstName": "A2", "lastName": ""}


def test_profiles_created_by_an_earlier_chunk_count_as_created_not_updated(store, monkeypatch):
    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", 1)
    finished = run(store, csv_text("a@example.com,,A,", "a@example.com,,A2,", f"a@example.com,{ph(2701)},A3,"), CONTACT)
    assert (finished.profiles_created, finished.profiles_updated, finished.profiles_merged) == (1, 0, 0)
    profile = Profile.objects.get(store=store)
    assert profile.traits["Contact"]["firstName"] == "A3"
    assert profile.created_at == finished.started_at  # the import's time, on every database


def test_a_chunk_that_loses_a_race_for_a_new_identifier_is_redone_and_matches_the_winner(store, monkeypatch):
    winner = profile_identify(
        store=store, identifiers=[("email", "taken@example.com")], traits={"Contact": {"firstName": "W"}}, source="s"
    ).profile
    real = ChunkResolver._holders
    calls = []

    def stale_holders(self, pairs):
        calls.append(1)
        holders = real(self, pairs)
        if len(calls) == 1:  # as if another writer added the identifier just after our lookup
            holders.pop(("email", "taken@example.com"))
        return holders

    monkeypatch.setattr(ChunkResolver, "_holders", stale_holders)
    finished = run(store, csv_text("taken@example.com,,Ada,L", "free@example.com,,Bo,L"), CONTACT)
    assert finished.status == ImportStatus.COMPLETED, finished.failure_reason
    assert len(calls) == 2
    assert Identifier.objects.get(store=store, value="taken@example.com").profile_id == winner.pk
    assert Profile.objects.get(pk=winner.pk).traits["Contact"] == {"firstName": "Ada", "lastName": "L"}
    assert Profile.objects.filter(store=store).count() == 2
    assert (finished.profiles_created, finished.profiles_updated) == (1, 1)


def test_a_chunk_that_keeps_losing_the_race_fails_the_import_with_nothing_applied(store, monkeypatch):
    profile_identify(store=store, identifiers=[("email", "taken@example.com")], source="s")
    real = ChunkResolver._holders

    def always_stale(self, pairs):
        holders = real(self, pairs)
        holders.pop(("email", "taken@example.com"), None)
        return holders

    monkeypatch.setattr(ChunkResolver, "_holders", always_stale)
    finished = run(store, csv_text("free@example.com,,Bo,L", "taken@example.com,,Ada,L"), CONTACT)
    assert finished.status == ImportStatus.FAILED
    assert finished.failure_reason.startswith(f"Internal error ({IntegrityError.__name__}")
    assert Profile.objects.filter(store=store).count() == 1
    assert not Identifier.objects.filter(store=store, value="free@example.com").exists()


def test_a_lost_race_in_a_later_chunk_redoes_it_and_the_chunk_resolved_meanwhile(store, monkeypatch):
    # Chunk 2 is resolved while chunk 1 is written, and chunk 3 while chunk 2 is written: when chunk 2's
    # write loses the race, chunk 3 (resolved against chunk 2's rolled-back writes) is resolved again.
    winner = profile_identify(
        store=store, identifiers=[("email", "taken@example.com")], traits={"Contact": {"lastName": "W"}}, source="s"
    ).profile
    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", 1)
    real = ChunkResolver._holders
    stale = []

    def stale_once(self, pairs):
        holders = real(self, pairs)
        if ("email", "taken@example.com") in holders and not stale:
            stale.append(1)  # as if another writer added it just after this lookup
            holders.pop(("email", "taken@example.com"))
        return holders

    monkeypatch.setattr(ChunkResolver, "_holders", stale_once)
    rows = [
        "one@example.com,,One,L",
        "taken@example.com,,Ada,L",
        "taken@example.com,,Ada2,",  # chunk 3: must find the winner, not chunk 2's rolled-back profile
        "one@example.com,,One2,",
    ]
    finished = run(store, csv_text(*rows), CONTACT)
    assert finished.status == ImportStatus.COMPLETED, finished.failure_reason
    assert stale == [1]
    assert Identifier.objects.get(store=store, value="taken@example.com").profile_id == winner.pk
    assert Profile.objects.get(pk=winner.pk).traits["Contact"] == {"firstName": "Ada2", "lastName": ""}
    one = Identifier.objects.get(store=store, value="one@example.com").profile
    assert one.traits["Contact"] == {"firstName": "One2", "lastName": ""}
    assert Profile.objects.filter(store=store).count() == 2
    assert (finished.rows_ingested, finished.profiles_created, finished.profiles_updated) == (4, 1, 1)


@pytest.mark.parametrize("failing", ["_update_profiles", "_load"], ids=["a chunk's write", "reading the next chunk"])
def test_an_error_while_a_chunk_is_written_fails_the_import_with_nothing_applied(store, monkeypatch, failing):
    # With chunks of one row, chunk 1's write runs (in a thread on PostgreSQL) while chunk 2 is read.
    before = profile_identify(
        store=store, identifiers=[("email", "old@example.com")], traits={"Contact": {"firstName": "Old"}}, source="s"
    ).profile
    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", 1)
    real = getattr(ChunkResolver, failing)
    calls = []

    def breaks_the_second_time(self, *args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(self, *args)

    monkeypatch.setattr(ChunkResolver, failing, breaks_the_second_time)
    rows = ["old@example.com,,New,", "a@example.com,,A,", "old@example.com,,Newer,", "b@example.com,,B,"]
    finished = run(store, csv_text(*rows), CONTACT)
    assert finished.status == ImportStatus.FAILED
    assert "RuntimeError: disk full" in finished.failure_reason
    assert Profile.objects.filter(store=store).count() == 1
    assert Identifier.objects.filter(store=store).count() == 1
    assert Profile.objects.get(pk=before.pk).traits["Contact"] == {"firstName": "Old"}


@pytest.mark.postgres
def test_an_interrupt_while_the_worker_waits_for_the_database_thread_waits_for_it_before_rolling_back(
    store, monkeypatch
):
    # Ctrl-C during `import_profiles` most likely lands while the worker waits for the database
    # thread: the transaction may only be rolled back once that thread has stopped using the connection.
    monkeypatch.setattr("imports.services.run.CHUNK_ROWS", 1)
    started, alive_at_close = [], []

    class InterruptedOnce(threading.Thread):
        interrupted = False

        def start(self):
            started.append(self)
            super().start()

        def join(self, timeout=None):
            if writing and not InterruptedOnce.interrupted:
                InterruptedOnce.interrupted = True
                raise KeyboardInterrupt  # while a chunk is being written
            super().join(timeout)

    real_write, real_close = ChunkResolver.write, ChunkPipeline.close
    writing = []

    def slow_write(self, pending):
        writing.append(1)
        time.sleep(0.5)  # still writing when the interrupt arrives
        return real_write(self, pending)

    def close(self):
        real_close(self)
        alive_at_close.extend(thread.is_alive() for thread in started)

    monkeypatch.setattr(threading, "Thread", InterruptedOnce)
    monkeypatch.setattr(ChunkResolver, "write", slow_write)
    monkeypatch.setattr(ChunkPipeline, "close", close)
    with pytest.raises(KeyboardInterrupt):
        run(store, csv_text("a@example.com,,A,", "b@example.com,,B,", "c@example.com,,C,"), CONTACT)
    assert InterruptedOnce.interrupted and alive_at_close == [False] * len(started)
    assert not Profile.objects.filter(store=store).exists()
