"""`make run` (scripts/run.sh): the console and the worker start together and stop together, on a
Ctrl-C at the terminal (SIGINT to the whole process group) or a TERM from a supervisor."""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_INHERITED = {"DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE", "DJANGO_SETTINGS_MODULE"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _group_members(group: int) -> list[int]:
    """Live (not zombie) processes whose process group is `group`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry.name))
    return members


STOPS = {
    "ctrl-c": lambda pid: os.killpg(pid, signal.SIGINT),  # what a terminal sends: the whole group
    "ctrl-c twice": lambda pid: (os.killpg(pid, signal.SIGINT), time.sleep(0.3), os.killpg(pid, signal.SIGINT)),
    "term to the group": lambda pid: os.killpg(pid, signal.SIGTERM),
    "term to the script only": lambda pid: os.kill(pid, signal.SIGTERM),
}


@pytest.mark.sqlite
@pytest.mark.parametrize("stop", list(STOPS))
def test_make_run_serves_the_console_and_stops_the_worker_with_it(tmp_path, stop):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}",
        IMPORTS_DIR=str(tmp_path / "imports"),
        PORT=str(port),
        Q_WORKERS="1",
    )
    log = tmp_path / "run.log"
    script = subprocess.Popen(
        ["bash", "scripts/run.sh"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group, as a terminal gives `make run`
    )
    worker = None
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if worker is None and "(worker pid " in text:
                worker = int(text.split("(worker pid ", 1)[1].split(";", 1)[0])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2) as page:
                    if page.status == 200 and worker and "running." in log.read_text(errors="replace"):
                        break
            except OSError:
                pass
            assert script.poll() is None, log.read_text()
            time.sleep(0.3)
        else:
            raise AssertionError("make run did not come up:\n" + log.read_text())
        assert "password:" in log.read_text()  # the demo administrator's credentials are printed
        # Its own process group (so the check below sees all its processes, and one signal reaches it).
        assert _group_members(worker), "the worker is not in a process group of its own"

        STOPS[stop](script.pid)
        script.wait(timeout=30)
        assert _group_members(script.pid) == [], "the console outlived make run"
        deadline = time.monotonic() + 10
        while _group_members(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _group_members(worker) == [], "the worker (or one of its processes) outlived make run"
    finally:  # whatever a failed run left behind
        for group in (script.pid, worker):
            if group and _group_members(group):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
        script.wait(timeout=10)
