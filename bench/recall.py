#!/usr/bin/env python
"""Recall (issue 17) for a profile with 10,000 observations in a store of 1,000,000 profiles,
PostgreSQL, against a plain `SELECT ... ORDER BY occurred_at DESC LIMIT 20` measured in the same run.

    .venv/bin/python bench/recall.py                  # 1,000,000 profiles, 10,000 observations
    .venv/bin/python bench/recall.py --check          # tiny, on a database of its own, dropped after

Builds its own database, `memory_console_bench_recall` (dropped and recreated on the server
DATABASE_URL names; 127.0.0.1:5432 by default), with INSERT ... SELECT generate_series: the store's
profiles, the target profile's observations (varied sentences from a small vocabulary) and
200,000 observations spread over other profiles, then VACUUM ANALYZE. It prints, p50 and p95 over
--samples calls each:

- baseline: the plain SELECT of the profile's 20 most recent observations (one round trip);
- recall at the database: the sum of the round trips of every statement `conversations.recall.recall`
  runs (the lexical ranking, the rows, evidence, summaries, the current conversation, the
  recall-count UPDATE), with and without a query;
- recall end to end: `POST /api/v1/stores/{id}/profiles/{id}/recall` through Django's test client
  (authentication, parsing, the JSON answer), with and without a query;

and the ratio of each to the baseline. Goals: under 30 ms at the database and under 60 ms end to
end (p95).
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATABASE = "memory_console_bench_recall"
QUERIES = [
    "peanut allergy",
    "how does the customer want to be contacted",
    "delivery preferences",
    "moving to Denver",
    "refund for the broken blender",
    "whatsapp",
    "vegetarian diet",
    "billing address change",
    "loyalty points",
    "weekend appointments",
    "dogs",
    "late delivery complaint",
    "prefers email invoices",
    "wheelchair access",
    "birthday in March",
    "allergic to shellfish",
]

# The target profile's sentences: subject x detail x time, so words recur as they do in real memory.
SUBJECTS = [
    "Prefers {w} for updates",
    "Allergic to {w}",
    "Moving to {w} next spring",
    "Asked about a refund for the {w}",
    "Has a {w} at home",
    "Wants invoices sent by {w}",
    "Complained about a late {w} delivery",
    "Follows a {w} diet",
    "Books appointments on {w}",
    "Collects loyalty points for {w}",
]
WORDS = [
    "WhatsApp", "email", "SMS", "phone calls", "peanuts", "shellfish", "gluten", "Denver", "Austin",
    "Seattle", "blender", "toaster", "headphones", "dog", "cat", "parrot", "post", "vegetarian", "vegan",
    "keto", "weekends", "Mondays", "evenings", "groceries", "flights", "hotel stays", "wheelchair access",
    "birthday in March", "the billing address", "express shipping",
]  # fmt: skip


def _sql_array(values) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def build(profiles: int, observations: int, others: int):
    """The store, its profiles and observations; returns (store, target profile, api key)."""
    from django.db import connection

    from accounts.models import Account
    from accounts.services import api_key_create
    from profiles.models import Profile
    from workspace.services import store_create

    account = Account.objects.create(name="Benchmarks")
    store = store_create(account=account, actor=None, name="recall")
    _, key = api_key_create(account=account, actor=None, name="bench recall")
    target = Profile.objects.create(store=store, traits={"Contact": {"firstName": "Ada", "lastName": "Lovelace"}})
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO profiles_profile (store_id, traits, trait_sources, created_at, updated_at) "
            "SELECT %s, '{}'::jsonb, '{}'::jsonb, now(), now() FROM generate_series(1, %s)",
            [store.pk, profiles - 1],
        )
        others_ids = Profile.objects.filter(store=store).exclude(pk=target.pk).values_list("pk", flat=True)
        first, last = others_ids.order_by("pk").first(), others_ids.order_by("-pk").first()
        print(f"  {profiles:,} profiles in {time.monotonic() - started:.1f} s", flush=True)
        started = time.monotonic()
        sentence = (
            f"replace(({_sql_array(SUBJECTS)})[1 + (i * 7) %% {len(SUBJECTS)}], '{{w}}', "
            f"({_sql_array(WORDS)})[1 + (i * 13 + i / 10) %% {len(WORDS)}]) || ' (note ' || i || ')'"
        )
        insert = (
            "INSERT INTO conversations_observation (store_id, profile_id, content, kind, subject, source, "
            "source_version, occurred_at, created_at, updated_at, recall_count, embedding_model) "
            f"SELECT %s, PROFILE, {sentence}, 'preference', '', 'builtin', '1', "
            "now() - (i || ' hours')::interval, now() - (i || ' hours')::interval, "
            "now() - (i || ' hours')::interval, 0, '' FROM generate_series(1, %s) AS i"
        )
        cursor.execute(insert.replace("PROFILE", "%s"), [store.pk, target.pk, observations])
        spread = f"{first} + (i * 7919) %% {max(last - first, 1)}"  # other profiles, a few each
        cursor.execute(insert.replace("PROFILE", spread), [store.pk, others])
        print(f"  {observations + others:,} observations in {time.monotonic() - started:.1f} s", flush=True)
        started = time.monotonic()
        cursor.execute("VACUUM ANALYZE")  # the steady state autovacuum keeps (visibility map, statistics)
        print(f"  VACUUM ANALYZE in {time.monotonic() - started:.1f} s", flush=True)
    return store, target, key


def pct(samples, p) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


def measure(store, target, key, samples: int) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from conversations.recall import recall, recall_options_clean

    rng = random.Random(17)
    results = {}

    baseline = []
    with connection.cursor() as cursor:
        for _ in range(samples):
            started = time.perf_counter()
            cursor.execute(
                "SELECT id, content, occurred_at FROM conversations_observation WHERE profile_id = %s "
                "ORDER BY occurred_at DESC LIMIT 20",
                [target.pk],
            )
            cursor.fetchall()
            baseline.append(time.perf_counter() - started)
    results["baseline"] = baseline

    for label, with_query in (("no query", False), ("query", True)):
        database, whole, found = [], [], 0
        for _ in range(samples):
            spent = []

            def timer(execute, sql, params, many, context, spent=spent):
                started = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    spent.append(time.perf_counter() - started)

            query = rng.choice(QUERIES) if with_query else ""
            started = time.perf_counter()
            with connection.execute_wrapper(timer):
                result = recall(profile=target, options=recall_options_clean(query=query))
            whole.append(time.perf_counter() - started)
            database.append(sum(spent))
            found += len(result.observations)
        results[f"database {label}"] = database
        results[f"function {label}"] = whole
        results[f"found {label}"] = found

    setup_test_environment()
    client = Client()
    url = f"/api/v1/stores/{store.pk}/profiles/{target.pk}/recall"
    for label, with_query in (("no query", False), ("query", True)):
        whole = []
        for _ in range(samples):
            body = json.dumps({"query": rng.choice(QUERIES)} if with_query else {})
            started = time.perf_counter()
            response = client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
            whole.append(time.perf_counter() - started)
            assert response.status_code == 200, response.content[:300]
        results[f"api {label}"] = whole
    return results


def explain(target, query: str) -> None:
    """EXPLAIN ANALYZE of each statement recall runs for `query` (plan summary and time)."""
    import json as json_module

    from django.db import connection, transaction

    from conversations.recall import recall, recall_options_clean

    captured = []

    def capture(execute, sql, params, many, context):
        captured.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        recall(profile=target, options=recall_options_clean(query=query), count=False)
    print(f"\n--- EXPLAIN ANALYZE of recall's statements for {query!r} ---")
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in captured:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0]
            plan = plan if isinstance(plan, list) else json_module.loads(plan)
            text = json_module.dumps(plan)
            indexes = sorted({part.split('"')[0] for part in text.split('"Index Name": "')[1:]})
            first = " ".join(sql.split())[:70]
            print(f"{plan[0]['Execution Time']:8.2f} ms  {first}  indexes: {', '.join(indexes) or '-'}")


def report(results: dict, profiles: int, observations: int) -> list[str]:
    base95 = pct(results["baseline"], 95)
    print(f"\n--- recall, a profile with {observations:,} observations, a store of {profiles:,} profiles ---")
    print(f"{'':38} {'p50 ms':>8} {'p95 ms':>8} {'p95 / baseline':>15}")
    rows = [
        ("baseline: SELECT ... LIMIT 20", "baseline"),
        ("recall at the database, no query", "database no query"),
        ("recall at the database, query", "database query"),
        ("recall() in Python, no query", "function no query"),
        ("recall() in Python, query", "function query"),
        ("POST .../recall end to end, no query", "api no query"),
        ("POST .../recall end to end, query", "api query"),
    ]
    for label, key in rows:
        p50, p95 = pct(results[key], 50), pct(results[key], 95)
        print(f"{label:38} {p50:8.2f} {p95:8.2f} {p95 / base95:14.1f}x", flush=True)
    problems = []
    for key in ("database no query", "database query"):
        if pct(results[key], 95) >= 30:
            problems.append(f"{key}: p95 {pct(results[key], 95):.1f} ms, goal under 30 ms")
    for key in ("api no query", "api query"):
        if pct(results[key], 95) >= 60:
            problems.append(f"{key}: p95 {pct(results[key], 95):.1f} ms, goal under 60 ms")
    print(f"observations returned: {results['found no query']:,} without a query, {results['found query']:,} with")
    print(f"goals (p95: database < 30 ms, end to end < 60 ms): {'; '.join(problems) or 'met'}", flush=True)
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--observations", type=int, default=10_000, help="the target profile's")
    parser.add_argument("--others", type=int, default=200_000, help="observations of other profiles")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of recall's statements first")
    parser.add_argument("--check", action="store_true", help="tiny counts, a database of its own dropped after")
    args = parser.parse_args()
    if args.check:
        args.profiles, args.observations, args.others, args.samples = 2_000, 500, 1_000, 20
    sys.path.insert(0, str(HERE))
    from _setup import django_on_bench_database, drop_database, fresh_database

    name = f"{DATABASE}_check_{os.getpid()}" if args.check else DATABASE
    os.environ["DATABASE_URL"] = fresh_database(name)
    try:
        django_on_bench_database()
        print(f"building {name}:", flush=True)
        store, target, key = build(args.profiles, args.observations, args.others)
        if args.explain:
            explain(target, "peanut allergy")
            explain(target, "")
        results = measure(store, target, key, args.samples)
        problems = report(results, args.profiles, args.observations)
        assert results["found no query"] == 20 * args.samples, "recall without a query must fill its limit"
        assert results["found query"] > 0, "the queries must find observations"
        print("check: correct", flush=True)
    finally:
        from django.db import connections

        connections.close_all()
        if args.check:
            drop_database(os.environ["DATABASE_URL"])
    return 1 if problems and not args.check else 0


if __name__ == "__main__":
    sys.exit(main())
