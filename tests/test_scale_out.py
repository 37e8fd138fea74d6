"""Scale-out, proven as an operator runs it (issue 18): gunicorn, three qclusters of one worker each on
PostgreSQL, on the ORM broker and on Redis; concurrent imports uploaded through the API, and, once
the kill is done, 30 two-hour-old conversations (the communications API) that the lifecycle
schedule closes and memory
extraction reads; one cluster killed (SIGKILL, its whole process group) while it holds
imports Running and taken ahead of its workers. Every import must end Completed exactly once, with
exact profile and identifier counts, and every conversation closed once with its memory extracted
once, within 5 minutes: the imports the dead cluster ran are sent again because their worker is gone,
those it had only taken because nothing waits anywhere else (imports.services.recovery).

Also the readiness check (/api/v1/health/ready) and `manage.py queue_status` against real clusters.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from accounts.services import account_create, api_key_create
from conversations.models import (
    Conversation,
    ConversationStatus,
    ExtractionRequest,
    ExtractionStatus,
    LifecycleEvent,
    LifecycleEventKind,
    Observation,
    Summary,
)
from conversations.services import ConfigurationInput, conversation_configuration_create
from identity.models import Identifier
from imports.models import ImportStatus, ProfileImport
from profiles.models import Profile
from tests.worker_helpers import ROOT, Http, kill, people_csv, postgres_url, qcluster, wait_for
from workspace.services import store_create

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

STORES = 9  # three times the workers: every cluster takes imports ahead of its one worker
ROWS = 40_000
CUSTOMERS = 30  # conversations the lifecycle closes and memory extraction reads during the kill
BUSINESS = "+14155550100"
REDIS = ("127.0.0.1", 6379)


def _redis_up() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(REDIS, timeout=1) as probe:
        probe.sendall(b"PING\r\n")
        return probe.recv(16).startswith(b"+PONG")
    return False


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _broker_env(broker: str, tmp_path: Path) -> dict:
    """The deployment's settings shared by gunicorn and every cluster: its own queue name (so runs
    never share a queue), one task taken ahead, a Queued import lost after 10 s of nothing waiting."""
    env = {
        "Q_CLUSTER_NAME": f"scale-{broker}-{uuid.uuid4().hex[:8]}",
        "Q_QUEUE_LIMIT": "1",
        "IMPORT_LOST_AFTER": "10",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "scale-out-test-" + "x" * 40,  # one per deployment: tasks and cluster reports are signed with it
    }
    if broker == "redis":
        if not _redis_up():
            pytest.skip("needs Redis on 127.0.0.1:6379 (.ci/run starts it; `redis-server --daemonize yes`)")
        env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    return env


@contextlib.contextmanager
def _gunicorn(url: str, imports_dir: Path, log: Path, extra: dict):
    port = _free_port()
    env = {
        **os.environ,
        **extra,
        "DATABASE_URL": url,
        "IMPORTS_DIR": str(imports_dir),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DEBUG": "False",
        "SECURE_SSL_REDIRECT": "False",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "memory_console.wsgi:application"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:

        def answers():
            if server.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                return Http(base).request("GET", "/api/v1/health").status == 200
            return False

        wait_for(answers, 60, "gunicorn to answer", log)
        yield base
    finally:
        kill(server)


def _upload(base: str, key: str, store: int, csv: bytes) -> dict:
    """POST the file and its mapping to the import API as multipart, as a script would."""
    boundary = uuid.uuid4().hex
    mapping = json.dumps({"Email": "identifier:email", "First": "Contact.firstName", "Last": "Contact.lastName"})
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="mapping"\r\n\r\n{mapping}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="people.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + csv
        + f"\r\n--{boundary}--\r\n".encode()
    )
    answer = _post_raw(
        base,
        f"/api/v1/stores/{store}/imports",
        body,
        {"Authorization": f"Bearer {key}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert answer[0] == 202, answer
    return json.loads(answer[1])


def _post_raw(base: str, path: str, data: bytes, headers: dict) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(base + path, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _post_json(base: str, key: str, path: str, body) -> tuple[int, str]:
    data = json.dumps(body).encode()
    return _post_raw(base, path, data, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})


def store_model(pk: int):
    from stores.models import Store

    return Store.objects.get(pk=pk)


def _queue_status(url: str, extra: dict) -> dict:
    """`manage.py queue_status --json` with the deployment's settings: what an operator reads."""
    done = subprocess.run(
        [sys.executable, "manage.py", "queue_status", "--json"],
        cwd=ROOT,
        env={**os.environ, **extra, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return {**json.loads(done.stdout), "exit": done.returncode}


def _cluster_of(pid: int, clusters: dict[int, subprocess.Popen]) -> int | None:
    """The cluster (its qcluster process id) a worker process belongs to, by walking its parents."""
    while pid > 1:
        if pid in clusters:
            return pid
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return None
    return None


@pytest.mark.parametrize("broker", ["orm", "redis"])
def test_a_killed_cluster_loses_no_import_and_every_import_completes_exactly_once(broker, tmp_path):
    extra = _broker_env(broker, tmp_path)
    url, imports_dir = postgres_url(), tmp_path / "imports"
    account = account_create(name="Scale", admin_email="ops@example.com", admin_password="x9-pass-long")
    _, key = api_key_create(account=account, actor=None, name="loader")
    stores = [store_create(account=account, actor=None, name=f"Region {n}").pk for n in range(STORES)]
    talk_store = store_create(account=account, actor=None, name="Support").pk  # no import: its own profiles
    data = ConfigurationInput(name="Support line", captures=[("sms", BUSINESS)], observations_enabled=True)
    conversation_configuration_create(store=store_model(talk_store), actor=None, data=data)
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    talk = [
        {"channel": "sms", "from": f"+1415222{n:04d}", "to": BUSINESS, "direction": "inbound",
         "body": f"Hi, I'm allergic to peanuts and I prefer texts, never calls. Order {n} is late.",
         "timestamp": two_hours_ago, "external_id": f"SMscale{n:04d}"}
        for n in range(CUSTOMERS)
    ]  # fmt: skip
    csv = people_csv(ROWS).encode()
    logs = [tmp_path / f"qcluster-{n}.log" for n in range(3)]
    clusters: dict[int, subprocess.Popen] = {}
    with _gunicorn(url, imports_dir, tmp_path / "gunicorn.log", extra) as base:
        try:
            for log in logs:
                process = qcluster(imports_dir, log, url, workers=1, **extra)
                clusters[process.pid] = process
            status = wait_for(
                lambda: (s := _queue_status(url, extra))["exit"] == 0 and len(s["clusters"]) == 3 and s,
                90, "three clusters to report", logs[0], every=0.5,
            )  # fmt: skip
            assert {c["pid"] for c in status["clusters"]} == set(clusters)
            ready = Http(base).request("GET", "/api/v1/health/ready")
            assert ready.status == 200 and ready.json()["clusters"] == 3, ready.body
            assert ready.json()["workers"] == 3

            started = time.monotonic()
            uploaded = [_upload(base, key, store, csv) for store in stores]
            assert all(u["status"] == "queued" for u in uploaded)

            def holding_cluster():
                """A cluster running imports that reports tasks taken ahead of its workers, while
                imports still wait Queued: killed, it takes those along. (The reports first: they
                take a process to read, and the imports read after them are current at the kill.)"""
                status = _queue_status(url, extra)
                holding = {c["pid"] for c in status["clusters"] if c["waiting"]}
                imports = list(ProfileImport.objects.all())
                seen.append((status, [(i.pk, i.status, i.worker) for i in imports]))
                if not any(i.status == ImportStatus.QUEUED for i in imports):
                    return None
                runs: dict[int, list[int]] = {}
                for i in imports:
                    owner = _cluster_of(int(i.worker.split(":")[1]), clusters) if i.worker else None
                    if i.status == ImportStatus.RUNNING and owner in holding:
                        runs.setdefault(owner, []).append(i.pk)
                return next(iter(runs.items()), None)

            seen: list = []
            try:
                victim, its_imports = wait_for(
                    holding_cluster, 120, "a busy cluster holding imports taken ahead", logs[0], every=0.3
                )
            except AssertionError as timed_out:
                waiting = [[c["waiting"] for c in st["clusters"]] for st, _ in seen]
                states = [sorted(i[1] for i in imports) for _, imports in seen]
                raise AssertionError(f"{timed_out}\nwaiting seen: {waiting}\nstatuses seen: {states}") from None
            kill(clusters.pop(victim))
            interrupted = set(
                ProfileImport.objects.filter(pk__in=its_imports, status=ImportStatus.RUNNING).values_list(
                    "pk", flat=True
                )
            )
            queued_at_kill = ProfileImport.objects.filter(status=ImportStatus.QUEUED).count()
            # Conversations two hours old: the surviving clusters' lifecycle schedule closes them all
            # and queues their memory extraction, beside the imports being recovered.
            sent = _post_json(base, key, f"/api/v1/stores/{talk_store}/communications/batch", {"items": talk})
            assert sent[0] == 200, sent

            def all_ended():
                statuses = list(ProfileImport.objects.values_list("status", flat=True))
                imports_ended = all(s in (ImportStatus.COMPLETED, ImportStatus.FAILED) for s in statuses)
                closed = Conversation.objects.filter(status=ConversationStatus.CLOSED).count() == CUSTOMERS
                extracted = ExtractionRequest.objects.exclude(status=ExtractionStatus.PENDING).count() >= CUSTOMERS
                return imports_ended and closed and extracted and statuses

            wait_for(all_ended, 300, "every import to end within 5 minutes of the kill", logs[1], every=1)
            elapsed = time.monotonic() - started
        finally:
            for process in clusters.values():
                kill(process)
    imports = list(ProfileImport.objects.order_by("store_id"))  # the support store has none
    assert [i.status for i in imports] == [ImportStatus.COMPLETED] * STORES, [i.failure_reason for i in imports]
    for profile_import in imports:
        assert profile_import.rows_ingested == ROWS and profile_import.profiles_created == ROWS
        assert Profile.objects.filter(store_id=profile_import.store_id).count() == ROWS
        assert Identifier.objects.filter(store_id=profile_import.store_id, kind="email").count() == ROWS
    # The conversations: each closed once, its memory extracted once, on the right profile.
    assert Conversation.objects.filter(status=ConversationStatus.CLOSED).count() == CUSTOMERS
    assert LifecycleEvent.objects.filter(kind=LifecycleEventKind.CLOSED).count() == CUSTOMERS
    requests = list(ExtractionRequest.objects.values_list("conversation_id", "status"))
    assert len(requests) == CUSTOMERS and {s for _, s in requests} == {ExtractionStatus.DONE}, requests
    assert len({c for c, _ in requests}) == CUSTOMERS
    assert Summary.objects.count() == CUSTOMERS
    allergies = Observation.objects.filter(content__icontains="peanut")
    assert allergies.count() == CUSTOMERS and len({o.profile_id for o in allergies}) == CUSTOMERS
    assert queued_at_kill >= 1 and interrupted  # the kill caught imports running and others taken or waiting
    assert all(i.attempt > 1 for i in imports if i.pk in interrupted)  # those it ran went again, from the start
    assert elapsed < 300


def test_readiness_names_what_is_missing_and_liveness_asks_nothing(client):
    """No qcluster reports in this test: ready is 503 naming the workers; liveness stays 200."""
    assert client.get("/api/v1/health").json() == {"status": "ok"}
    answer = client.get("/api/v1/health/ready")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unavailable" and body["clusters"] == 0
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    assert not body["checks"]["workers"]["ok"] and "No worker" in body["checks"]["workers"]["detail"]


def test_readiness_fails_on_a_broker_that_does_not_answer(tmp_path):
    """REDIS_URL pointing at a closed port: the broker check fails with its reason, 503 (a real
    process with those settings, asked over the test client)."""
    script = (
        "import django, os; django.setup(); from django.test import Client; "
        "r = Client(HTTP_HOST='localhost').get('/api/v1/health/ready'); print(r.status_code, r.content.decode())"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "memory_console.settings", "DATABASE_URL": postgres_url(),
             "REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0", "LOG_LEVEL": "CRITICAL"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    status, _, body = done.stdout.strip().partition(" ")
    assert status == "503", done.stdout + done.stderr
    checks = json.loads(body)["checks"]
    assert not checks["broker"]["ok"] and "cannot be reached" in checks["broker"]["detail"]
    assert checks["database"]["ok"]
