"""A real qcluster ingests an import; killed mid-import, it leaves nothing half-applied and the
next worker to start runs the import again from the start."""

import contextlib
import os
import signal
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

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parent.parent
ROWS = 60_000


def _qcluster(imports_dir: Path, log: Path) -> subprocess.Popen:
    db = connection.settings_dict
    url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "IMPORTS_DIR": str(imports_dir), "Q_WORKERS": "1"}
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


def test_killing_the_qcluster_mid_import_applies_nothing_and_a_new_worker_reruns_it(store, tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "IMPORTS_DIR", tmp_path / "imports")
    log = tmp_path / "qcluster.log"
    profile_import = queue(
        upload(store, _csv(ROWS)), ["Email=identifier:email", "First=Contact.firstName", "Last=Contact.lastName"]
    )
    cluster = _qcluster(tmp_path / "imports", log)
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

        cluster = _qcluster(tmp_path / "imports", log)

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
