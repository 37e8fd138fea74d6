#!/usr/bin/env python
"""Scale-out on one machine (issue 18): imports on 1 qcluster against 3, and identify-batch through
gunicorn with 1 worker against 4, PostgreSQL, in one run:

    .venv/bin/python bench/scale_out.py --rows 50000 --imports 3

- a new PostgreSQL database of its own (`memory_console_bench_scale`, dropped and made again each run);
- **imports**: `--imports` stores, each given the same CSV of `--rows` people (email, first and last
  name) uploaded through the service (as the API does), run (a) by 1 qcluster of 1 worker, the
  baseline, then, on new stores, (b) by 3 qclusters of 1 worker each (the ORM broker; REDIS_URL set
  switches both runs to Redis). Prints each run's wall time from queueing to the last Completed, rows a
  second, and (b)/(a);
- **identify-batch**: `--batches` POSTs of 1,000 items (new customers: email, phone, two traits) from
  4 client threads to gunicorn with 1 sync worker, then 4; batches a second and items a second, and
  the ratio.

What a third cluster buys is bounded by the cores (printed): on a 2-core machine, the database and
the workers share them, so read the ratio with the core count. Checks the profile counts.
`--check`: tiny counts on a database of its own, dropped after.
"""

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATABASE = "memory_console_bench_scale"
SECRET = "bench-scale-secret-" + "x" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(database_url: str, imports_dir: Path, **extra) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "IMPORTS_DIR": str(imports_dir),
        "SECRET_KEY": SECRET,
        "DEBUG": "False",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "False",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def start_clusters(count: int, env: dict, log: Path) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**env, "Q_WORKERS": "1"},
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        for _ in range(count)
    ]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        try:
            os.kill(process.pid, signal.SIGTERM)  # the main process: django-q2 stops its own children
        except ProcessLookupError:
            continue
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def imports_run(account, csv: bytes, stores: int, clusters: int, env: dict, log: Path, tag: str) -> dict:
    """Queue one import per new store, start `clusters` clusters, wait for every import to end."""
    from identity.config import store_config
    from imports.mapping import mapping_from_specs
    from imports.models import ImportStatus, ProfileImport
    from imports.services import import_queue, import_upload
    from workspace.services import store_create

    made = [store_create(account=account, actor=None, name=f"{tag} {n}") for n in range(stores)]
    processes = start_clusters(clusters, env, log)
    try:
        time.sleep(3)  # the clusters start (imports load Django once per worker)
        started = time.monotonic()
        ids = []
        for store in made:
            upload = import_upload(store=store, actor=None, file_name="people.csv", chunks=iter([csv]))
            specs = ["Email=identifier:email", "First=Contact.firstName", "Last=Contact.lastName"]
            mapping = mapping_from_specs(headers=upload.headers, specs=specs, schema=store_config(store=store).schema)
            ids.append(import_queue(profile_import=upload, actor=None, mapping=mapping).pk)
        while True:
            statuses = list(ProfileImport.objects.filter(pk__in=ids).values_list("status", "rows_ingested"))
            if all(s in (ImportStatus.COMPLETED, ImportStatus.FAILED, ImportStatus.CANCELLED) for s, _ in statuses):
                break
            if time.monotonic() - started > 3600:
                sys.exit("imports did not end within an hour")
            time.sleep(0.2)
        seconds = time.monotonic() - started
    finally:
        stop(processes)
    return {"seconds": seconds, "statuses": statuses, "stores": made}


def identify_load(port: int, store_id: int, key: str, batches: list[bytes], clients: int) -> dict:
    lock, queue, statuses = threading.Lock(), list(batches), {}

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            try:
                conn.request("POST", f"/api/v1/stores/{store_id}/profiles/identify-batch", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                status = "error"
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    return {"seconds": seconds, "rate": len(batches) / seconds, "statuses": statuses}


def gunicorn(port: int, workers: int, env: dict, log: Path) -> subprocess.Popen:
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--timeout", "120", "memory_console.wsgi:application"],
        cwd=ROOT, env={**env, "DB_CONN_MAX_AGE": "600"}, stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/health")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.1)
    server.terminate()
    sys.exit("gunicorn did not answer within 60 s")


def batch_bodies(count: int, first: int) -> list[bytes]:
    bodies = []
    for b in range(count):
        items = []
        for i in range(1000):
            n = first + b * 1000 + i
            items.append({
                "identifiers": {"email": f"c{n}@example.com", "phone": f"+1415{3000000 + n % 7000000:07d}"},
                "traits": {"Contact": {"firstName": f"F{n}", "lastName": f"L{n}"}},
            })  # fmt: skip
        bodies.append(json.dumps({"items": items}).encode())
    return bodies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--imports", type=int, default=3)
    parser.add_argument("--batches", type=int, default=40, help="identify-batch POSTs of 1,000 items per run")
    parser.add_argument("--check", action="store_true", help="tiny counts, database dropped after (a test runs it)")
    args = parser.parse_args()
    if args.check:
        args.rows, args.batches = 300, 4

    sys.path.insert(0, str(HERE))
    from _setup import drop_database, fresh_database

    name = f"{DATABASE}_check_{os.getpid()}" if args.check else DATABASE
    database_url = fresh_database(name)
    os.environ["DATABASE_URL"] = database_url
    work = Path(f"/tmp/{name}")
    imports_dir = work / "imports"
    imports_dir.mkdir(parents=True, exist_ok=True)
    os.environ["IMPORTS_DIR"] = str(imports_dir)
    os.environ["SECRET_KEY"] = SECRET
    os.environ["Q_CLUSTER_NAME"] = f"bench-scale-{os.getpid()}"  # never another console's queue on a shared Redis
    from _setup import django_on_bench_database

    django_on_bench_database()
    from django.db import connections

    from accounts.services import account_create, api_key_create
    from profiles.models import Profile
    from workspace.services import store_create

    account = account_create(name="Scale", admin_email="scale@example.com", admin_password="x9-pass-long")
    _, key = api_key_create(account=account, actor=None, name="bench")
    lines = ["Email,First,Last", *(f"p{i}@example.com,First{i},Last{i}" for i in range(args.rows))]
    csv = ("\r\n".join(lines) + "\r\n").encode()
    env = env_for(database_url, imports_dir)
    broker = "Redis" if os.environ.get("REDIS_URL") else "ORM"
    print(f"database {name}; {os.cpu_count()} cores; broker {broker}; {args.imports} imports of {args.rows:,} rows")
    one = imports_run(account, csv, args.imports, 1, env, work / "q1.log", "one")
    three = imports_run(account, csv, args.imports, 3, env, work / "q3.log", "three")
    for label, run in (("1 qcluster x 1 worker (baseline)", one), ("3 qclusters x 1 worker", three)):
        rows = sum(r for _, r in run["statuses"])
        rate = rows / run["seconds"]
        print(f"imports, {label:<34} {run['seconds']:7.1f} s   {rate:9,.0f} rows/s   {run['statuses']}")
    print(f"ratio: 3 clusters / 1: {one['seconds'] / three['seconds']:.2f}x the throughput")
    counts = [Profile.objects.filter(store=s).count() for run in (one, three) for s in run["stores"]]
    check_imports = all(c == args.rows for c in counts)

    store = store_create(account=account, actor=None, name="identify")
    connections.close_all()
    results = {}
    for workers, first in ((1, 0), (4, 10_000_000)):
        port = free_port()
        server = gunicorn(port, workers, env, work / "gunicorn.log")
        try:
            identify_load(port, store.pk, key, batch_bodies(2, first + 9_000_000), 4)  # warm every worker
            results[workers] = identify_load(port, store.pk, key, batch_bodies(args.batches, first), 4)
        finally:
            server.terminate()
            server.wait(timeout=30)
    for workers, r in results.items():
        label = f"gunicorn {workers} sync worker(s)" + (" (baseline)" if workers == 1 else "")
        print(
            f"identify-batch, {label:<34} {r['rate']:6.2f} batches/s   {r['rate'] * 1000:9,.0f} items/s   "
            f"answers {r['statuses']}"
        )
    print(f"ratio: 4 workers / 1: {results[4]['rate'] / results[1]['rate']:.2f}x")
    identified = Profile.objects.filter(store=store).count()
    expected = (args.batches + 2) * 2 * 1000
    ok = check_imports and identified == expected and all(set(r["statuses"]) == {200} for r in results.values())
    print(f"check: every import {args.rows:,} profiles: {check_imports}; {identified:,} of {expected:,} identified")
    connections.close_all()
    if args.check:
        drop_database(database_url)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
