"""A real qcluster ingests an import; killed mid-import, it leaves nothing half-applied and the
next worker to start runs the import again from the start. On PostgreSQL and on SQLite (what
`make run` uses), each with its own processes."""

import pytest
from django.conf import settings

from identity.models import Identifier
from imports.models import ImportStatus, ProfileImport
from imports.storage import progress_read
from profiles.models import Profile
from tests.imports_helpers import queue, upload
from tests.worker_helpers import (
    import_ended,
    kill,
    people_csv,
    postgres_url,
    progress,
    qcluster,
    sqlite_console,
    wait_for,
)

ROWS = 60_000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_killing_the_qcluster_mid_import_applies_nothing_and_a_new_worker_reruns_it(store, tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "IMPORTS_DIR", tmp_path / "imports")
    log = tmp_path / "qcluster.log"
    profile_import = queue(
        upload(store, people_csv(ROWS)), ["Email=identifier:email", "First=Contact.firstName", "Last=Contact.lastName"]
    )
    cluster = qcluster(tmp_path / "imports", log, postgres_url())
    try:

        def running_with_progress():
            current = ProfileImport.objects.get(pk=profile_import.pk)
            progress = progress_read(current.file_path) or {}
            return current.status == ImportStatus.RUNNING and progress.get("rows_processed", 0) >= 10_000

        wait_for(running_with_progress, 90, "the worker to be mid-import", log)
        kill(cluster)
        interrupted = ProfileImport.objects.get(pk=profile_import.pk)
        assert interrupted.status == ImportStatus.RUNNING  # the dead worker could not say anything
        # Its transaction died with it: not one profile or identifier of the file is in the store.
        assert Profile.objects.filter(store=store).count() == 0
        assert Identifier.objects.filter(store=store).count() == 0

        cluster = qcluster(tmp_path / "imports", log, postgres_url())

        def finished():
            current = ProfileImport.objects.get(pk=profile_import.pk)
            return current if current.status in (ImportStatus.COMPLETED, ImportStatus.FAILED) else None

        done = wait_for(finished, 180, "the restarted worker to finish the import", log)
    finally:
        kill(cluster)
    assert done.status == ImportStatus.COMPLETED, done.failure_reason
    assert done.attempt == profile_import.attempt + 1
    assert done.rows_ingested == ROWS and done.profiles_created == ROWS
    assert Profile.objects.filter(store=store).count() == ROWS
    assert Identifier.objects.filter(store=store, kind="email").count() == ROWS


@pytest.mark.sqlite
def test_two_stores_importing_at_once_on_sqlite_take_turns_and_both_complete(tmp_path):
    imports_dir, log, rows = tmp_path / "imports", tmp_path / "qcluster.log", 40_000
    _, url, query = sqlite_console(tmp_path, stores=2, rows=rows)
    # Both tasks start at once; each import takes longer than a write may wait for SQLite's lock.
    cluster = qcluster(imports_dir, log, url, workers=2, SQLITE_BUSY_TIMEOUT="0.5")
    try:

        def finished():
            done = query("SELECT count(*) FROM imports_profileimport WHERE status IN ('completed', 'failed')")
            return done[0] == 2

        wait_for(finished, 180, "both imports to finish", log)
    finally:
        kill(cluster)
    statuses = query("SELECT group_concat(status || ' ' || rows_ingested, ', ') FROM imports_profileimport")
    assert statuses == (f"completed {rows}, completed {rows}",)  # not "database is locked" for the second
    assert query("SELECT count(DISTINCT store_id), count(*) FROM profiles_profile") == (2, 2 * rows)


@pytest.mark.sqlite
def test_killing_the_qcluster_while_it_checks_the_file_on_sqlite_leaves_nothing_written(tmp_path):
    # On SQLite every row is checked before the first is written: a worker killed meanwhile wrote nothing.
    imports_dir, log, rows = tmp_path / "imports", tmp_path / "qcluster.log", 100_000
    _, url, query = sqlite_console(tmp_path, stores=1, rows=rows)
    cluster = qcluster(imports_dir, log, url)
    try:

        def checking():
            now = progress(imports_dir)
            return now.get("rows_processed", 0) >= 10_000 and "rows_applied" not in now

        wait_for(checking, 90, "the worker to be checking the file", log)
        kill(cluster)
    finally:
        kill(cluster)
    assert query("SELECT status FROM imports_profileimport") == ("running",)
    assert query("SELECT count(*) FROM profiles_profile") == (0,)
    assert query("SELECT count(*) FROM identity_identifier") == (0,)


@pytest.mark.sqlite
def test_killing_the_qcluster_mid_import_on_sqlite_is_undone_and_a_new_worker_reruns_it(tmp_path):
    # Killed while its short transactions go in: what it committed is journalled, and the next
    # worker undoes it before running the import again, so nothing is doubled or left half-applied.
    imports_dir, log, rows = tmp_path / "imports", tmp_path / "qcluster.log", 100_000
    _, url, query = sqlite_console(tmp_path, stores=1, rows=rows)
    cluster = qcluster(imports_dir, log, url)
    try:

        def mid_import():
            return progress(imports_dir).get("rows_applied", 0) >= 20_000

        wait_for(mid_import, 120, "the worker to be writing the rows", log)
        kill(cluster)
        assert query("SELECT status FROM imports_profileimport") == ("running",)
        written = query("SELECT count(*) FROM profiles_profile")[0]
        assert 0 < written < rows
        # Every profile it wrote is in a journalled range, to be undone.
        assert query(
            "SELECT coalesce(sum(last_id - row_id + 1), 0) FROM imports_importundo "
            "WHERE table_name = 'profiles_profile' AND op = 'I'"
        ) == (written,)

        cluster = qcluster(imports_dir, log, url)

        wait_for(import_ended(query), 240, "the restarted worker to finish the import", log)
    finally:
        kill(cluster)
    assert query("SELECT status, attempt, rows_ingested, profiles_created FROM imports_profileimport") == (
        ImportStatus.COMPLETED,
        2,
        rows,
        rows,
    )
    assert query("SELECT count(*) FROM profiles_profile") == (rows,)
    assert query("SELECT count(*), count(DISTINCT value) FROM identity_identifier") == (rows, rows)
    assert query("SELECT count(*) FROM imports_importundo") == (0,)
