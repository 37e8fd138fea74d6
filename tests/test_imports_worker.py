"""A real qcluster ingests an import; killed mid-import, it leaves nothing half-applied and the
next worker to start runs the import again from the start. On PostgreSQL and on SQLite (what
`make run` uses), each with its own processes."""

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from identity.models import Identifier
from imports.models import ImportStatus, ProfileImport
from imports.storage import progress_read
from profiles.models import Profile
from tests.imports_helpers import queue, upload

ROOT = Path(__file__).resolve().parent.parent
ROWS = 60_000


def _postgres_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _env(url: str, imports_dir: Path, workers: int = 1) -> dict:
    return {**os.environ, "DATABASE_URL": url, "IMPORTS_DIR": str(imports_dir), "Q_WORKERS": str(workers)}


def _qcluster(imports_dir: Path, log: Path, url: str, workers: int = 1, **extra: str) -> subprocess.Popen:
    env = {**_env(url, imports_dir, workers), **extra}
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the test kills the whole cluster
    )


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _wait(predicate, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; qcluster log:\n{log.read_text()[-3000:]}")


def _csv(rows: int) -> str:
    lines = ["Email,First,Last"]
    lines += [f"person{i}@example.com,First{i},Last{i}" for i in range(rows)]
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_killing_the_qcluster_mid_import_applies_nothing_and_a_new_worker_reruns_it(store, tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "IMPORTS_DIR", tmp_path / "imports")
    log = tmp_path / "qcluster.log"
    profile_import = queue(
        upload(store, _csv(ROWS)), ["Email=identifier:email", "First=Contact.firstName", "Last=Contact.lastName"]
    )
    cluster = _qcluster(tmp_path / "imports", log, _postgres_url())
    try:

        def running_with_progress():
            current = ProfileImport.objects.get(pk=profile_import.pk)
            progress = progress_read(current.file_path) or {}
            return current.status == ImportStatus.RUNNING and progress.get("rows_processed", 0) >= 10_000

        _wait(running_with_progress, 90, "the worker to be mid-import", log)
        _kill(cluster)
        interrupted = ProfileImport.objects.get(pk=profile_import.pk)
        assert interrupted.status == ImportStatus.RUNNING  # the dead worker could not say anything
        # Its transaction died with it: not one profile or identifier of the file is in the store.
        assert Profile.objects.filter(store=store).count() == 0
        assert Identifier.objects.filter(store=store).count() == 0

        cluster = _qcluster(tmp_path / "imports", log, _postgres_url())

        def finished():
            current = ProfileImport.objects.get(pk=profile_import.pk)
            return current if current.status in (ImportStatus.COMPLETED, ImportStatus.FAILED) else None

        done = _wait(finished, 180, "the restarted worker to finish the import", log)
    finally:
        _kill(cluster)
    assert done.status == ImportStatus.COMPLETED, done.failure_reason
    assert done.attempt == profile_import.attempt + 1
    assert done.rows_ingested == ROWS and done.profiles_created == ROWS
    assert Profile.objects.filter(store=store).count() == ROWS
    assert Identifier.objects.filter(store=store, kind="email").count() == ROWS


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _sqlite_console(tmp_path: Path, stores: int, rows: int):
    """The embedded default, set up and fed through the commands a user runs: a database file of
    its own, an account, `stores` stores and a queued import of `rows` rows in each. Returns the
    database, its URL and a one-row query function."""
    database = tmp_path / "console.sqlite3"
    url = f"sqlite:///{database}"
    env = _env(url, tmp_path / "imports")
    _manage(env, "migrate", "-v0")
    _manage(env, "migrate", "--database", "queue", "-v0")  # django-q2's file, console.queue.sqlite3
    account = _manage(
        env, "create_account", "Acme", "--admin-email", "a@example.com", "--admin-password", "x9-pass-long"
    )
    path = tmp_path / "people.csv"
    path.write_text(_csv(rows))
    maps = ["--map", "Email=identifier:email", "--map", "First=Contact.firstName", "--map", "Last=Contact.lastName"]
    for n in range(1, stores + 1):
        store = _manage(env, "create_store", "--account", account.strip(), f"Shop {n}").strip()
        assert f"Queued import #{n}" in _manage(env, "import_profiles", "--store", store, str(path), *maps, "--queue")

    def query(sql: str):
        with contextlib.closing(sqlite3.connect(database, timeout=20)) as db:
            return db.execute(sql).fetchone()

    return database, url, query


@pytest.mark.sqlite
def test_two_stores_importing_at_once_on_sqlite_take_turns_and_both_complete(tmp_path):
    imports_dir, log, rows = tmp_path / "imports", tmp_path / "qcluster.log", 40_000
    _, url, query = _sqlite_console(tmp_path, stores=2, rows=rows)
    # Both tasks start at once; each import takes longer than a write may wait for SQLite's lock.
    cluster = _qcluster(imports_dir, log, url, workers=2, SQLITE_BUSY_TIMEOUT="0.5")
    try:

        def finished():
            done = query("SELECT count(*) FROM imports_profileimport WHERE status IN ('completed', 'failed')")
            return done[0] == 2

        _wait(finished, 180, "both imports to finish", log)
    finally:
        _kill(cluster)
    statuses = query("SELECT group_concat(status || ' ' || rows_ingested, ', ') FROM imports_profileimport")
    assert statuses == (f"completed {rows}, completed {rows}",)  # not "database is locked" for the second
    assert query("SELECT count(DISTINCT store_id), count(*) FROM profiles_profile") == (2, 2 * rows)


@pytest.mark.sqlite
def test_killing_the_qcluster_while_it_checks_the_file_on_sqlite_leaves_nothing_written(tmp_path):
    # On SQLite every row is checked before the first is written: a worker killed meanwhile wrote nothing.
    imports_dir, log, rows = tmp_path / "imports", tmp_path / "qcluster.log", 100_000
    _, url, query = _sqlite_console(tmp_path, stores=1, rows=rows)
    cluster = _qcluster(imports_dir, log, url)
    try:

        def checking():
            files = list(imports_dir.glob("store-*/*.progress.json"))
            progress = json.loads(files[0].read_text()) if files else {}
            return progress.get("rows_processed", 0) >= 10_000 and "rows_applied" not in progress

        _wait(checking, 90, "the worker to be checking the file", log)
        _kill(cluster)
    finally:
        _kill(cluster)
    assert query("SELECT status FROM imports_profileimport") == ("running",)
    assert query("SELECT count(*) FROM profiles_profile") == (0,)
    assert query("SELECT count(*) FROM identity_identifier") == (0,)


@pytest.mark.sqlite
def test_killing_the_qcluster_mid_import_on_sqlite_is_undone_and_a_new_worker_reruns_it(tmp_path):
    # Killed while its short transactions go in: what it committed is journalled, and the next
    # worker undoes it before running the import again, so nothing is doubled or left half-applied.
    imports_dir, log, rows = tmp_path / "imports", tmp_path / "qcluster.log", 100_000
    _, url, query = _sqlite_console(tmp_path, stores=1, rows=rows)
    cluster = _qcluster(imports_dir, log, url)
    try:

        def mid_import():
            files = list(imports_dir.glob("store-*/*.progress.json"))
            return files and json.loads(files[0].read_text()).get("rows_applied", 0) >= 20_000

        _wait(mid_import, 120, "the worker to be writing the rows", log)
        _kill(cluster)
        assert query("SELECT status FROM imports_profileimport") == ("running",)
        written = query("SELECT count(*) FROM profiles_profile")[0]
        assert 0 < written < rows
        # Every profile it wrote is in a journalled range, to be undone.
        assert query(
            "SELECT coalesce(sum(last_id - row_id + 1), 0) FROM imports_importundo "
            "WHERE table_name = 'profiles_profile' AND op = 'I'"
        ) == (written,)

        cluster = _qcluster(imports_dir, log, url)

        def finished():
            status = query("SELECT status FROM imports_profileimport")[0]
            return status if status in (ImportStatus.COMPLETED, ImportStatus.FAILED) else None

        _wait(finished, 240, "the restarted worker to finish the import", log)
    finally:
        _kill(cluster)
    assert query("SELECT status, attempt, rows_ingested, profiles_created FROM imports_profileimport") == (
        ImportStatus.COMPLETED,
        2,
        rows,
        rows,
    )
    assert query("SELECT count(*) FROM profiles_profile") == (rows,)
    assert query("SELECT count(*), count(DISTINCT value) FROM identity_identifier") == (rows, rows)
    assert query("SELECT count(*) FROM imports_importundo") == (0,)
