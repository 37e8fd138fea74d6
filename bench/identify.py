#!/usr/bin/env python
"""Identify throughput on PostgreSQL against a store of N profiles (default 1,000,000).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/memory_console_bench \\
        .venv/bin/python bench/identify.py --profiles 1000000 --calls 2000

Measures, in one run:
- service, new profiles: `profile_identify` with a fresh email + phone + a trait, one process;
- service, matches: `profile_identify` of an existing profile's email with a trait change;
- service, new profiles from 2 processes at once (this machine has 2 cores);
- HTTP: POST /api/v1/stores/{id}/profiles/identify through `runserver` (threaded) from 4 client threads;
- baseline "naive ORM": `Profile.objects.create` + `Identifier.objects.create` per call in a
  transaction, with no resolution at all, the floor for one-call-at-a-time ORM writes.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from _setup import ROOT, django_on_bench_database


def _new_calls(tag: str, n: int):
    return [
        dict(
            identifiers=[("email", f"bench-{tag}-{i}@example.org"), ("chat", f"chat-{tag}-{i}")],
            traits={"Contact": {"firstName": "Bench", "lastName": tag}},
        )
        for i in range(n)
    ]


def _service_rate(store, calls) -> float:
    from identity.services import profile_identify

    started = time.perf_counter()
    for call in calls:
        profile_identify(store=store, source="bench", **call)
    return len(calls) / (time.perf_counter() - started)


def _batch_rate(store, calls, size=500) -> float:
    from identity.services import profiles_identify_batch

    started = time.perf_counter()
    for start in range(0, len(calls), size):
        results = profiles_identify_batch(store=store, items=calls[start : start + size], source="bench")
        assert not any(isinstance(r, Exception) for r in results)
    return len(calls) / (time.perf_counter() - started)


def _batch_worker(store_id, tag, n, queue):
    django_on_bench_database()
    from stores.models import Store

    queue.put(_batch_rate(Store.objects.get(pk=store_id), _new_calls(tag, n)))


def _worker(store_id, tag, n, queue):
    django_on_bench_database()
    from stores.models import Store

    queue.put(_service_rate(Store.objects.get(pk=store_id), _new_calls(tag, n)))


def _naive_rate(store, n, tag) -> float:
    from django.db import transaction

    from identity.models import Identifier
    from profiles.models import Profile

    started = time.perf_counter()
    for i in range(n):
        with transaction.atomic():
            profile = Profile.objects.create(store=store, traits={"Contact": {"firstName": "Naive"}})
            Identifier.objects.create(store=store, profile=profile, kind="email", value=f"naive-{tag}-{i}@example.org")
    return n / (time.perf_counter() - started)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http_rate(store_id, key, n, tag, threads=4, batch=0) -> float:
    port = _free_port()
    env = {**os.environ, "DEBUG": "True"}
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        items = [
            {"identifiers": {"email": f"http-{tag}-{i}@example.org"}, "traits": {"Contact": {"firstName": "H"}}}
            for i in range(n)
        ]
        if batch:
            bodies = [json.dumps({"items": items[i : i + batch]}) for i in range(0, n, batch)]
            path = f"/api/v1/stores/{store_id}/profiles/identify-batch"
        else:
            bodies = [json.dumps(item) for item in items]
            path = f"/api/v1/stores/{store_id}/profiles/identify"
        errors = []

        def client(chunk):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            for body in chunk:
                conn.request("POST", path, body, headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(response.status)

        chunks = [bodies[i::threads] for i in range(threads)]
        workers = [threading.Thread(target=client, args=(chunk,)) for chunk in chunks]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - started
        if errors:
            raise SystemExit(f"HTTP identify failed: {errors[:5]}")
        return n / elapsed
    finally:
        server.terminate()
        server.wait(timeout=10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    django_on_bench_database()

    from accounts.models import Account
    from accounts.services import api_key_create
    from identity.models import Identifier
    from identity.services import profile_identify
    from profiles.models import Profile
    from stores.models import Store
    from workspace.demo import demo_profiles_seed
    from workspace.services import store_create

    account, _ = Account.objects.get_or_create(name="Benchmarks")
    store = Store.objects.filter(account=account, name=f"bench-{args.profiles}").first()
    if store is None:
        store = store_create(account=account, actor=None, name=f"bench-{args.profiles}")
    have = Profile.objects.filter(store=store).count()
    if have < args.profiles:
        demo_profiles_seed(store=store, count=args.profiles - have)
    print(f"store {store.pk}: {Profile.objects.filter(store=store).count():,} profiles", flush=True)
    tag = str(time.time_ns())
    n = args.calls

    new = _service_rate(store, _new_calls(tag + "a", n))
    print(f"service, new profiles, 1 process        {new:8.0f} identifies/s", flush=True)

    emails = list(
        Identifier.objects.filter(store=store, kind="email", value__startswith="a").values_list("value", flat=True)[
            : n * 3
        ]
    )
    rng = random.Random(3)
    matches = [
        dict(identifiers=[("email", e.upper())], traits={"Contact": {"lastName": f"M{rng.randint(0, 9)}"}})
        for e in rng.sample(emails, min(n, len(emails)))
    ]
    match = _service_rate(store, matches)
    print(f"service, matches + trait change, 1 proc {match:8.0f} identifies/s", flush=True)

    queue = multiprocessing.get_context("spawn").Queue()
    from django.db import connections

    connections.close_all()
    procs = [
        multiprocessing.get_context("spawn").Process(target=_worker, args=(store.pk, f"{tag}p{i}", n, queue))
        for i in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    both = sum(queue.get() for _ in procs)
    print(f"service, new profiles, 2 processes      {both:8.0f} identifies/s", flush=True)

    batched = _batch_rate(store, _new_calls(tag + "b", n))
    print(f"service, batches of 500, new, 1 process {batched:8.0f} identifies/s", flush=True)
    matches_b = [
        dict(identifiers=[("email", e)], traits={"Contact": {"lastName": f"B{rng.randint(0, 9)}"}})
        for e in rng.sample(emails, min(n, len(emails)))
    ]
    batched_match = _batch_rate(store, matches_b)
    print(f"service, batches of 500, matches        {batched_match:8.0f} identifies/s", flush=True)
    connections.close_all()
    procs = [
        multiprocessing.get_context("spawn").Process(target=_batch_worker, args=(store.pk, f"{tag}q{i}", n, queue))
        for i in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    batched_both = sum(queue.get() for _ in procs)
    print(f"service, batches of 500, 2 processes    {batched_both:8.0f} identifies/s", flush=True)

    _, key = api_key_create(account=account, actor=None, name=f"bench {tag}")
    connections.close_all()
    http_rate = _http_rate(store.pk, key, n, tag)
    print(f"HTTP API (runserver, 4 client threads)  {http_rate:8.0f} identifies/s", flush=True)
    http_batch = _http_rate(store.pk, key, n, tag + "h", batch=500)
    print(f"HTTP identify-batch (500 per request)   {http_batch:8.0f} identifies/s", flush=True)

    naive = _naive_rate(store, n, tag)
    print(f"baseline: naive ORM create, no resolution {naive:6.0f} creates/s", flush=True)

    assert (
        profile_identify(store=store, identifiers=[("email", f"bench-{tag}a-0@example.org")], source="check").created
        is False
    )
    print(
        f"\nratios: service new / naive ORM = {new / naive:.2f}; batched service / naive ORM = {batched / naive:.2f}; "
        f"one-call service / HTTP = {new / http_rate:.2f}; batched service / HTTP identify-batch = "
        f"{batched / http_batch:.2f}"
    )
    best = min(batched, batched_match)
    print(
        f"goal: >= 2,000/s through the service (batched, new and matches): {'met' if best >= 2000 else 'NOT met'}; "
        f"HTTP within 3x of the service (identify-batch): {'met' if batched / http_batch <= 3 else 'NOT met'}"
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
