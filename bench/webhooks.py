#!/usr/bin/env python
"""Twilio messaging webhooks through gunicorn on PostgreSQL (issue 16), against a plain Django
"hello" view under the same load, in one run:

    .venv/bin/python bench/webhooks.py --messages 3000 --clients 8

- a new PostgreSQL database of its own (`memory_console_bench_webhooks`, dropped and made again on
  each run; host, port and user from DATABASE_URL, default postgres@127.0.0.1:5432), migrated;
- a store and a conversation configuration capturing one number on SMS, with a Twilio auth token;
- gunicorn on 127.0.0.1 (a free port), serving `bench/hello_wsgi.py`: the project's application
  with one more route, `/bench/hello`; DEBUG off, as deployed. Workers: `--workers` (default 4, the
  README's deployment line, twice the cores here), `--worker-class` sync (default, the README's) or
  gthread (`--threads`);
- `--clients` client threads (default 8), each with its own `http.client` connection (kept alive
  where the worker allows it; a sync worker closes it after each answer and the client reconnects),
  post `--messages` signed messaging webhooks (signed beforehand with `RequestValidator`, as Twilio
  signs): from `--customers` distinct customers (default 60% of the messages), so the first message
  of each opens a conversation and the others join one;
- first 300 messages from other customers (the service's history), then ANALYZE, as autovacuum
  would have on a live database; then the same bodies are posted to the hello view (the baseline),
  then to the webhook.

Prints messages/s and p50/p95/p99 latency of each and their ratios, and the server's CPU per message
(gunicorn's workers and their PostgreSQL backends, read from /proc), which says what the server
would do with the machine's cores to itself (the load figures fall when other work shares them);
then checks: every answer 200, as many communications stored as sent, one conversation per
customer. `--check`: tiny counts on a database of its own, dropped after (tests/test_bench_scripts.py).
"""

import argparse
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATABASE = "memory_console_bench_webhooks"
TOKEN = "0123456789abcdef0123456789abcdef"
BUSINESS = "+14155550100"
PATH = "/webhooks/twilio/messaging"
HELLO = "/bench/hello"


def setup_store():
    """The store and its configuration (SMS on BUSINESS, signed with TOKEN)."""
    from accounts.models import Account
    from conversations.services import ConfigurationInput, conversation_configuration_create, twilio_auth_token_set
    from workspace.services import store_create

    account = Account.objects.create(name="Benchmarks")
    store = store_create(account=account, actor=None, name="webhooks")
    configuration = conversation_configuration_create(
        store=store, actor=None, data=ConfigurationInput(name="Support line", captures=[("sms", BUSINESS)])
    )
    twilio_auth_token_set(configuration=configuration, actor=None, token=TOKEN)
    return store


def customer(i: int) -> str:
    return f"+1415{2000000 + i:07d}"  # (415) 2xx-xxxx: valid US numbers


def signed_bodies(url: str, tag: str, count: int, customers: int, first: int = 0) -> list[tuple[str, str]]:
    """(form body, X-Twilio-Signature) of `count` SMS webhooks, message i from customer
    `first + i % customers`."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(TOKEN)
    bodies = []
    for i in range(count):
        fields = {
            "MessageSid": f"SM{tag}{i:010d}",
            "AccountSid": "AC" + "0" * 32,
            "From": customer(first + i % customers),
            "To": BUSINESS,
            "Body": f"Hello, this is message {i}: where is my order?",
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": "2010-04-01",
        }
        bodies.append((urllib.parse.urlencode(fields), validator.compute_signature(url, fields)))
    return bodies


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_start(port: int, database_url: str, args) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "False",
        "SECRET_KEY": "bench-only-secret-key-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "False",
        "LOG_LEVEL": "WARNING",
        # Each worker keeps its connection through the run (the default, 60 s, would replace it
        # mid-run), so the CPU of its PostgreSQL backend can be read at the start and the end.
        "DB_CONN_MAX_AGE": "600",
    }
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "--chdir", str(ROOT), "--pythonpath", str(HERE),
        "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers), "--worker-class", args.worker_class,
        "--threads", str(args.threads), "--backlog", "2048", "--log-level", "warning",
        "hello_wsgi:application",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn stopped with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", HELLO)
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.1)
    server.terminate()
    sys.exit("gunicorn did not answer within 60 s")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def server_cpu(server_pid: int, database: str) -> tuple[float, float]:
    """CPU seconds used so far by gunicorn's workers and by the PostgreSQL backends serving
    `database` (Linux /proc; the workers keep their connections, DB_CONN_MAX_AGE)."""
    import psycopg

    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == server_pid:
                workers.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    with psycopg.connect(os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        backends = [pid for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])]
    return sum(map(_cpu_seconds, workers)), sum(map(_cpu_seconds, backends))


def load(port: int, path: str, bodies, clients: int, cpu=None) -> dict:
    """Post `bodies` to `path` from `clients` threads; rate, latencies and statuses, and with `cpu`
    (a function: (workers, PostgreSQL) CPU seconds so far) the CPU milliseconds per message."""
    before = cpu() if cpu else (0.0, 0.0)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(chunk):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, codes = [], {}
        start.wait()
        for body, signature in chunk:
            headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
            began = time.perf_counter()
            try:
                conn.request("POST", path, body, headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                status = 0  # the connection failed
            mine.append(time.perf_counter() - began)
            codes[status] = codes.get(status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n

    threads = [threading.Thread(target=client, args=(bodies[i::clients],)) for i in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    after = cpu() if cpu else (0.0, 0.0)
    ordered = sorted(latencies)

    def pct(p):
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    return {
        "rate": len(bodies) / elapsed,
        "seconds": elapsed,
        "p50": pct(50),
        "p95": pct(95),
        "p99": pct(99),
        "statuses": statuses,
        "workers_ms": (after[0] - before[0]) / len(bodies) * 1000,
        "postgres_ms": (after[1] - before[1]) / len(bodies) * 1000,
    }


def analyze() -> None:
    """Planner statistics now, as autovacuum keeps them on a live database: the tables are new, and
    autovacuum (one look a minute) would not analyze them during the run. Planned for empty tables,
    the conversation lookup reads all of the store's conversations instead of its group's index
    entry (measured: 1 ms of PostgreSQL's CPU a message at 2,000 conversations, and growing)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--customers", type=int, help="distinct customers (default: 60%% of the messages)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument("--threads", type=int, default=1, help="threads per gthread worker")
    parser.add_argument("--check", action="store_true", help="tiny counts, database dropped after (a test runs it)")
    args = parser.parse_args()
    if args.check:
        args.messages, args.clients, args.workers = 40, 4, 2
    customers = args.customers or max(1, args.messages * 6 // 10)
    warmup = 8 if args.check else 300  # history, so the planner has statistics (analyze())

    sys.path.insert(0, str(HERE))
    from _setup import drop_database, fresh_database

    name = f"{DATABASE}_check_{os.getpid()}" if args.check else DATABASE
    database_url = fresh_database(name)
    os.environ["DATABASE_URL"] = database_url
    from _setup import django_on_bench_database

    django_on_bench_database()
    from django.db import connections

    from conversations.models import Communication, Conversation

    store = setup_store()
    connections.close_all()
    cores = os.cpu_count()
    print(
        f"database {name}; gunicorn {args.worker_class}, {args.workers} workers"
        + (f" x {args.threads} threads" if args.worker_class == "gthread" else "")
        + f"; {args.clients} clients; {args.messages:,} messages from {customers:,} customers; {cores} cores",
        flush=True,
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}{PATH}"
    tag = str(time.time_ns())
    warm = signed_bodies(url, tag + "w", warmup, warmup, first=900_000)  # other customers
    bodies = signed_bodies(url, tag, args.messages, customers)
    server = gunicorn_start(port, database_url, args)
    try:
        load(port, HELLO, warm * 4, args.clients)  # every worker imported and connected
        warmed = load(port, PATH, warm, args.clients)
        analyze()
        cpu = partial(server_cpu, server.pid, name)
        hello = load(port, HELLO, bodies, args.clients, cpu)
        hooks = load(port, PATH, bodies, args.clients, cpu)
    finally:
        server.terminate()
        server.wait(timeout=30)

    for label, r in (("baseline: hello view", hello), ("Twilio messaging webhook", hooks)):
        print(
            f"{label:<26} {r['rate']:7.0f} messages/s   p50 {r['p50']:6.1f} ms   p95 {r['p95']:6.1f} ms   "
            f"p99 {r['p99']:6.1f} ms   ({r['seconds']:.1f} s; answers {dict(sorted(r['statuses'].items()))})",
            flush=True,
        )
    for label, r in (("baseline: hello view", hello), ("Twilio messaging webhook", hooks)):
        total = r["workers_ms"] + r["postgres_ms"]
        print(
            f"{label:<26} server CPU {total:5.2f} ms a message (workers {r['workers_ms']:.2f}, PostgreSQL "
            f"{r['postgres_ms']:.2f}): {cores * 1000 / total:6.0f} messages/s if the server had the {cores} cores alone"
        )
    print(
        f"ratios: webhook / hello: rate {hooks['rate'] / hello['rate']:.2f}x, "
        f"p50 {hooks['p50'] / hello['p50']:.1f}x, p95 {hooks['p95'] / hello['p95']:.1f}x, server CPU a message "
        f"{(hooks['workers_ms'] + hooks['postgres_ms']) / (hello['workers_ms'] + hello['postgres_ms']):.1f}x"
    )
    stored = Communication.objects.filter(store=store).count()
    conversations = Conversation.objects.filter(store=store).count()
    problems = [] if warmed["statuses"] == {200: len(warm)} else [f"warm-up answers {warmed['statuses']}"]
    if hello["statuses"] != {200: len(bodies)}:
        problems.append(f"hello answers {hello['statuses']}")
    if hooks["statuses"] != {200: len(bodies)}:
        problems.append(f"webhook answers {hooks['statuses']}")
    if stored != len(bodies) + len(warm):
        problems.append(f"{stored:,} communications stored of {len(bodies) + len(warm):,} sent")
    if conversations != customers + len(warm):
        problems.append(f"{conversations:,} conversations for {customers + len(warm):,} customers")
    print(
        f"check: {stored:,} communications stored of {len(bodies) + len(warm):,} sent (warm-up included), "
        f"{conversations:,} conversations for {customers + len(warm):,} customers: "
        + ("; ".join(problems) if problems else "correct")
    )
    met = hooks["rate"] >= 300 and hooks["p95"] < 100
    print(f"goal: >= 300 messages/s with p95 < 100 ms: {'met' if met else 'NOT met'}")
    connections.close_all()
    if args.check:
        drop_database(database_url)
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
