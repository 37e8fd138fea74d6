"""Issue 15's acceptance tests, on the console's real processes: a qcluster worker runs the import
while `manage.py runserver` serves the console and the API on the same database.

- On SQLite, a 200,000-row import leaves the database to others between its short steps: inline
  trait edits (in the importing store and in another one) and API identify calls made while the
  rows go in each answer within 2 s and are stored.
- On both databases, a Cancel clicked mid-import makes the import Cancelled at once, and once the
  worker is done every profile, identifier, merge record and event of the store is as before.
"""

import contextlib
import sqlite3
import statistics
import time
from pathlib import Path

import pytest
from django.db import connection

from imports.models import ImportStatus
from tests.worker_helpers import (
    ADMIN_EMAIL,
    CONTACT_MAPS,
    api_client,
    create_account,
    create_api_key,
    create_store,
    import_ended,
    kill,
    migrate,
    people_csv,
    postgres_url,
    progress,
    qcluster,
    queue_import,
    sign_in,
    sqlite_query,
    wait_for,
    web_server,
    worker_env,
)

WRITE_SECONDS = 2.0  # what a console or API write may take while an import runs
SAMPLES = 10  # at least this many of each kind of write, all made while the rows go in
SAMPLE_EVERY = 0.5

FIRST_NAME_SQL = (
    "SELECT t.id FROM traits_trait AS t JOIN traits_traitgroup AS g ON g.id = t.group_id "
    "WHERE t.store_id = %s AND g.name = 'Contact' AND t.name = 'firstName'"
)
HOLDER_SQL = "SELECT profile_id FROM identity_identifier WHERE store_id = %s AND kind = %s AND value = %s"
STORED_FIRST_NAME_SQL = "SELECT json_extract(traits, '$.Contact.firstName') FROM profiles_profile WHERE id = %s"


def _sqlite(database: Path):
    """One-row queries on the SQLite file, written with %s placeholders as for PostgreSQL."""
    query = sqlite_query(database)
    return lambda sql, params=(): query(sql.replace("%s", "?"), params)


def _sqlite_all(database: Path):
    def rows(sql, params=()):
        with contextlib.closing(sqlite3.connect(database, timeout=20)) as db:
            return db.execute(sql.replace("%s", "?"), params).fetchall()

    return rows


def _postgres_one(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _postgres_all(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _figures(seconds: list[float]) -> str:
    return f"{len(seconds)} samples, max {max(seconds):.3f} s, median {statistics.median(seconds):.3f} s"


def _edit_first_name(console, store: int, profile: int, trait: int, value: str):
    """The console's inline trait edit, as htmx sends it: the saved row comes back."""
    answer = console.post_form(
        f"/stores/{store}/profiles/{profile}/traits/{trait}/edit/", {"value": value}, **{"HX-Request": "true"}
    )
    assert answer.status == 200, (answer.status, answer.body[-2000:])
    assert f'<td data-testid="trait-value">{value}</td>' in answer.body, answer.body[-2000:]
    return answer


# --- 1. SQLite: the console's writes go through while a big import applies its rows -----------------

BIG_ROWS = 200_000


@pytest.mark.sqlite
def test_console_edits_and_api_identify_answer_within_2_s_while_a_200000_row_import_applies_on_sqlite(tmp_path):
    imports_dir, log = tmp_path / "imports", tmp_path / "processes.log"
    database = tmp_path / "console.sqlite3"
    url = f"sqlite:///{database}"
    env = worker_env(url, imports_dir)
    one = _sqlite(database)
    migrate(env)
    account = create_account(env)
    importing, other = create_store(env, account, "Importing"), create_store(env, account, "Other")
    key = create_api_key(env, account)
    path = tmp_path / "people.csv"
    path.write_text(people_csv(BIG_ROWS))
    # The store is empty: the file's first import, the usual way a store of this size is filled.
    assert "Queued import #1" in queue_import(env, importing, path, CONTACT_MAPS)
    first_name = {store: one(FIRST_NAME_SQL, [store])[0] for store in (importing, other)}

    with web_server(url, imports_dir, log) as base:
        console, api = sign_in(base), api_client(base, key)
        seeded = api("POST", f"/stores/{other}/profiles/identify", {"identifiers": {"email": "neighbour@example.com"}})
        assert seeded.status == 200, seeded.body
        neighbour = seeded.json()["profile_id"]
        cluster = qcluster(imports_dir, log, url)
        try:

            def applying():
                return progress(imports_dir).get("rows_applied")

            wait_for(applying, 300, "the worker to apply the rows", log, every=0.1)
            # A profile the import wrote in its first steps: edited while the import goes on.
            imported = one(HOLDER_SQL, [importing, "email", "person0@example.com"])[0]
            took = {"edit in another store": [], "edit in the importing store": [], "API identify": []}
            stored = {}

            def edit(kind, store, profile):
                def write(n):
                    value = f"Edit {n}"
                    took[kind].append(_edit_first_name(console, store, profile, first_name[store], value).seconds)
                    assert one(STORED_FIRST_NAME_SQL, [profile]) == (value,), kind
                    stored[profile] = value

                return write

            def identify(n):
                email = f"api{n}@example.org"
                body = {"identifiers": {"email": email}, "traits": {"Contact": {"firstName": f"Api {n}"}}}
                answer = api("POST", f"/stores/{importing}/profiles/identify", body)
                assert answer.status == 200, (answer.status, answer.body[-2000:])
                took["API identify"].append(answer.seconds)
                assert answer.json()["created"] is True
                assert one(HOLDER_SQL, [importing, "email", email]) == (answer.json()["profile_id"],)
                assert one(STORED_FIRST_NAME_SQL, [answer.json()["profile_id"]]) == (f"Api {n}",)

            writes = [
                edit("edit in another store", other, neighbour),
                edit("edit in the importing store", importing, imported),
                identify,
            ]
            rows_applied = []
            n = 0
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                started = time.monotonic()
                applied = progress(imports_dir).get("rows_applied")
                if applied is None or applied >= BIG_ROWS:  # the file is gone once the import ends
                    break
                rows_applied.append(applied)
                n += 1
                # Each kind of write goes first in turn: the first of a round usually meets a step.
                for write in writes[n % 3 :] + writes[: n % 3]:
                    write(n)
                time.sleep(max(0.0, SAMPLE_EVERY - (time.monotonic() - started)))

            wait_for(import_ended(one), 600, "the import to finish", log)
        finally:
            kill(cluster)

    figures = "; ".join(f"{kind}: {_figures(seconds)}" for kind, seconds in took.items())
    print(
        f"\nWrites while {BIG_ROWS:,} rows went in (rows applied {rows_applied[0]:,}..{rows_applied[-1]:,}): {figures}"
    )
    for kind, seconds in took.items():
        assert len(seconds) >= SAMPLES, f"only {len(seconds)} {kind} samples during the import's apply phase"
        assert max(seconds) < WRITE_SECONDS, f"{kind}: {_figures(seconds)}"
    assert one("SELECT status, rows_ingested, profiles_created, failure_reason FROM imports_profileimport") == (
        ImportStatus.COMPLETED,
        BIG_ROWS,
        BIG_ROWS,
        "",
    )
    samples = len(took["API identify"])
    assert one("SELECT count(*) FROM profiles_profile WHERE store_id = %s", [importing]) == (BIG_ROWS + samples,)
    # What the console stored during the import is still there once it is done.
    for profile, value in stored.items():
        assert one(STORED_FIRST_NAME_SQL, [profile]) == (value,)


# --- 2. Both databases: Cancel mid-import leaves the store as it was ----------------------------------

CANCEL_ROWS = 120_000
CANCEL_MAPS = (*CONTACT_MAPS, "Phone=identifier:phone")
# What the store holds before the import, made through the API: four profiles with identifiers,
# traits and events, the first merged into the second.
SEED = [
    {
        "identifiers": {"email": "seed1@example.com"},
        "traits": {"Contact": {"firstName": "Ann", "lastName": "One"}},
        "events": [{"name": "signup", "timestamp": "2026-01-01T10:00:00Z", "properties": {"plan": "pro"}}],
    },
    {
        "identifiers": {"email": "seed2@example.com", "phone": "+14155550102"},
        "traits": {"Contact": {"firstName": "Bob", "lastName": "Two"}},
        "events": [{"name": "order", "timestamp": "2026-01-02T10:00:00Z", "properties": {"total": 12}}],
    },
    {
        "identifiers": {"email": "seed3@example.com"},
        "traits": {"Contact": {"firstName": "Cid", "lastName": "Three"}},
        "events": [{"name": "visit", "timestamp": "2026-01-03T10:00:00Z", "properties": {}}],
    },
    {
        "identifiers": {"email": "seed4@example.com", "phone": "+14155550104"},
        "traits": {"Contact": {"firstName": "Dee", "lastName": "Four"}},
        "events": [{"name": "visit", "timestamp": "2026-01-04T10:00:00Z", "properties": {}}],
    },
    # seed1's profile (email) into seed2's (phone outranks email): a merge record.
    {"identifiers": {"email": "seed1@example.com", "phone": "+14155550102"}},
]
SNAPSHOT_TABLES = ("profiles_profile", "identity_identifier", "identity_mergerecord", "profiles_event")


def _cancel_csv(rows: int) -> str:
    """Rows updating the seeded profiles' traits, one merging seed3's profile into seed4's, then new
    profiles: the first rows are in the worker's first step."""
    lines = [
        "Email,Phone,First,Last",
        "seed2@example.com,,Bobby,Changed",
        "seed1@example.com,,Annie,Changed",  # seed2's profile, through the merged email
        "seed3@example.com,,Cyd,Changed",
        "seed3@example.com,+14155550104,Merged,Row",
    ]
    lines += [f"person{i}@example.com,,First{i},Last{i}" for i in range(rows - 4)]
    return "\r\n".join(lines) + "\r\n"


def _snapshot(rows, store: int) -> dict:
    return {table: rows(f"SELECT * FROM {table} WHERE store_id = %s ORDER BY id", [store]) for table in SNAPSHOT_TABLES}


def _cancel_mid_import(tmp_path: Path, url: str, one, rows, mid_import, *, sqlite: bool) -> None:
    """Seed a store, queue a file that changes it, start a worker, Cancel once `mid_import(progress,
    store)` holds, and check the store is exactly as before once the worker is done."""
    imports_dir, log = tmp_path / "imports", tmp_path / "processes.log"
    env = worker_env(url, imports_dir)
    account = create_account(env)
    store = create_store(env, account, "Shop")
    key = create_api_key(env, account)
    with web_server(url, imports_dir, log) as base:
        api = api_client(base, key)
        for body in SEED:
            answer = api("POST", f"/stores/{store}/profiles/identify", body)
            assert answer.status == 200, answer.body
        assert answer.json()["merged_profile_ids"], answer.body
        before = _snapshot(rows, store)
        assert all(before.values()), before
        path = tmp_path / "people.csv"
        path.write_text(_cancel_csv(CANCEL_ROWS))
        queue_import(env, store, path, CANCEL_MAPS)
        import_id = one("SELECT id FROM imports_profileimport WHERE store_id = %s", [store])[0]
        console = sign_in(base)

        def status():
            return one("SELECT status, worker, failure_reason FROM imports_profileimport WHERE id = %s", [import_id])

        cluster = qcluster(imports_dir, log, url)
        try:
            wait_for(lambda: mid_import(progress(imports_dir), store), 300, "the worker to be mid-import", log, 0.1)
            at_cancel, mid = progress(imports_dir), _snapshot(rows, store)
            if sqlite:
                # Its first steps are committed: the seeded profiles updated, one merged, new ones.
                assert len(mid["identity_mergerecord"]) == len(before["identity_mergerecord"]) + 1
                assert len(mid["profiles_profile"]) > len(before["profiles_profile"]) + 10_000
                assert mid["profiles_event"] != before["profiles_event"]  # moved by the merge
            else:
                assert mid == before  # one transaction: nothing of it is seen before it commits
            clicked = time.monotonic()
            answer = console.post_form(f"/stores/{store}/data-sources/csv/{import_id}/cancel/", {})
            assert answer.status == 302, (answer.status, answer.body[-2000:])
            wait_for(lambda: status()[0] == ImportStatus.CANCELLED, WRITE_SECONDS, "Cancelled", log, every=0.05)
            seen_after = time.monotonic() - clicked

            def worker_done():
                current = status()
                journal = one("SELECT count(*) FROM imports_importundo WHERE profile_import_id = %s", [import_id])
                return current[1] == "" and journal == (0,)

            wait_for(worker_done, 300, "the worker to undo the import and let it go", log)
        finally:
            kill(cluster)
    print(
        f"\nCancelled at {at_cancel}; Cancelled seen {seen_after:.3f} s after the click "
        f"(its POST took {answer.seconds:.3f} s)"
    )
    after = _snapshot(rows, store)
    for table in SNAPSHOT_TABLES:
        assert after[table] == before[table], f"{table} changed by the cancelled import"
    final, worker, reason = status()
    assert (final, worker) == (ImportStatus.CANCELLED, "")
    assert reason == f"Cancelled by {ADMIN_EMAIL}; nothing from the file stays applied."


@pytest.mark.sqlite
def test_cancel_mid_import_on_sqlite_is_cancelled_at_once_and_leaves_the_store_as_it_was(tmp_path):
    database = tmp_path / "console.sqlite3"
    url = f"sqlite:///{database}"
    migrate(worker_env(url, tmp_path / "imports"))

    def mid_import(current, store):
        # Steps of thousands of rows committed (and journalled), and more to come.
        return 10_000 <= current.get("rows_applied", 0) <= CANCEL_ROWS - 50_000

    _cancel_mid_import(tmp_path, url, _sqlite(database), _sqlite_all(database), mid_import, sqlite=True)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_cancel_mid_import_on_postgres_is_cancelled_at_once_and_leaves_the_store_as_it_was(tmp_path):
    def mid_import(current, store):
        return 20_000 <= current.get("rows_processed", 0) <= CANCEL_ROWS - 50_000

    _cancel_mid_import(tmp_path, postgres_url(), _postgres_one, _postgres_all, mid_import, sqlite=False)
