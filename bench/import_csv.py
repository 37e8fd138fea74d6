#!/usr/bin/env python
"""CSV import speed on PostgreSQL and on SQLite: a generated N-row, 12-column file (default 1,000,000 rows).

PostgreSQL (the default, `--database postgresql`; same measurements and output as before the
SQLite mode, so older figures stay comparable):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/memory_console_bench \\
        .venv/bin/python bench/import_csv.py --rows 1000000

SQLite, on a fresh data file in a temporary directory, deleted afterwards (DATABASE_URL is not
used; `--sqlite-file PATH` names the file instead: it must not exist yet, and is kept):

    .venv/bin/python bench/import_csv.py --database sqlite --rows 200000

Both, one after the other on the same generated file, then SQLite's time over PostgreSQL's for the
empty-store and the update import, against issue 15's goal (at most 3x at 200,000 rows):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/memory_console_bench \\
        .venv/bin/python bench/import_csv.py --database both --rows 200000

Django is set up once per process, so `both` runs each database's measurement in a child process
of its own (this script with `--database postgresql|sqlite --files DIR --json-out FILE`), which
prints its figures as it goes; the parent generates the file and combines the results.

The file: email, phone and 10 Contact/Shop trait columns; 2% of rows repeat an earlier customer
(same email, new trait values), 0.5% are bad (an invalid email), some cells are `\\N` or empty.
Measures, in one run on a database:
- baseline: on PostgreSQL, raw `COPY` of the same file into an UNLOGGED staging table (no checks at
  all); on SQLite, the file's rows read with `csv` and inserted as they are into a plain staging
  table with `executemany` in one transaction (no checks at all);
- import into an empty store (goal: Completed in <= 60 s; the time is to the final status as
  committed, and the worker's whole time, with the trait index flush after the commit, is printed
  beside it);
- the same file again into that store, so every row updates an existing profile (goal <= 90 s);
- the file with 0.5% bad rows, which fails whole (every row checked and reported, nothing applied);
and prints rows/s, the ratio to the baseline, and the worker's peak memory (ru_maxrss; goal < 400 MB).
The import runs `import_run`, the function the qcluster worker runs, in a child process so its
peak memory is its own. Every database alias of the settings is migrated first. Before each import
on PostgreSQL the tables are vacuumed, as autovacuum would have done (it is off on this machine's
PostgreSQL); on SQLite the WAL is checkpointed into the data file, so each import starts with an
empty WAL. A PostgreSQL run deletes its store at the end; a SQLite run's file is new each time.
"""

import argparse
import csv
import json
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _setup import django_on_bench_database

HEADER = [
    "email",
    "phone",
    "First Name",
    "Last Name",
    "address",
    "city",
    "country",
    "tier",
    "visits",
    "vip",
    "tags",
    "notes",
]
# The three files of a run, in one directory (a `both` run hands it to each database's child).
FILES = {"empty": "customers.csv", "updates": "customers-updates.csv", "failing": "customers-0.5pct-bad.csv"}
FILES_INFO = "files.json"
# Runs that must complete: (key, label, goal in seconds).
RUNS = (("empty", "import into an empty store", 60), ("updates", "same people again: every row updates", 90))
SQLITE_GOAL_RATIO = 3.0  # issue 15: SQLite time / PostgreSQL time, at 200,000 rows
SQLITE_GOAL_ROWS = 200_000
DATABASE_NAMES = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}
SYNCHRONOUS = {"0": "OFF", "1": "NORMAL", "2": "FULL", "3": "EXTRA"}  # PRAGMA synchronous answers a number


SPECS = [  # the mapping of HEADER's columns
    "email=identifier:email",
    "phone=identifier:phone",
    "First Name=Contact.firstName",
    "Last Name=Contact.lastName",
    "address=Contact.address",
    "city=Shop.city",
    "country=Shop.country",
    "tier=Shop.tier",
    "visits=Shop.visits",
    "vip=Shop.vip",
    "tags=Shop.tags",
    "notes=Shop.notes",
]


def generate(path: Path, rows: int, max_bad: int, variant: str = "") -> dict:
    """The benchmark file; `variant` changes every row's trait values but not its identifiers."""
    rng = random.Random(7)
    bad = repeats = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(HEADER) + "\r\n")
        for i in range(rows):
            who = i
            if i > 100 and rng.random() < 0.02:
                who, repeats = rng.randrange(0, i), repeats + 1
            email = f"customer{who}@example.org"
            if rng.random() < 0.005 and bad < max_bad:
                email, bad = f"customer{who}-at-example.org", bad + 1
            phone = f"+1415{2000000 + who % 7999999:07d}" if who % 3 else ""
            notes = "\\N" if i % 50 == 0 else ("" if i % 7 == 0 else f"Likes {rng.choice(['tea', 'coffee'])}")
            handle.write(
                f"{email},{phone},First{who % 997}{variant},Last{who % 991},{who} Main Street,City{who % 300},US,"
                f"{rng.choice(['gold', 'silver', 'bronze'])},{rng.randint(0, 500)},{rng.choice(['true', 'false'])},"
                f"{rng.choice(['a|b', 'c', ''])},{notes}\r\n"
            )
    return {"bad": bad, "repeats": repeats}


def files_generate(directory: Path, rows: int, max_bad: int) -> dict:
    """Write the three files into `directory`, print the file's line, and return (and save beside
    them) what the runs need to know about them."""
    path = directory / FILES["empty"]
    started = time.perf_counter()
    shape = generate(path, rows, max_bad)
    size_mb = path.stat().st_size / 1e6
    print(
        f"file: {rows:,} rows x {len(HEADER)} columns, {size_mb:.0f} MB, {shape['repeats']:,} repeated "
        f"customers, {shape['bad']:,} bad rows (generated in {time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    generate(directory / FILES["updates"], rows, max_bad, variant="B")  # same people, new first names
    # The file has 0.5% bad rows; that many (100 or more) fail the file by the status rule,
    # so it is measured separately: every row is still checked and reported, nothing is applied.
    failing = generate(directory / FILES["failing"], rows, rows)
    info = {"rows": rows, "max_bad": max_bad, "bad": shape["bad"], "failing_bad": failing["bad"]}
    (directory / FILES_INFO).write_text(json.dumps(info))
    return info


def raw_copy_seconds(path: Path) -> float:
    from django.db import connection

    columns = ", ".join(f'"c{i}" text' for i in range(len(HEADER)))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_staging")
        cursor.execute(f"CREATE UNLOGGED TABLE bench_staging ({columns})")
        started = time.perf_counter()
        with (
            open(path, "rb") as handle,
            cursor.cursor.copy("COPY bench_staging FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
        ):
            while block := handle.read(1 << 20):
                copy.write(block)
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_staging")
    return elapsed


def raw_insert_seconds(path: Path) -> float:
    """SQLite's baseline: the file's rows, parsed by `csv`, inserted as they are into a plain table
    with the sqlite3 module's `executemany`, in one transaction (BEGIN IMMEDIATE, as the settings
    configure), on the same file and connection settings as the import (WAL, synchronous=NORMAL)."""
    from django.db import connection, transaction

    columns = ", ".join(f'"c{i}" text' for i in range(len(HEADER)))
    insert = f"INSERT INTO bench_staging VALUES ({', '.join('?' * len(HEADER))})"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_staging")
        cursor.execute(f"CREATE TABLE bench_staging ({columns})")
        started = time.perf_counter()
        with open(path, encoding="utf-8", newline="") as handle, transaction.atomic():
            rows = csv.reader(handle)
            next(rows)  # the header
            connection.connection.executemany(insert, rows)  # the sqlite3 connection itself
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_staging")
    return elapsed


def _run_import(store_id: int, path: str, queue) -> None:
    django_on_bench_database(sqlite=True)  # the parent chose the database (DATABASE_URL)
    from identity.config import store_config
    from imports.mapping import mapping_from_specs
    from imports.services import import_queue, import_run, import_upload
    from stores.models import Store

    store = Store.objects.get(pk=store_id)

    def chunks():
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                yield block

    started = time.perf_counter()
    uploaded = import_upload(store=store, actor="bench", file_name=Path(path).name, chunks=chunks())
    checked = time.perf_counter() - started
    mapping = mapping_from_specs(headers=uploaded.headers, specs=SPECS, schema=store_config(store=store).schema)
    queued = import_queue(profile_import=uploaded, actor="bench", mapping=mapping)
    from django.utils import timezone

    started, started_at = time.perf_counter(), timezone.now()  # from "Complete" (queued)...
    done = import_run(import_id=queued.pk, attempt=queued.attempt)
    busy = time.perf_counter() - started  # ...to the worker's return (after the trait index flush)
    ingest = (done.finished_at - started_at).total_seconds()  # ...to the final status, as committed
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(
        {
            "status": done.status,
            "reason": done.failure_reason,
            "check": checked,
            "ingest": ingest,
            "busy": busy,
            "peak_mb": peak_mb,
            "created": done.profiles_created,
            "updated": done.profiles_updated,
            "ingested": done.rows_ingested,
            "failed": done.rows_failed,
        }
    )


def vacuum() -> None:
    """What autovacuum does between two uploads. This machine's PostgreSQL runs with autovacuum off,
    so without it every run leaves millions of dead rows (the update run's old versions, the
    deleted store) and later runs slow down by a third. On SQLite: write the WAL back into the data
    file and empty it, so each import starts from the same state."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return
        for table in ("profiles_profile", "identity_identifier", "identity_mergerecord"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def run_import(store_id: int, path: Path) -> dict:
    from django.db import connections

    vacuum()

    connections.close_all()
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_run_import, args=(store_id, str(path), queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def bench_store():
    from accounts.models import Account
    from traits.models import TraitGroup
    from traits.services import trait_create, trait_group_create
    from workspace.services import store_create

    account, _ = Account.objects.get_or_create(name="Benchmarks")
    store = store_create(account=account, actor=None, name=f"import-{time.time_ns()}")
    shop = trait_group_create(store=store, actor=None, name="Shop")
    for name, data_type in [
        ("city", "string"),
        ("country", "string"),
        ("tier", "string"),
        ("visits", "number"),
        ("vip", "boolean"),
        ("tags", "array"),
        ("notes", "string"),
    ]:
        trait_create(group=shop, actor=None, name=name, data_type=data_type)
    assert TraitGroup.objects.filter(store=store).count() == 2
    return store


def measure(database: str, rows: int, max_bad: int, files: Path | None) -> dict:
    """One database's measurements (Django set up on it in this process), printed as they go and
    returned. `files`: a directory with the files already generated, else they are generated here."""
    django_on_bench_database(sqlite=database == "sqlite")
    from django.db import connection

    store = bench_store()
    if database == "sqlite":
        print(
            f"database: SQLite {connection.settings_dict['NAME']} (journal_mode="
            f"{_pragma('journal_mode')}, synchronous={SYNCHRONOUS.get(_pragma('synchronous'), '?')}, "
            f"{connection.transaction_mode} transactions), SQLite {connection.Database.sqlite_version}",
            flush=True,
        )
    baseline_name = "raw COPY" if database == "postgresql" else "raw insert"
    result = {"database": database, "rows": rows, "baseline": {"name": baseline_name}, "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        own_files = files is None
        directory = Path(tmp) if own_files else files
        if own_files:
            info = files_generate(directory, rows, max_bad)
        else:
            info = json.loads((directory / FILES_INFO).read_text())
            if (info["rows"], info["max_bad"]) != (rows, max_bad):
                sys.exit(f"{directory} holds files of {info['rows']:,} rows (max bad {info['max_bad']})")
        path = directory / FILES["empty"]
        if database == "postgresql":
            base_s = raw_copy_seconds(path)
            print(f"baseline: raw COPY into an unlogged staging table   {base_s:6.1f} s  {rows / base_s:9,.0f} rows/s")
        else:
            base_s = raw_insert_seconds(path)
            print(f"baseline: raw executemany into a plain staging table {base_s:5.1f} s  {rows / base_s:9,.0f} rows/s")
        result["baseline"]["seconds"] = base_s
        for key, label, goal in RUNS:
            run = run_import(store.pk, directory / FILES[key])
            rate = rows / run["ingest"]
            print(
                f"{label:<50} {run['ingest']:6.1f} s  {rate:9,.0f} rows/s  "
                f"ratio to {baseline_name} {run['ingest'] / base_s:5.1f}x  peak {run['peak_mb']:.0f} MB  "
                f"(file check at upload {run['check']:.1f} s; worker busy {run['busy']:.1f} s in all"
                f"{', with the trait index flush after the commit' if database == 'postgresql' else ''})",
                flush=True,
            )
            print(
                f"    {run['status']}: {run['ingested']:,} ingested, {run['failed']:,} failed, "
                f"{run['created']:,} profiles created, {run['updated']:,} updated {run['reason']}",
                flush=True,
            )
            met = run["status"] == "completed" and run["ingest"] <= goal and run["peak_mb"] < 400
            print(f"    goal <= {goal} s and < 400 MB: {'met' if met else 'NOT met'}", flush=True)
            result["runs"][key] = {**run, "goal_met": met}
        if own_files:  # as before the SQLite mode: only the failing file on disk during its run
            (directory / FILES["empty"]).unlink()
            (directory / FILES["updates"]).unlink()
        run = run_import(store.pk, directory / FILES["failing"])
        print(
            f"{'0.5% bad rows (' + format(info['failing_bad'], ',') + '): Failed, nothing applied':<50} "
            f"{run['ingest']:6.1f} s  {rows / run['ingest']:9,.0f} rows/s  peak {run['peak_mb']:.0f} MB"
            f"  -> {run['status']}, {run['failed']:,} failed rows reported",
            flush=True,
        )
        result["runs"]["failing"] = run
    if database == "postgresql":
        from workspace.services import store_delete

        store_delete(store=store, actor=None, confirm_name=store.name)  # runs do not pile up in the bench DB
        vacuum()
    return result


def _pragma(name: str) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA {name}")
        return str(cursor.fetchone()[0])


def on_sqlite(sqlite_file: str | None, work):
    """Run `work()` with DATABASE_URL naming a new SQLite file: `sqlite_file` (which must not exist,
    and is kept), else one in a temporary directory deleted afterwards."""
    if sqlite_file:
        path = Path(sqlite_file).resolve()
        if path.exists():
            sys.exit(f"{path} exists: the SQLite mode measures a new data file (delete it or name another)")
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"
        return work()
    with tempfile.TemporaryDirectory(prefix="mc-bench-sqlite-") as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        try:
            return work()
        finally:
            from django.db import connections

            connections.close_all()


def both(args) -> None:
    """PostgreSQL, then SQLite, each in a child process of its own, on the same files; then the
    ratios of SQLite's time to PostgreSQL's."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        files_generate(directory, args.rows, args.max_bad)
        for database in ("postgresql", "sqlite"):
            out = directory / f"{database}.json"
            command = [sys.executable, str(Path(__file__).resolve()), "--database", database, "--rows", str(args.rows)]
            command += ["--max-bad", str(args.max_bad), "--files", str(directory), "--json-out", str(out)]
            if database == "sqlite" and args.sqlite_file:
                command += ["--sqlite-file", args.sqlite_file]
            print(f"\n== {DATABASE_NAMES[database]} ==", flush=True)
            done = subprocess.run(command, check=False)
            if done.returncode != 0:
                sys.exit(f"the {DATABASE_NAMES[database]} measurement failed (exit status {done.returncode})")
            results[database] = json.loads(out.read_text())
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))
    print(f"\n== SQLite / PostgreSQL, {args.rows:,} rows, same file, one run ==")
    pg, lite = results["postgresql"]["runs"], results["sqlite"]["runs"]
    ratios = {}
    compared = [(key, label) for key, label, _ in RUNS] + [("failing", "0.5% bad rows (not in the goal)")]
    for key, label in compared:
        ratios[key] = lite[key]["ingest"] / pg[key]["ingest"]
        print(
            f"{label:<50} {lite[key]['ingest']:6.1f} s / {pg[key]['ingest']:6.1f} s = {ratios[key]:5.2f}x  "
            f"({lite[key]['status']} / {pg[key]['status']})"
        )
    print(
        f"{'baselines (raw insert / raw COPY)':<50} {results['sqlite']['baseline']['seconds']:6.1f} s / "
        f"{results['postgresql']['baseline']['seconds']:6.1f} s = "
        f"{results['sqlite']['baseline']['seconds'] / results['postgresql']['baseline']['seconds']:4.1f}x"
    )
    completed = all(runs[key]["status"] == "completed" for runs in (pg, lite) for key, _, _ in RUNS)
    within = all(ratios[key] <= SQLITE_GOAL_RATIO for key, _, _ in RUNS)
    verdict = "met" if completed and within else "NOT met"
    why = "" if completed else " (not every import Completed, so the ratios say nothing)"
    rows_note = (
        ""
        if args.rows == SQLITE_GOAL_ROWS
        else f"; measured at {args.rows:,} rows, the goal is at {SQLITE_GOAL_ROWS:,}"
    )
    print(
        f"goal (issue 15): SQLite at most {SQLITE_GOAL_RATIO:.0f}x PostgreSQL's time for the empty-store and the "
        f"update import: {verdict}{why}{rows_note}",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--max-bad",
        type=int,
        default=99,
        help="cap on the 0.5%% bad rows: 100 or more fail the whole file, so the Completed runs use 99",
    )
    parser.add_argument(
        "--database",
        choices=["postgresql", "sqlite", "both"],
        default="postgresql",
        help="postgresql: DATABASE_URL (default); sqlite: a new SQLite file; both: one after the other on the "
        "same file, with SQLite's time over PostgreSQL's (issue 15's figure)",
    )
    parser.add_argument(
        "--sqlite-file", help="the SQLite data file to create (must not exist; kept); default: a temporary one"
    )
    parser.add_argument("--json-out", help="also write the figures to this file as JSON")
    parser.add_argument("--files", type=Path, help=argparse.SUPPRESS)  # `both` hands its children the files
    args = parser.parse_args()
    if args.database == "both":
        both(args)
        return

    def work():
        return measure(args.database, args.rows, args.max_bad, args.files)

    result = on_sqlite(args.sqlite_file, work) if args.database == "sqlite" else work()
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
