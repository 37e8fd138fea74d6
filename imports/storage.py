"""Where uploaded CSV files and their progress live (settings.IMPORTS_DIR, shared by web and workers).

The worker ingests a file in one database transaction on PostgreSQL, which other connections cannot
see, so it reports progress through a small JSON file next to the upload, replaced atomically (on
SQLite too, where it also says how many rows are written, or that they are being removed); its
modification time doubles as the worker's heartbeat.
"""

import contextlib
import fcntl
import json
import os
import shutil
import time
import uuid
from pathlib import Path

from django.conf import settings


def store_dir(store_id: int) -> Path:
    return Path(settings.IMPORTS_DIR) / f"store-{store_id}"


MARKER = ".memory-console-uploads"


def uploads_marker_ensure() -> None:
    """Web side, before each upload: IMPORTS_DIR holds the deployment's marker file (its token, kept
    in the database), written once. A worker checks it at start (uploads_dir_problem)."""
    from .models import UploadsMarker

    marker = UploadsMarker.objects.order_by("pk").first()
    if marker is None:
        UploadsMarker.objects.create(token=uuid.uuid4().hex)
        # Two first uploads at once may each create a row: every process writes the first row's
        # token, the one a worker compares with (uploads_dir_problem), never its own.
        marker = UploadsMarker.objects.order_by("pk").first()
    path = Path(settings.IMPORTS_DIR) / MARKER
    with contextlib.suppress(OSError):
        if path.read_text().strip() == marker.token:
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{MARKER}.{uuid.uuid4().hex}")
    temporary.write_text(marker.token + "\n")
    os.replace(temporary, path)


def uploads_dir_problem() -> str | None:
    """Worker side, at start: why this process cannot see the files the web side uploads, or None.

    None when nothing was ever uploaded (no marker yet) or IMPORTS_DIR holds the marker with the
    database's token. Else a message naming the directory: it is not the web servers' (another
    host without the shared volume, another path, another deployment's)."""
    from .models import UploadsMarker

    marker = UploadsMarker.objects.order_by("pk").first()
    if marker is None:
        return None
    path = Path(settings.IMPORTS_DIR) / MARKER
    try:
        found = path.read_text().strip()
    except FileNotFoundError:
        state = "missing"
    except OSError as exc:  # a directory of that name, no permission to read it...
        state = f"unreadable: {exc.strerror or type(exc).__name__}"
    else:
        if found == marker.token:
            return None
        state = "another token"
    return (
        f"This worker cannot see the uploaded files: IMPORTS_DIR ({settings.IMPORTS_DIR}) does not hold the "
        f"marker the web servers wrote ({MARKER}: {state}). "
        "Give every web and worker process the same directory (a shared volume) and the same IMPORTS_DIR."
    )


def upload_save(*, store_id: int, chunks) -> tuple[Path, int]:
    """Stream `chunks` (bytes) to a new file in the store's directory; (path, size)."""
    uploads_marker_ensure()
    directory = store_dir(store_id)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}.csv"
    size = 0
    try:
        with open(path, "wb") as handle:
            for chunk in chunks:
                size += len(chunk)
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)  # a failed or refused upload leaves nothing behind
        raise
    return path, size


def file_delete(path: str | Path) -> None:
    if not path:
        return
    for candidate in (Path(path), progress_path(path)):
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()


def store_files_delete(store_id: int) -> None:
    shutil.rmtree(store_dir(store_id), ignore_errors=True)


def progress_path(path: str | Path) -> Path:
    return Path(f"{path}.progress.json")


def progress_write(path: str | Path, **values) -> None:
    if not path:
        return  # an import without a file (never uploaded) has nothing to report
    target = progress_path(path)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps({**values, "at": time.time()}))
    os.replace(temporary, target)


def progress_read(path: str | Path) -> dict | None:
    try:
        return json.loads(progress_path(path).read_text())
    except (FileNotFoundError, ValueError):
        return None


def heartbeat_age(path: str | Path) -> float | None:
    """Seconds since the worker last wrote progress for this file, or None if it never did."""
    try:
        return time.time() - progress_path(path).stat().st_mtime
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def import_turn(*, sqlite_file: str | None):
    """On SQLite (`sqlite_file`, its database's name), wait until no other import of that database
    is running, and hold the turn; otherwise do nothing.

    SQLite has one writer; one import at a time keeps the steps of two imports from taking turns
    with each other (and doubling every other writer's wait). SQLite means one host, so a lock
    file beside the database is enough (beside the uploads for an in-memory database); the
    operating system releases it when the process holding it dies.
    """
    if sqlite_file is None:
        yield
        return
    if sqlite_file == ":memory:" or sqlite_file.startswith("file:"):
        Path(settings.IMPORTS_DIR).mkdir(parents=True, exist_ok=True)
        lock = Path(settings.IMPORTS_DIR) / ".import-turn.lock"
    else:
        lock = Path(f"{sqlite_file}.import-turn")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
