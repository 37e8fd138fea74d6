"""On SQLite django-q2's tables live in a database file of their own (the `queue` alias), so the
task queue never waits for the data database: whoever holds the data file's write lock (an
import's step, or anyone's write), queueing a task or recording a result must go on meanwhile. On PostgreSQL
everything stays in `default`."""

import contextlib
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memory_console.routers import QueueRouter
from memory_console.settings import sqlite_queue_name
from tests.imports_helpers import CONTACT, csv_text, queue, upload
from tests.worker_helpers import ROOT, kill, manage, migrate, qcluster, wait_for, worker_env


def _run_settings(url: str, **extra: str) -> subprocess.CompletedProcess:
    code = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps({'databases': s.DATABASES, 'orm': s.Q_CLUSTER['orm'], 'routers': s.DATABASE_ROUTERS}, "
        "default=str))"
    )
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**worker_env(url, Path("/nonexistent")), "SQLITE_BUSY_TIMEOUT": "7", **extra},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(url: str, **extra: str) -> dict:
    """The databases and the django-q2 ORM alias a process started with DATABASE_URL=`url` gets."""
    done = _run_settings(url, **extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_queue_file_is_the_data_file_with_queue_before_its_extension():
    assert sqlite_queue_name("var/db.sqlite3") == "var/db.queue.sqlite3"
    assert sqlite_queue_name("/srv/console/data.db") == "/srv/console/data.queue.db"
    assert sqlite_queue_name("/srv/console/data") == "/srv/console/data.queue"
    assert sqlite_queue_name(":memory:") == ":memory:"


def test_on_sqlite_django_q_gets_a_queue_database_beside_the_data_file_with_the_same_options(tmp_path):
    found = _settings(f"sqlite:///{tmp_path / 'console.sqlite3'}")
    default, queue_db = found["databases"]["default"], found["databases"]["queue"]
    assert default["NAME"] == str(tmp_path / "console.sqlite3")
    assert queue_db["NAME"] == str(tmp_path / "console.queue.sqlite3")
    assert queue_db["ENGINE"] == "django.db.backends.sqlite3"
    assert queue_db["OPTIONS"] == default["OPTIONS"]
    assert queue_db["OPTIONS"]["timeout"] == 7.0 and queue_db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in queue_db["OPTIONS"]["init_command"]
    assert found["orm"] == "queue"
    assert found["routers"] == ["memory_console.routers.QueueRouter"]


def test_an_in_memory_data_database_gets_an_in_memory_queue():
    found = _settings("sqlite://:memory:")
    assert found["databases"]["queue"]["NAME"] == ":memory:"
    assert found["orm"] == "queue"


def test_queue_database_url_puts_the_queue_elsewhere_but_never_in_the_data_file(tmp_path):
    data = f"sqlite:///{tmp_path / 'console.sqlite3'}"
    found = _settings(data, QUEUE_DATABASE_URL=f"sqlite:///{tmp_path / 'elsewhere' / 'q.sqlite3'}")
    assert found["databases"]["queue"]["NAME"] == str(tmp_path / "elsewhere" / "q.sqlite3")
    assert found["databases"]["queue"]["OPTIONS"] == found["databases"]["default"]["OPTIONS"]
    same = _run_settings(data, QUEUE_DATABASE_URL=data)
    assert same.returncode != 0
    assert "QUEUE_DATABASE_URL must name another SQLite file than DATABASE_URL" in same.stderr


def test_on_postgresql_everything_stays_in_the_default_database():
    found = _settings("postgres://postgres@127.0.0.1:5432/mc_queue_settings_only")  # never connected to
    assert list(found["databases"]) == ["default"]
    assert found["orm"] == "default"


@pytest.mark.sqlite
def test_the_router_sends_django_q_to_the_queue_database_and_keeps_every_other_app_off_it():
    from django_q.models import OrmQ, Schedule, Success, Task

    from imports.models import ProfileImport
    from profiles.models import Profile

    router = QueueRouter()
    for model in (OrmQ, Schedule, Task, Success):  # Success (and Failure) are proxies of Task
        assert router.db_for_read(model) == "queue"
        assert router.db_for_write(model) == "queue"
    for model in (Profile, ProfileImport):
        assert router.db_for_read(model) is None and router.db_for_write(model) is None
    assert router.allow_migrate("queue", "django_q", model_name="ormq") is True
    assert router.allow_migrate("default", "django_q", model_name="ormq") is False
    for app in ("profiles", "imports", "auth", "contenttypes", "sessions"):
        assert router.allow_migrate("queue", app) is False
        assert router.allow_migrate("default", app) is None  # Django's default: yes


def test_without_a_queue_database_the_router_leaves_everything_in_default(settings):
    from django_q.models import OrmQ, Schedule

    settings.QUEUE_DATABASE = "not-configured"  # as on PostgreSQL: no such alias
    router = QueueRouter()
    assert router.db_for_read(OrmQ) is None and router.db_for_write(Schedule) is None
    assert router.allow_migrate("default", "django_q") is None
    assert router.allow_migrate("default", "profiles") is None


@pytest.mark.django_db(databases="__all__")
def test_an_import_task_is_sent_when_the_data_transaction_commits_not_before(store, django_capture_on_commit_callbacks):
    from django_q.models import OrmQ
    from django_q.signing import SignedPackage

    with django_capture_on_commit_callbacks(execute=True):
        queued = queue(upload(store, csv_text("ada@example.com,,Ada,Lovelace")), CONTACT)
        # Queued in the data database, but not committed: no worker may see the task yet.
        assert not OrmQ.objects.exists()
    sent = [SignedPackage.loads(message.payload) for message in OrmQ.objects.all()]
    assert [(task["func"], task["args"]) for task in sent] == [
        ("imports.tasks.import_run_task", (queued.pk, queued.attempt))
    ]


def _tables(database: Path) -> set[str]:
    with contextlib.closing(sqlite3.connect(database)) as db:
        return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _console(tmp_path: Path, busy_timeout: int = 20) -> tuple[Path, Path, dict]:
    """A console on a SQLite file of its own, migrated as `make run` does: the data file, the
    queue file and the environment of its commands."""
    data = tmp_path / "console.sqlite3"
    env = {**worker_env(f"sqlite:///{data}", tmp_path / "imports"), "SQLITE_BUSY_TIMEOUT": str(busy_timeout)}
    migrate(env)
    return data, tmp_path / "console.queue.sqlite3", env


@pytest.mark.sqlite
def test_django_q_tables_are_in_the_queue_file_and_not_in_the_data_file(tmp_path):
    data, queue_file, _ = _console(tmp_path)
    in_data, in_queue = _tables(data), _tables(queue_file)
    assert {"django_q_ormq", "django_q_task", "django_q_schedule"} <= in_queue
    assert not {name for name in in_data if name.startswith("django_q")}
    assert {"profiles_profile", "imports_profileimport", "auth_user"} <= in_data
    assert in_queue - {"django_migrations", "sqlite_sequence"} == {
        name for name in in_queue if name.startswith("django_q")
    }
    with contextlib.closing(sqlite3.connect(queue_file)) as db:  # the recovery schedule, made by that migrate
        assert db.execute("SELECT func, minutes FROM django_q_schedule ORDER BY func").fetchall() == [
            ("conversations.tasks.conversations_advance_task", 1),  # the lifecycle worker
            ("conversations.tasks.extraction_process_task", 1),  # memory extraction's sweep
            ("conversations.tasks.status_callbacks_send_task", 1),  # status callbacks' retries
            ("imports.tasks.imports_recover_task", 1),
        ]


ENQUEUE = """
import time
from django_q.tasks import async_task
started = time.monotonic()
async_task("math.floor", 2.5, task_name="{name}")
print(f"{{time.monotonic() - started:.3f}}")
"""


@pytest.mark.sqlite
def test_the_queue_takes_and_finishes_tasks_while_an_import_holds_the_data_file(tmp_path):
    busy_timeout = 60  # whatever waited for the data file's lock would take this long, then fail
    data, queue_file, env = _console(tmp_path, busy_timeout)
    log = tmp_path / "qcluster.log"
    cluster = qcluster(tmp_path / "imports", log, env["DATABASE_URL"], SQLITE_BUSY_TIMEOUT=str(busy_timeout))

    def result(name: str):
        with contextlib.closing(sqlite3.connect(queue_file, timeout=busy_timeout)) as db:
            return db.execute("SELECT success, result FROM django_q_task WHERE name = ?", (name,)).fetchone()

    holder = sqlite3.connect(data, isolation_level=None)
    try:
        manage(env, "shell", "-c", ENQUEUE.format(name="warm-up"))
        wait_for(lambda: result("warm-up"), 90, "the cluster to run a first task", log)

        holder.execute("BEGIN IMMEDIATE")  # the data file's write lock, as a running import holds it
        other = sqlite3.connect(data, timeout=0.1, isolation_level=None)
        with contextlib.closing(other), pytest.raises(sqlite3.OperationalError, match="database is locked"):
            other.execute("BEGIN IMMEDIATE")  # the lock is real: no one else writes the data file

        started = time.monotonic()
        enqueue_seconds = float(manage(env, "shell", "-c", ENQUEUE.format(name="behind-the-lock")).split()[-1])
        done = wait_for(lambda: result("behind-the-lock"), 30, "the task's result", log)
        took = time.monotonic() - started
        holder.execute("ROLLBACK")
    finally:
        holder.close()
        kill(cluster)
    assert enqueue_seconds < 2, f"async_task took {enqueue_seconds} s behind the data lock"
    assert done[0] == 1 and done[1] is not None  # succeeded, and its result was recorded
    assert took < busy_timeout / 3, f"{took:.1f} s from queueing to a recorded result behind the data lock"
    assert "database is locked" not in log.read_text()


def test_each_sqlite_console_keeps_its_workers_reports_beside_its_own_data_file(tmp_path):
    """Two SQLite consoles run from one checkout (a test's workers, `make run`'s) must not read each
    other's qclusters: readiness and import recovery would count a worker another console runs."""
    import os
    import subprocess
    import sys

    from tests.worker_helpers import ROOT

    def location(url: str) -> str:
        env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "memory_console.settings"}
        env.pop("Q_CLUSTER_CACHE_DIR", None)
        env.pop("REDIS_URL", None)
        code = "from django.conf import settings; print(settings.CACHES['cluster']['LOCATION'])"
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    assert location(f"sqlite:///{tmp_path / 'a' / 'console.sqlite3'}") == str(tmp_path / "a" / "console.cluster-cache")
    assert location(f"sqlite:///{tmp_path / 'b' / 'console.sqlite3'}") == str(tmp_path / "b" / "console.cluster-cache")
