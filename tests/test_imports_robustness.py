"""An import runs at most once, never stays Running after an error, and odd input fails one row."""

import gc
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from imports.engine import ChunkResolver
from imports.models import ImportStatus, ProfileImport
from imports.services import import_discard, import_run, liveness, recovery
from imports.services import run as running
from profiles.models import Profile
from tests.imports_helpers import CONTACT, csv_text, queue, run, upload

pytestmark = pytest.mark.django_db
ROWS = ["ada@example.com,+14155552671,Ada,Lovelace", "grace@example.com,,Grace,Hopper"]


def test_an_import_already_running_cannot_be_started_a_second_time(store):
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    ProfileImport.objects.filter(pk=queued.pk).update(status=ImportStatus.RUNNING, worker="elsewhere:1:1")
    assert import_run(import_id=queued.pk, attempt=queued.attempt) is None
    assert not Profile.objects.filter(store=store).exists()


def test_a_run_that_no_longer_owns_its_import_at_commit_rolls_back_everything(store, monkeypatch):
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    finish = running._finish

    def owned_by_another_attempt(import_id, attempt, worker, status, *args):
        # What the commit-time check sees when imports_recover gave the import to a new attempt.
        if status == ImportStatus.COMPLETED:
            return 0
        return finish(import_id, attempt, worker, status, *args)

    monkeypatch.setattr(running, "_finish", owned_by_another_attempt)
    assert import_run(import_id=queued.pk, attempt=queued.attempt) is None
    assert not Profile.objects.filter(store=store).exists()  # the data went with the rollback
    assert not ProfileImport.objects.get(pk=queued.pk).row_errors.exists()


def test_an_error_while_finishing_marks_the_import_failed_not_running(store, monkeypatch):
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(running, "_save_row_errors", disk_full)
    done = import_run(import_id=queued.pk, attempt=queued.attempt)
    assert done.status == ImportStatus.FAILED
    assert "No space left on device" in done.failure_reason
    assert not Profile.objects.filter(store=store).exists()
    assert not Path(queued.file_path).exists()  # the upload does not stay behind on this path either


def test_the_worker_collects_garbage_again_after_an_import_completes_or_fails(store, monkeypatch):
    # The import pauses the cyclic garbage collector while rows go in; a long-lived worker process
    # left without it would grow with every later task.
    paused = []
    resolve = ChunkResolver.resolve_read

    def record_and_resolve(self, rows):
        paused.append(not gc.isenabled())
        return resolve(self, rows)

    monkeypatch.setattr(ChunkResolver, "resolve_read", record_and_resolve)
    done = run(store, csv_text(*ROWS), CONTACT)
    assert done.status == ImportStatus.COMPLETED
    assert paused == [True] and gc.isenabled()

    def broken(self, rows):
        raise RuntimeError("resolver broke")

    monkeypatch.setattr(ChunkResolver, "resolve_read", broken)
    done = run(store, csv_text("lin@example.com,,Lin,Su"), CONTACT)
    assert done.status == ImportStatus.FAILED and "resolver broke" in done.failure_reason
    assert gc.isenabled()


def test_the_command_line_runs_the_import_itself_without_queueing_a_worker_task(
    store, tmp_path, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    path = tmp_path / "people.csv"
    path.write_text(csv_text(*ROWS))
    with django_capture_on_commit_callbacks() as callbacks:
        call_command("import_profiles", "--store", str(store.pk), str(path), *[f"--map={m}" for m in CONTACT])
    assert callbacks == []  # no async_task: the import cannot also run in a worker
    assert ProfileImport.objects.get(store=store).status == ImportStatus.COMPLETED


def test_a_number_far_too_long_fails_only_its_row(store):
    from traits.models import TraitGroup
    from traits.services import trait_create

    contact = TraitGroup.objects.get(store=store, name="Contact")
    trait_create(group=contact, actor=None, name="visits", data_type="number")
    done = run(
        store,
        csv_text(
            "ada@example.com,,Ada," + "9" * 5000, "grace@example.com,,Grace,12", header="Email,Phone,First,Visits"
        ),
        ["Email=identifier:email", "Phone=identifier:phone", "First=Contact.firstName", "Visits=Contact.visits"],
    )
    assert done.status == ImportStatus.COMPLETED
    assert (done.rows_ingested, done.rows_failed) == (1, 1)
    assert "too long for a number" in done.row_errors.get().reason


def test_the_upload_size_limit_applies_to_every_path(store, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    with pytest.raises(ValidationError, match="upload limit"):
        upload(store, csv_text(*ROWS * 10))
    assert not ProfileImport.objects.filter(store=store).exists()
    assert not list((settings.IMPORTS_DIR / f"store-{store.pk}").glob("*.csv"))


def test_a_line_of_only_spaces_is_a_blank_line_not_a_failed_row(store):
    done = run(store, csv_text(ROWS[0], "   ", ROWS[1]), CONTACT)
    assert (done.total_rows, done.rows_ingested, done.rows_failed) == (2, 2, 0)


def test_an_upload_already_queued_cannot_be_discarded(store):
    uploaded = upload(store, csv_text(*ROWS))
    queue(uploaded, CONTACT)
    with pytest.raises(ValidationError, match="has not been started"):
        import_discard(profile_import=uploaded, actor=None)  # the stale object still says Mapping
    assert ProfileImport.objects.get(pk=uploaded.pk).status == ImportStatus.QUEUED


def test_an_admin_cancels_a_stuck_queued_import_and_the_store_takes_uploads_again(admin_client, store):
    from django.urls import reverse

    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    response = admin_client.post(reverse("imports:cancel", args=[store.pk, queued.pk]), follow=True)
    assert "Cancelled the import of people.csv; nothing from the file stays applied." in response.content.decode()
    cancelled = ProfileImport.objects.get(pk=queued.pk)
    assert cancelled.status == ImportStatus.CANCELLED and cancelled.failure_reason.startswith("Cancelled by")
    assert import_run(import_id=queued.pk, attempt=queued.attempt) is None  # its task, if it comes, does nothing
    upload(store, csv_text(*ROWS))  # no longer refused as "one import at a time"


def test_support_cannot_cancel_an_import(support_client, store):
    from django.urls import reverse

    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    assert support_client.post(reverse("imports:cancel", args=[store.pk, queued.pk])).status_code == 403
    assert ProfileImport.objects.get(pk=queued.pk).status == ImportStatus.QUEUED


def test_recovery_resends_an_import_queued_too_long_and_deletes_abandoned_uploads(
    store, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from imports.services import imports_recover

    abandoned = upload(store, csv_text(*ROWS), name="left.csv")
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    ProfileImport.objects.filter(pk=queued.pk).update(queued_at=timezone.now() - timedelta(hours=2))
    ProfileImport.objects.filter(pk=abandoned.pk).update(created_at=timezone.now() - timedelta(days=2))
    with django_capture_on_commit_callbacks() as callbacks:
        assert imports_recover() == [queued.pk]
    assert len(callbacks) == 1  # one more task for the same attempt: the first to come runs it
    resent = ProfileImport.objects.get(pk=queued.pk)
    assert resent.attempt == queued.attempt and resent.queued_at > timezone.now() - timedelta(minutes=1)
    assert imports_recover() == []  # not sent again until another IMPORT_REQUEUE_AFTER has passed
    assert import_run(import_id=queued.pk, attempt=queued.attempt).status == ImportStatus.COMPLETED
    assert import_run(import_id=queued.pk, attempt=queued.attempt) is None  # the duplicate task: nothing
    assert not ProfileImport.objects.filter(pk=abandoned.pk).exists()
    from pathlib import Path

    assert not Path(abandoned.file_path).exists()


@pytest.mark.postgres
def test_the_worker_gets_its_thread_switch_interval_back_after_an_import(store, monkeypatch):
    # On PostgreSQL chunks are written by a thread while the next is resolved, with a short switch
    # interval so the thread gets the interpreter lock soon after each answer; the worker's later
    # tasks must not keep it.
    monkeypatch.setattr(running, "CHUNK_ROWS", 1)
    before = sys.getswitchinterval()
    during = []
    resolve = ChunkResolver.resolve_read

    def record_and_resolve(self, rows):
        during.append(sys.getswitchinterval())
        return resolve(self, rows)

    monkeypatch.setattr(ChunkResolver, "resolve_read", record_and_resolve)
    done = run(store, csv_text(*ROWS), CONTACT)
    assert done.status == ImportStatus.COMPLETED
    assert max(during[1:]) <= 0.001 < before  # from the second chunk on, a write runs meanwhile
    assert sys.getswitchinterval() == before


def _dead_local_worker() -> str:
    """A worker id (host:pid:start) of this host whose process has exited."""
    import socket
    import subprocess

    process = subprocess.Popen(["true"])
    process.wait()
    return f"{socket.gethostname()}:{process.pid}:1"


def _running(store, worker: str, attempt: int) -> ProfileImport:
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    ProfileImport.objects.filter(pk=queued.pk).update(status=ImportStatus.RUNNING, worker=worker, attempt=attempt)
    return ProfileImport.objects.get(pk=queued.pk)


def test_recovery_requeues_an_import_whose_worker_on_this_host_died(store, django_capture_on_commit_callbacks):
    stale = _running(store, _dead_local_worker(), attempt=1)
    with django_capture_on_commit_callbacks() as callbacks:
        assert recovery.imports_recover() == [stale.pk]
    assert len(callbacks) == 1
    again = ProfileImport.objects.get(pk=stale.pk)
    assert (again.status, again.attempt, again.worker) == (ImportStatus.QUEUED, 2, "")
    assert import_run(import_id=stale.pk, attempt=1) is None  # the dead attempt's task finds nothing to do
    assert import_run(import_id=stale.pk, attempt=2).status == ImportStatus.COMPLETED
    assert Profile.objects.filter(store=store).count() == 2


def test_recovery_fails_an_import_whose_worker_died_on_its_last_attempt_and_frees_the_store(store):
    from pathlib import Path

    stale = _running(store, _dead_local_worker(), attempt=recovery.MAX_ATTEMPTS)
    assert recovery.imports_recover() == []
    failed = ProfileImport.objects.get(pk=stale.pk)
    assert failed.status == ImportStatus.FAILED
    assert failed.failure_reason == (
        f"The worker stopped {recovery.MAX_ATTEMPTS} times while importing this file; "
        "nothing from the file was applied."
    )
    assert failed.finished_at is not None
    assert not Path(stale.file_path).exists()
    assert not Profile.objects.filter(store=store).exists()
    upload(store, csv_text(*ROWS), name="next.csv")  # the store takes a new upload


def test_recovery_trusts_a_worker_on_another_host_only_while_it_reports_progress(store):
    import os
    import time

    from imports import storage

    elsewhere = _running(store, "another-host:4242:99", attempt=1)
    storage.progress_write(elsewhere.file_path, rows_processed=1, rows_failed=0)
    assert recovery.imports_recover() == []  # it reported just now: still running there
    assert ProfileImport.objects.get(pk=elsewhere.pk).status == ImportStatus.RUNNING
    silent_since = time.time() - liveness.STALE_AFTER_SECONDS - 60
    os.utime(storage.progress_path(elsewhere.file_path), (silent_since, silent_since))
    assert recovery.imports_recover() == [elsewhere.pk]  # silent for too long: gone, run it again
    assert ProfileImport.objects.get(pk=elsewhere.pk).status == ImportStatus.QUEUED


@pytest.mark.django_db(databases="__all__")  # django-q2's tables: a database of their own on SQLite
def test_the_qcluster_scheduler_sends_the_recovery_task_every_minute(store, monkeypatch):
    from django.utils import timezone
    from django_q.brokers import get_broker
    from django_q.models import OrmQ, Schedule
    from django_q.scheduler import scheduler
    from django_q.signing import SignedPackage

    schedule = Schedule.objects.get(func="imports.tasks.imports_recover_task")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 1, -1)
    Schedule.objects.filter(pk=schedule.pk).update(next_run=timezone.now())
    # The cluster calls it between transactions; here the test's transaction would look broken to it.
    monkeypatch.setattr("django_q.scheduler.close_old_django_connections", lambda: None)
    scheduler(broker=get_broker())
    sent = [SignedPackage.loads(message.payload) for message in OrmQ.objects.all()]
    recover = [task["func"] for task in sent if task["func"].startswith("imports.")]  # other apps schedule too
    assert recover == ["imports.tasks.imports_recover_task"]
    assert Schedule.objects.get(pk=schedule.pk).next_run > timezone.now()


def _migrate_every_database():
    """What `make run` does: `migrate`, then `migrate --database queue` where there is one."""
    from django.core.management import call_command
    from django.db import connections

    for alias in connections:
        call_command("migrate", database=alias, verbosity=0)  # nothing to apply; flush sends the same signal


@pytest.mark.django_db(databases="__all__")
def test_migrate_puts_the_recovery_schedule_back_if_it_was_deleted_and_keeps_an_edited_one():
    from django_q.models import Schedule

    Schedule.objects.filter(func="imports.tasks.imports_recover_task").delete()
    _migrate_every_database()
    assert Schedule.objects.filter(func="imports.tasks.imports_recover_task", minutes=1).count() == 1
    Schedule.objects.filter(func="imports.tasks.imports_recover_task").update(minutes=10)  # an operator's choice
    _migrate_every_database()
    kept = Schedule.objects.filter(func="imports.tasks.imports_recover_task")
    assert [s.minutes for s in kept] == [10]  # never twice, and the operator's interval is kept
    kept.update(minutes=5)  # the default before killed clusters' imports were recovered within minutes
    _migrate_every_database()
    assert [s.minutes for s in Schedule.objects.filter(func="imports.tasks.imports_recover_task")] == [1]


def test_recovery_waits_the_long_requeue_delay_when_no_worker_reports(store, django_capture_on_commit_callbacks):
    """A Queued import a few minutes old with no qcluster reporting (this test runs none): nothing
    tells that its task is lost, so it is not sent again before IMPORT_REQUEUE_AFTER."""
    from datetime import timedelta

    from django.utils import timezone

    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    ProfileImport.objects.filter(pk=queued.pk).update(queued_at=timezone.now() - timedelta(minutes=5))
    assert recovery.nothing_waits_anywhere() is False
    with django_capture_on_commit_callbacks(execute=False) as sent:
        assert recovery.imports_recover() == []
    assert sent == []


def test_the_progress_file_counts_every_row_before_the_last_chunks_are_written(store, monkeypatch):
    from django.db import connection

    from imports import storage
    from imports.overlap import ChunkPipeline

    # The last rows go in with the pipeline's finish (PostgreSQL) or the last steps (SQLite).
    ChunkPipeline = running._Steps if connection.vendor == "sqlite" else ChunkPipeline  # noqa: N806
    seen = []
    finish = ChunkPipeline.finish

    def finish_and_look(pipeline):
        seen.append(storage.progress_read(queued.file_path))  # what the page reads at this moment
        return finish(pipeline)

    monkeypatch.setattr(ChunkPipeline, "finish", finish_and_look)
    rows = [f"p{i}@example.com,,First{i},Last{i}" for i in range(7_003)]  # not a multiple of 5,000
    queued = queue(upload(store, csv_text(*rows)), CONTACT)
    assert import_run(import_id=queued.pk, attempt=queued.attempt).status == ImportStatus.COMPLETED
    assert [(s["rows_processed"], s["rows_failed"]) for s in seen] == [(7_003, 0)]


def test_an_import_task_still_runs_when_its_recovery_pass_finds_sqlite_locked(store, monkeypatch):
    from django.db import OperationalError

    from imports import tasks

    def locked():
        raise OperationalError("database is locked")  # another import holds SQLite's write lock

    monkeypatch.setattr(recovery, "imports_recover", locked)
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    assert tasks.import_run_task(queued.pk, queued.attempt) == ImportStatus.COMPLETED
    assert Profile.objects.filter(store=store).count() == 2


def test_an_import_task_fails_loudly_when_recovery_meets_another_database_error(store, monkeypatch):
    from django.db import OperationalError

    from imports import tasks

    def broken():
        raise OperationalError("disk I/O error")

    monkeypatch.setattr(recovery, "imports_recover", broken)
    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)
    with pytest.raises(OperationalError, match="disk I/O error"):
        tasks.import_run_task(queued.pk, queued.attempt)


@pytest.mark.django_db(transaction=True, databases="__all__")  # the cancel: another connection, as the console
def test_a_cancel_after_the_hundredth_failed_row_stops_the_import_at_once(store, monkeypatch):
    # Past the 100th failure nothing more is written, but the rest of the file is read for the
    # report: a cancel meanwhile must still stop it (PostgreSQL: no pipeline job to look between).
    from django.db import connection, connections

    from imports.services import import_cancel

    bad = [f"bad{i}-at-example.com,,B,{i}" for i in range(100)]
    good = [f"good{i}@example.com,,G,{i}" for i in range(30_000)]
    queued = queue(upload(store, csv_text(*bad, *good)), CONTACT)
    real, seen = running._check_owned, []

    def cancel_once(import_id, attempt):
        if not seen:
            seen.append(1)
            if connection.vendor == "sqlite":  # no transaction open while the file is checked
                import_cancel(profile_import=ProfileImport.objects.get(pk=import_id), actor=None)
            else:  # the worker's transaction is open: the console's own connection cancels
                other = connections.create_connection("default")
                with other.cursor() as cursor:
                    cursor.execute("UPDATE imports_profileimport SET status = 'cancelled' WHERE id = %s", [import_id])
                other.close()
        return real(import_id, attempt)

    monkeypatch.setattr(running, "_check_owned", cancel_once)
    import_run(import_id=queued.pk, attempt=queued.attempt)
    done = ProfileImport.objects.get(pk=queued.pk)
    assert (done.status, done.worker) == (ImportStatus.CANCELLED, "")
    assert not done.row_errors.exists()
    assert not Profile.objects.filter(store=store).exists()


def test_an_import_failed_by_an_internal_error_leaves_no_upload_behind(store, monkeypatch):
    """Issue 18: every failure path cleans up. An error around the import itself (the disk, the
    database) fails it with "Internal error"; its file is deleted, as a finished import's is."""
    from pathlib import Path

    queued = queue(upload(store, csv_text(*ROWS)), CONTACT)

    def disk_gone(*args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr("imports.services.run._run_claimed", disk_gone)
    finished = import_run(import_id=queued.pk, attempt=queued.attempt)
    assert finished.status == ImportStatus.FAILED
    assert finished.failure_reason.startswith("Internal error (OSError: disk gone)")
    assert not Path(finished.file_path).exists()
