#!/usr/bin/env python
"""The lifecycle pass (`conversations_advance`, the worker's schedule, every minute) over N open
conversations (default 100,000), on PostgreSQL and on SQLite, in one run (issue 16):

    .venv/bin/python bench/lifecycle.py --conversations 100000

For each database (a child process each; PostgreSQL: a new database of its own,
`memory_console_bench_lifecycle`, on DATABASE_URL's server, default postgres@127.0.0.1:5432;
SQLite: a new file in a temporary directory):
- four configurations over four channels (SMS + WhatsApp with observations on; Chat with a 60-minute
  timeout; RCS with the "inactive" state and observations on; a second SMS number), N open
  conversations spread over them, each with one customer message (bulk-created: the point is the
  pass, not the ingest), then ANALYZE (as autovacuum would have);
- (a) a pass when none is due (one minute after the last message: the steady state), three times;
- (b) a pass when all are due (two days later): each closes, with its history, and the
  conversations of configurations with observations on get an extraction request;
- baseline in the same run: the same rows put back to Open, then closed with one raw
  `UPDATE ... SET status = 'closed'` (no history, no extraction requests, no locking in chunks).
Prints seconds, rows/s and the ratio to the baseline; checks the counts. `--check`: 300
conversations (the test that keeps this script working). `BENCH_PROFILE=1`: also the seconds each
kind of SQL statement took in pass (b).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATABASE = "memory_console_bench_lifecycle"
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
BATCH = 5000

CONFIGURATIONS = [  # name, channels with their business address, settings
    ("SMS and WhatsApp", [("sms", "+14155550100"), ("whatsapp", "+14155550100")], {"observations_enabled": True}),
    ("Chat", [("chat", "support")], {"timeout_minutes": 60}),
    (
        "RCS",
        [("rcs", "+14155550101")],
        {"lifecycle": "inactive", "inactivity_minutes": 5, "observations_enabled": True},
    ),
    ("Second SMS number", [("sms", "+14155550102")], {}),
]


def seed(n: int):
    """The store, its configurations and `n` open conversations with one message each."""
    from accounts.models import Account
    from conversations.models import Communication, Conversation
    from conversations.services import ConfigurationInput, conversation_configuration_create
    from stores.services import store_create_empty

    account = Account.objects.create(name="Benchmarks")
    store = store_create_empty(account=account, name="lifecycle")
    slots = []  # (configuration, channel, business)
    for name, captures, settings in CONFIGURATIONS:
        configuration = conversation_configuration_create(
            store=store, actor=None, data=ConfigurationInput(name=name, captures=captures, **settings)
        )
        slots += [(configuration, channel, business) for channel, business in captures]
    for start in range(0, n, BATCH):
        conversations = []
        for i in range(start, min(n, start + BATCH)):
            configuration, channel, business = slots[i % len(slots)]
            customer = f"visitor-{i}" if channel == "chat" else f"+1628{2000000 + i:07d}"
            if channel == "whatsapp":
                customer = f"whatsapp:{customer}"
            at = T0 + timedelta(seconds=i % 60)  # the last messages within a minute
            conversations.append(
                Conversation(
                    store=store,
                    configuration=configuration,
                    channel=channel,
                    customer_address=customer,
                    business_address=business,
                    group_key=f"{configuration.pk}|{channel}|{business}|{customer}",
                    opened_at=at,
                    last_customer_at=at,
                )
            )
        Conversation.objects.bulk_create(conversations, batch_size=1000)
        Communication.objects.bulk_create(
            [
                Communication(
                    store=store,
                    conversation=c,
                    channel=c.channel,
                    direction="inbound",
                    from_address=c.customer_address,
                    to_address=c.business_address,
                    body="Hello, where is my order?",
                    occurred_at=c.last_customer_at,
                )
                for c in conversations
            ],
            batch_size=1000,
        )
    return store


def expected_extractions(n: int) -> int:
    slots = [settings.get("observations_enabled", False) for _, captures, settings in CONFIGURATIONS for _ in captures]
    return sum(1 for i in range(n) if slots[i % len(slots)])


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def raw_close_seconds(store, at) -> float:
    """Put the store's conversations back to Open (history and requests of the pass deleted), then
    close them all with one raw UPDATE, timed."""
    from django.db import connection, transaction

    from conversations.models import Conversation, ExtractionRequest, LifecycleEvent

    with transaction.atomic():
        LifecycleEvent.objects.filter(store=store).delete()
        ExtractionRequest.objects.filter(store=store).delete()
        Conversation.objects.filter(store=store).update(status="open", closed_at=None, inactive_at=None)
    analyze()
    table = Conversation._meta.db_table
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = 'closed', closed_at = %s WHERE status IN ('open', 'inactive')", [at]
        )
        closed = cursor.rowcount
    seconds = time.perf_counter() - started
    assert closed == Conversation.objects.filter(store=store).count(), closed
    return seconds


def measure(n: int) -> dict:
    """On the database DATABASE_URL names (set up and migrated here)."""
    sys.path.insert(0, str(HERE))
    from _setup import django_on_bench_database

    django_on_bench_database(sqlite=True)
    from django.db import connection

    from conversations.models import Conversation, ExtractionRequest, LifecycleEvent
    from conversations.services import ADVANCE_CHUNK, conversations_advance

    seconds, store = timed(lambda: seed(n))
    analyze()
    print(f"  seeded {n:,} open conversations with a message each in {seconds:.1f} s", flush=True)
    quiet = []
    for _ in range(3):
        seconds, counts = timed(lambda: conversations_advance(now=T0 + timedelta(minutes=2)))
        assert (counts.inactive, counts.closed, counts.extractions) == (0, 0, 0), counts
        quiet.append(seconds)
    at = T0 + timedelta(days=2)
    spent = {}  # with --profile: seconds per kind of statement of pass (b)

    def statement_timer(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            kind = " ".join(sql.split()[:4])[:60]
            spent[kind] = spent.get(kind, 0.0) + time.perf_counter() - started

    if os.environ.get("BENCH_PROFILE"):
        with connection.execute_wrapper(statement_timer):
            due, counts = timed(lambda: conversations_advance(now=at))
        for kind, seconds in sorted(spent.items(), key=lambda item: -item[1])[:8]:
            print(f"    {seconds:6.2f} s  {kind}", flush=True)
    else:
        due, counts = timed(lambda: conversations_advance(now=at))
    extractions = expected_extractions(n)
    problems = []
    if (counts.closed, counts.inactive, counts.extractions) != (n, 0, extractions):
        problems.append(f"the pass closed {counts.closed:,} and asked {counts.extractions:,} extractions")
    if Conversation.objects.filter(store=store).exclude(status="closed").exists():
        problems.append("conversations left live")
    if LifecycleEvent.objects.filter(store=store, kind="closed").count() != n:
        problems.append("history incomplete")
    if ExtractionRequest.objects.filter(store=store).count() != extractions:
        problems.append("extraction requests missing")
    raw = raw_close_seconds(store, at)
    return {
        "vendor": connection.vendor,
        "chunk": ADVANCE_CHUNK,
        "quiet": quiet,
        "due": due,
        "raw": raw,
        "extractions": extractions,
        "problems": problems,
    }


def report(label: str, n: int, r: dict) -> None:
    quiet = statistics.median(r["quiet"])
    print(
        f"{label}: (a) none due, median of 3   {quiet:7.3f} s   ({', '.join(f'{s:.3f}' for s in r['quiet'])})\n"
        f"{label}: (b) all due, each closes  {r['due']:7.2f} s   {n / r['due']:9,.0f} conversations/s   "
        f"({r['extractions']:,} extraction requests; chunks of {r['chunk']:,})\n"
        f"{label}: baseline raw UPDATE        {r['raw']:7.2f} s   {n / r['raw']:9,.0f} rows/s\n"
        f"{label}: ratio (b) / raw UPDATE     {r['due'] / r['raw']:7.1f}x; goal (b) under 5 s: "
        f"{'met' if r['due'] < 5 else 'NOT met'}; check: {'; '.join(r['problems']) or 'correct'}",
        flush=True,
    )


def child(database: str, n: int, out: str, check: bool) -> None:
    sys.path.insert(0, str(HERE))
    from _setup import drop_database, fresh_database

    if database == "postgresql":
        name = f"{DATABASE}_check_{os.getpid()}" if check else DATABASE
        os.environ["DATABASE_URL"] = fresh_database(name)
        try:
            result = measure(n)
        finally:
            from django.db import connections

            connections.close_all()
            if check:
                drop_database(os.environ["DATABASE_URL"])
    else:
        with tempfile.TemporaryDirectory(prefix="mc-bench-lifecycle-") as tmp:
            os.environ["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
            result = measure(n)
    Path(out).write_text(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--database", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--check", action="store_true", help="300 conversations, databases dropped after")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = 300 if args.check else args.conversations
    if args.child:
        child(args.child, n, args.out, args.check)
        return
    databases = ["postgresql", "sqlite"] if args.database == "both" else [args.database]
    print(f"{n:,} open conversations; {os.cpu_count()} cores", flush=True)
    results, failed = {}, False
    with tempfile.TemporaryDirectory(prefix="mc-bench-lifecycle-") as tmp:
        for database in databases:
            out = Path(tmp) / f"{database}.json"
            print(f"{database}:", flush=True)
            command = [sys.executable, __file__, "--child", database, "--out", str(out), "--conversations", str(n)]
            if subprocess.run(command + (["--check"] if args.check else []), check=False).returncode:
                sys.exit(f"the {database} measurement failed")
            results[database] = json.loads(out.read_text())
            report(database, n, results[database])
            failed |= bool(results[database]["problems"])
    if len(results) == 2:
        pg, lite = results["postgresql"], results["sqlite"]
        print(f"SQLite / PostgreSQL, (b) all due: {lite['due'] / pg['due']:.2f}x")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
