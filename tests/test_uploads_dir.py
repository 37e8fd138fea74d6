"""A worker that cannot see the web side's uploads refuses to start, saying why (issue 18): the web
side writes a marker with the deployment's token to IMPORTS_DIR before its first upload, and
`manage.py qcluster` checks it before starting."""

import subprocess
import sys

import pytest

from imports import storage
from imports.models import UploadsMarker
from tests.imports_helpers import upload
from tests.worker_helpers import ROOT, sqlite_console, worker_env


def test_the_first_upload_writes_the_marker_and_a_worker_on_that_directory_may_start(store, settings, tmp_path):
    settings.IMPORTS_DIR = tmp_path / "shared"
    assert storage.uploads_dir_problem() is None  # nothing uploaded yet: nothing to check
    upload(store, "Email\r\na@example.com\r\n")
    token = UploadsMarker.objects.get().token
    assert (tmp_path / "shared" / storage.MARKER).read_text().strip() == token
    assert storage.uploads_dir_problem() is None
    upload(store, "Email\r\nb@example.com\r\n")
    assert UploadsMarker.objects.count() == 1  # one token per deployment


def test_a_worker_on_another_directory_is_told_which_and_why(store, settings, tmp_path):
    settings.IMPORTS_DIR = tmp_path / "web"
    upload(store, "Email\r\na@example.com\r\n")
    settings.IMPORTS_DIR = tmp_path / "worker"
    problem = storage.uploads_dir_problem()
    assert str(tmp_path / "worker") in problem and "missing" in problem and "shared volume" in problem
    (tmp_path / "worker").mkdir()
    (tmp_path / "worker" / storage.MARKER).write_text("another-deployment\n")
    assert "another token" in storage.uploads_dir_problem()


@pytest.mark.sqlite
def test_qcluster_refuses_to_start_without_the_uploads_directory(tmp_path):
    """The real command, as an operator starts it on a host without the shared volume."""
    _, url, _ = sqlite_console(tmp_path, stores=1, rows=3)  # uploads through `import_profiles --queue`
    env = worker_env(url, tmp_path / "elsewhere")
    done = subprocess.run(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "cannot see the uploaded files" in done.stderr and str(tmp_path / "elsewhere") in done.stderr


def test_two_first_uploads_at_once_write_the_token_a_worker_compares_with(store, settings, tmp_path, monkeypatch):
    """Another web process created its row between this one's look and its own create: the file
    holds the first row's token, so a worker on this directory may start."""
    settings.IMPORTS_DIR = tmp_path / "shared"
    create = UploadsMarker.objects.create

    def create_after_another_process(**fields):
        monkeypatch.setattr(UploadsMarker.objects, "create", create)
        create(token="from-the-other-web-process")
        return create(**fields)

    monkeypatch.setattr(UploadsMarker.objects, "create", create_after_another_process)
    upload(store, "Email\r\na@example.com\r\n")
    assert UploadsMarker.objects.count() == 2
    assert (tmp_path / "shared" / storage.MARKER).read_text().strip() == "from-the-other-web-process"
    assert storage.uploads_dir_problem() is None


def test_a_marker_that_cannot_be_read_is_said_so_not_called_another_token(store, settings, tmp_path):
    settings.IMPORTS_DIR = tmp_path / "web"
    upload(store, "Email\r\na@example.com\r\n")
    settings.IMPORTS_DIR = tmp_path / "worker"
    (tmp_path / "worker" / storage.MARKER).mkdir(parents=True)  # something of that name it cannot read
    problem = storage.uploads_dir_problem()
    assert "unreadable" in problem and "another token" not in problem
