"""Is an import's worker still running it? Recovery asks before it requeues a Running import.

A worker records itself as `host:pid:start` (`worker_id`) when it claims an import. On the same
host its process is looked up in /proc (a zombie counts as dead; the start time tells a reused pid);
on another host only the progress file's age can tell.
"""

import os
import socket
from pathlib import Path

from .. import storage
from ..models import ProfileImport

STALE_AFTER_SECONDS = 15 * 60  # a worker on another host that has not reported for this long is gone


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (state first, start time at index 19), or None without one."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def worker_id() -> str:
    """This process, as recorded on the import it claims: host:pid:start time."""
    fields = _proc_stat(os.getpid())
    return f"{socket.gethostname()}:{os.getpid()}:{fields[19] if fields else ''}"


def _process_alive(worker: str) -> bool | None:
    """True/False for a worker on this host, None when it ran elsewhere (we cannot tell)."""
    host, _, rest = worker.partition(":")
    if host != socket.gethostname() or not rest:
        return None
    pid, _, start = rest.partition(":")
    if not pid.isdigit():
        return False
    fields = _proc_stat(int(pid))
    if fields is None:
        try:
            os.kill(int(pid), 0)
        except OSError:
            return False
        return not start  # no /proc: the pid exists, trust it only if we never had a start time
    if fields[0] in ("Z", "X"):
        return False  # killed and not reaped yet (a container's init may never reap it)
    return not start or fields[19] == start


def worker_alive(profile_import: ProfileImport) -> bool:
    """Whether the worker that claimed this Running import still runs it."""
    alive = _process_alive(profile_import.worker) if profile_import.worker else False
    if alive is None:  # another host: trust it while it reports progress
        age = storage.heartbeat_age(profile_import.file_path)
        alive = age is not None and age < STALE_AFTER_SECONDS
    return alive
