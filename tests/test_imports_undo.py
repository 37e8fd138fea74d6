"""SQLite imports write in short journalled steps; a cancel, a failure or an interrupted attempt
undoes them (imports.undo), leaving the store as it was and keeping what others changed meanwhile."""

import socket

import pytest
from django.db import connection

from identity.models import Identifier, MergeRecord
from identity.services import profile_identify
from imports.models import ImportStatus, ImportUndo, ProfileImport
from imports.services import import_cancel, import_run
from imports.services import run as running
from profiles.models import Event, Profile
from profiles.services import profile_traits_set
from tests.imports_helpers import CONTACT, csv_text, queue, upload

pytestmark = pytest.mark.sqlite


@pytest.fixture(autouse=True)
def _sqlite_only():
    if connection.vendor != "sqlite":
        pytest.skip("the journalled steps are SQLite's; PostgreSQL imports run in one transaction")


def _snapshot(store):
    """Everything an import can change in the store, as plain values."""
    return {
        "profiles": sorted(
            Profile.objects.filter(store=store).values_list("pk", "traits", "trait_sources", "merged_into_id")
        ),
        "identifiers": sorted(Identifier.objects.filter(store=store).values_list("pk", "kind", "value", "profile_id")),
        "merges": sorted(
            MergeRecord.objects.filter(store=store).values_list("pk", "from_profile_id", "into_profile_id")
        ),
        "events": sorted(Event.objects.filter(store=store).values_list("pk", "profile_id", "name")),
    }


def _existing(store):
    """Two customers with an event each: the file updates one, then merges them."""
    ada = profile_identify(
        store=store, identifiers=[("email", "ada@example.com")], traits={"Contact": {"firstName": "Ada"}}, source="s"
    ).profile
    bob = profile_identify(
        store=store, identifiers=[("phone", "+14155550100")], traits={"Contact": {"lastName": "Bob"}}, source="s"
    ).profile
    for profile in (ada, bob):
        Event.objects.create(store=store, profile=profile, name="order_placed", timestamp="2026-01-01T00:00:00Z")
    return ada, bob


ROWS = [
    "ada@example.com,,Ada2,Lovelace",  # updates Ada
    *[f"p{i}@example.com,,P{i},L{i}" for i in range(8)],  # new profiles
    "carol@example.com,,Carol,",
    "ada@example.com,+14155550100,,",  # Ada's email and Bob's phone: Ada merges into Bob
    *[f"q{i}@example.com,,Q{i},M{i}" for i in range(8)],
]


def _cancel_at(store, queued, check_number: int, also=None):
    """Cancel the import (as the console's button does) when the worker checks for the
    `check_number`-th time, after `also()` (another writer's change) if given."""
    calls = []
    real = running._check_owned

    def check(import_id, attempt):
        calls.append(1)
        if len(calls) == check_number:
            if also is not None:
                also()
            import_cancel(profile_import=ProfileImport.objects.get(pk=import_id), actor=None)
        return real(import_id, attempt)

    return check


def _killed_on_check(monkeypatch, check_number: int) -> None:
    """The worker dies (SystemExit: not an Exception, so nothing in the worker handles it, as with
    SIGKILL) when it checks for a cancel for the `check_number`-th time."""
    calls = []
    real = running._check_owned

    def check(import_id, attempt):
        calls.append(1)
        if len(calls) == check_number:
            raise SystemExit("killed")
        return real(import_id, attempt)

    monkeypatch.setattr(running, "_check_owned", check)


def test_a_cancel_between_steps_undoes_every_step_and_the_import_ends_cancelled(store, monkeypatch):
    _existing(store)
    before = _snapshot(store)
    monkeypatch.setattr(running, "CHUNK_ROWS", 2)  # steps of two rows: several committed before the cancel
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    monkeypatch.setattr(running, "_check_owned", _cancel_at(store, queued, 8))
    import_run(import_id=queued.pk, attempt=queued.attempt)
    done = ProfileImport.objects.get(pk=queued.pk)
    assert done.status == ImportStatus.CANCELLED
    assert done.failure_reason == "Cancelled by an administrator; nothing from the file stays applied."
    assert done.worker == "" and done.rows_processed > 0  # what it had read is said, nothing of it applied
    assert _snapshot(store) == before  # profiles, traits, identifiers, merges and events as they were
    assert not ImportUndo.objects.filter(profile_import=queued).exists()


def test_the_steps_before_the_cancel_did_write_and_merge(store, monkeypatch):
    # The same run without the cancel: proves the cancelled run had something to undo.
    ada, bob = _existing(store)
    monkeypatch.setattr(running, "CHUNK_ROWS", 2)
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    done = import_run(import_id=queued.pk, attempt=queued.attempt)
    assert done.status == ImportStatus.COMPLETED, done.failure_reason
    assert Profile.objects.get(pk=ada.pk).merged_into_id == bob.pk
    assert Event.objects.filter(profile=bob).count() == 2
    assert (done.profiles_created, done.profiles_merged) == (17, 1)
    assert not ImportUndo.objects.filter(profile_import=queued).exists()  # Completed: the journal is dropped


def test_a_profile_someone_edits_during_the_import_keeps_the_edit_after_a_cancel(store, monkeypatch):
    ada, _ = _existing(store)
    monkeypatch.setattr(running, "CHUNK_ROWS", 2)
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)

    def someone_edits_ada():  # after the step that updated Ada (row 1), through the console's service
        profile_traits_set(
            profile=Profile.objects.get(pk=ada.pk), values={"Contact": {"firstName": "Edited"}}, source="console"
        )

    monkeypatch.setattr(running, "_check_owned", _cancel_at(store, queued, 4, also=someone_edits_ada))
    import_run(import_id=queued.pk, attempt=queued.attempt)
    done = ProfileImport.objects.get(pk=queued.pk)
    assert done.status == ImportStatus.CANCELLED
    assert Profile.objects.get(pk=ada.pk).traits["Contact"]["firstName"] == "Edited"  # not rolled back over
    assert "1 row the import wrote was changed or used by someone else" in done.failure_reason
    assert not Identifier.objects.filter(store=store, value__startswith="p").exists()  # the rest is undone


def test_an_interrupted_attempt_is_undone_before_the_next_one_runs(store, monkeypatch):
    ada, bob = _existing(store)
    monkeypatch.setattr(running, "CHUNK_ROWS", 2)
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    real = running._check_owned
    _killed_on_check(monkeypatch, 9)
    with pytest.raises(SystemExit):
        import_run(import_id=queued.pk, attempt=queued.attempt)
    assert ImportUndo.objects.filter(profile_import=queued).exists()  # half the file is in, journalled
    assert Identifier.objects.filter(store=store, value__startswith="p").exists()
    monkeypatch.setattr(running, "_check_owned", real)
    # What recovery does for a dead worker: a new attempt.
    ProfileImport.objects.filter(pk=queued.pk).update(status=ImportStatus.QUEUED, attempt=queued.attempt + 1)
    done = import_run(import_id=queued.pk, attempt=queued.attempt + 1)
    assert done.status == ImportStatus.COMPLETED, done.failure_reason
    # Counted and written once: the first attempt's rows were undone, not doubled or counted as updates.
    assert (done.rows_ingested, done.profiles_created, done.profiles_updated, done.profiles_merged) == (19, 17, 1, 1)
    assert Profile.objects.filter(store=store, merged_into__isnull=True).count() == 18
    assert Event.objects.filter(profile=bob).count() == 2 and Profile.objects.get(pk=ada.pk).merged_into_id == bob.pk
    assert MergeRecord.objects.filter(store=store).count() == 1


def test_a_failure_after_some_steps_undoes_them_and_the_import_fails(store, monkeypatch):
    _existing(store)
    before = _snapshot(store)
    monkeypatch.setattr(running, "CHUNK_ROWS", 2)
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    real = running.ChunkResolver.write
    calls = []

    def disk_full_on_the_sixth_write(self, pending):
        calls.append(1)
        if len(calls) == 6:
            raise OSError(28, "No space left on device")
        return real(self, pending)

    monkeypatch.setattr(running.ChunkResolver, "write", disk_full_on_the_sixth_write)
    done = import_run(import_id=queued.pk, attempt=queued.attempt)
    assert done.status == ImportStatus.FAILED
    assert "No space left on device" in done.failure_reason
    assert _snapshot(store) == before
    assert not ImportUndo.objects.filter(profile_import=queued).exists()


def test_too_many_failed_rows_fail_the_file_before_anything_is_written(store, monkeypatch):
    _existing(store)
    before = _snapshot(store)
    steps = []
    monkeypatch.setattr(running._Steps, "_step", lambda self, rows: steps.append(rows))
    rows = [f"good{i}@example.com,,G,{i}" for i in range(50)] + [f"bad{i}-at-example.com,,B,{i}" for i in range(100)]
    queued = queue(upload(store, csv_text(*rows)), CONTACT)
    done = import_run(import_id=queued.pk, attempt=queued.attempt)
    assert done.status == ImportStatus.FAILED and done.rows_failed == 100
    assert steps == []  # every row is checked before the first step: a failing file never writes
    assert _snapshot(store) == before


@pytest.mark.django_db(databases="__all__")  # the task goes to django-q2's queue database
def test_recovery_undoes_what_a_cancelled_import_left_when_its_worker_was_gone(
    store, monkeypatch, django_capture_on_commit_callbacks
):
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    from imports.services import import_undo_leftovers, imports_recover

    _existing(store)
    before = _snapshot(store)
    monkeypatch.setattr(running, "CHUNK_ROWS", 2)
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    _killed_on_check(monkeypatch, 6)
    with pytest.raises(SystemExit):
        import_run(import_id=queued.pk, attempt=queued.attempt)
    gone = f"{socket.gethostname()}:{2**22 + 1}:1"  # this host, a pid above Linux's limit: a worker that is gone
    ProfileImport.objects.filter(pk=queued.pk).update(worker=gone)
    import_cancel(profile_import=ProfileImport.objects.get(pk=queued.pk), actor=None)
    assert _snapshot(store) != before  # the dead worker's steps are still in
    with django_capture_on_commit_callbacks(execute=True):
        imports_recover()
    sent = [SignedPackage.loads(message.payload) for message in OrmQ.objects.all()]
    assert [(task["func"], task["args"]) for task in sent] == [("imports.tasks.import_undo_task", (queued.pk,))]
    assert import_undo_leftovers(import_id=queued.pk) == 0  # what the task runs
    assert _snapshot(store) == before
    done = ProfileImport.objects.get(pk=queued.pk)
    assert (done.status, done.worker) == (ImportStatus.CANCELLED, "")
    with django_capture_on_commit_callbacks(execute=True):
        imports_recover()
    assert OrmQ.objects.count() == 1  # nothing left to undo: no second task


def test_a_store_whose_import_left_an_undo_journal_can_be_deleted(store, monkeypatch):
    from workspace.services import store_delete

    monkeypatch.setattr(running, "CHUNK_ROWS", 2)
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    _killed_on_check(monkeypatch, 4)
    with pytest.raises(SystemExit):
        import_run(import_id=queued.pk, attempt=queued.attempt)
    assert ImportUndo.objects.filter(profile_import=queued).exists()
    store_delete(store=store, actor=None, confirm_name=store.name)
    assert not ImportUndo.objects.exists() and not Profile.objects.exists()


def test_recovery_drops_the_journal_a_completed_import_left_and_keeps_its_rows(store, monkeypatch):
    from imports.services import imports_recover

    monkeypatch.setattr(running, "CHUNK_ROWS", 2)
    monkeypatch.setattr(running, "journal_forget", lambda **kwargs: None)  # the worker died just after Completed
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    assert import_run(import_id=queued.pk, attempt=queued.attempt).status == ImportStatus.COMPLETED
    assert ImportUndo.objects.filter(profile_import=queued).exists()
    after = _snapshot(store)
    imports_recover()
    assert not ImportUndo.objects.filter(profile_import=queued).exists()
    assert _snapshot(store) == after  # dropped, not undone: a Completed import's rows stay


def test_undo_gives_back_an_identifier_a_fifo_rule_replaced_when_the_same_step_brought_it_back(store, monkeypatch):
    from identity.services import identity_rule_update

    identity_rule_update(
        rule=store.identity_rules.get(kind="email"), actor=None, name="email", limit=2, limit_policy="fifo"
    )
    for email in ("e1@example.com", "e2@example.com"):
        profile_identify(store=store, identifiers=[("phone", "+14155550100"), ("email", email)], source="s")
    before = _snapshot(store)
    monkeypatch.setattr(running, "CHUNK_ROWS", 2)
    rows = [
        "e3@example.com,+14155550100,,",  # the oldest email, e1, makes room for e3 (FIFO)
        "e1@example.com,,Eve,",  # e1 is free now: a new profile in the same step
        "z@example.com,,Zed,",  # the next step, which the cancel stops
    ]
    queued = queue(upload(store, csv_text(*rows)), CONTACT)
    monkeypatch.setattr(running, "_check_owned", _cancel_at(store, queued, 2))
    import_run(import_id=queued.pk, attempt=queued.attempt)
    done = ProfileImport.objects.get(pk=queued.pk)
    assert done.status == ImportStatus.CANCELLED
    assert _snapshot(store) == before  # e1 back on the customer, not lost with the new profile's copy
    assert "someone else" not in done.failure_reason


def test_a_profile_the_import_created_and_someone_edited_stays_after_a_cancel(store, monkeypatch):
    monkeypatch.setattr(running, "CHUNK_ROWS", 2)
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)

    def someone_edits_p0():  # created by the import's second step; edited in the console meanwhile
        p0 = Identifier.objects.get(store=store, value="p0@example.com").profile
        profile_traits_set(profile=p0, values={"Contact": {"lastName": "Edited"}}, source="console")

    monkeypatch.setattr(running, "_check_owned", _cancel_at(store, queued, 4, also=someone_edits_p0))
    import_run(import_id=queued.pk, attempt=queued.attempt)
    done = ProfileImport.objects.get(pk=queued.pk)
    assert done.status == ImportStatus.CANCELLED
    kept = Profile.objects.get(store=store)  # the only profile left: the one someone edited
    assert kept.traits["Contact"]["lastName"] == "Edited"
    assert not Identifier.objects.filter(store=store).exists()  # the file's identifiers are gone
    assert "1 row the import wrote was changed or used by someone else" in done.failure_reason


def test_what_undoing_an_interrupted_attempt_left_is_said_on_the_import_that_completes(
    store, monkeypatch, admin_client
):
    from django.urls import reverse

    monkeypatch.setattr(running, "CHUNK_ROWS", 2)
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    real = running._check_owned
    calls = []

    def edit_then_die(import_id, attempt):
        calls.append(1)
        if len(calls) == 4:  # someone edits a profile the first steps created; then the worker dies
            p0 = Identifier.objects.get(store=store, value="p0@example.com").profile
            profile_traits_set(profile=p0, values={"Contact": {"lastName": "Edited"}}, source="console")
        if len(calls) == 6:
            raise SystemExit("killed")
        return real(import_id, attempt)

    monkeypatch.setattr(running, "_check_owned", edit_then_die)
    with pytest.raises(SystemExit):
        import_run(import_id=queued.pk, attempt=queued.attempt)
    monkeypatch.setattr(running, "_check_owned", real)
    ProfileImport.objects.filter(pk=queued.pk).update(status=ImportStatus.QUEUED, attempt=queued.attempt + 1)
    done = import_run(import_id=queued.pk, attempt=queued.attempt + 1)
    assert done.status == ImportStatus.COMPLETED
    assert done.failure_reason.startswith("An earlier attempt of this import was interrupted")
    assert "1 row the import wrote was changed or used by someone else" in done.failure_reason
    html = admin_client.get(reverse("imports:detail", args=[store.pk, queued.pk])).content.decode()
    assert 'data-testid="completed-note"' in html and "An earlier attempt of this import was interrupted" in html


@pytest.mark.django_db
def test_the_progress_of_a_failed_sqlite_import_being_undone_says_so(admin_client, store):
    from django.urls import reverse

    from imports import storage

    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    ProfileImport.objects.filter(pk=queued.pk).update(status=ImportStatus.RUNNING)
    storage.progress_write(queued.file_path, undoing=True, rows_processed=19, rows_failed=0)
    html = admin_client.get(
        reverse("imports:progress", args=[store.pk, queued.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Stopped: removing the rows already written…" in html


def test_the_journal_knows_every_row_that_points_at_a_profile_hidden_relations_too(db):
    from imports.undo import _tables

    profiles = next(table for table in _tables() if table.name == "profiles_profile")
    assert {("conversations_conversation", "profile_id"), ("identity_identifier", "profile_id")} <= set(
        profiles.references
    )
