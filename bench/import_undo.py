#!/usr/bin/env python
"""How long undoing a whole SQLite import takes, against the import itself (same run, same file).

    .venv/bin/python bench/import_undo.py --rows 200000

A cancel at the last moment (or a failure at the end) leaves the most to undo: every step of the
import. This imports the benchmark file of bench/import_csv.py into an empty store and then the
same people with new values (every row updates a profile), each time keeping the journal (as if
cancelled just before Completed), undoes each with `imports.undo.import_undo`, and prints the
import's time, the undo's time and their ratio (the baseline: the import it undoes), with whether
the store came back exactly as it was. The SQLite file is new, in a temporary directory.
"""

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

from _setup import django_on_bench_database


def store_digest(store_id: int) -> str:
    """A digest of everything an import can change in the store."""
    from django.db import connection

    digest = hashlib.sha256()
    with connection.cursor() as cursor:
        for sql in (
            "SELECT id, traits, trait_sources, merged_into_id, updated_at FROM profiles_profile "
            "WHERE store_id = %s ORDER BY id",
            "SELECT id, kind, value, profile_id FROM identity_identifier WHERE store_id = %s ORDER BY id",
            "SELECT id, from_profile_id, into_profile_id FROM identity_mergerecord WHERE store_id = %s ORDER BY id",
        ):
            cursor.execute(sql, [store_id])
            for row in cursor.fetchall():
                digest.update(repr(row).encode())
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mc-bench-undo-") as tmp:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        os.environ["IMPORTS_DIR"] = str(Path(tmp) / "imports")
        django_on_bench_database(sqlite=True)
        import import_csv

        from imports.models import ImportUndo
        from imports.services import run as running
        from imports.undo import import_undo

        first, second = Path(tmp) / "people.csv", Path(tmp) / "people-again.csv"
        import_csv.generate(first, args.rows, 50)
        import_csv.generate(second, args.rows, 50, variant="again")
        store = import_csv.bench_store()
        print(f"SQLite, {args.rows:,} rows, the file of bench/import_csv.py", flush=True)
        forget = running.journal_forget
        for label, path, keep_before in (
            ("import into an empty store", first, False),
            ("same people again: every row updates", second, True),
        ):
            before = store_digest(store.pk)
            running.journal_forget = lambda **kwargs: None  # cancelled at the last moment: all of it to undo
            done = _run(import_csv, store, path)
            running.journal_forget = forget
            steps = ImportUndo.objects.filter(profile_import_id=done["id"]).values("batch").distinct().count()
            started = time.perf_counter()
            undone = import_undo(import_id=done["id"])
            undo_s = time.perf_counter() - started
            same = store_digest(store.pk) == before
            print(
                f"{label:<40} import {done['seconds']:6.1f} s ({steps} steps)   undo {undo_s:6.1f} s "
                f"({undone.steps} steps, {undone.kept} rows kept)   undo / import {undo_s / done['seconds']:4.2f}x   "
                f"store as before: {'yes' if same else 'NO'}",
                flush=True,
            )
            if keep_before or not same:
                continue
            _run(import_csv, store, first)  # the second run updates what the first created
        if not same:
            sys.exit(1)


def _run(import_csv, store, path: Path) -> dict:
    from identity.config import store_config
    from imports.mapping import mapping_from_specs
    from imports.services import import_queue, import_run, import_upload

    def chunks():
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                yield block

    uploaded = import_upload(store=store, actor="bench", file_name=path.name, chunks=chunks())
    mapping = mapping_from_specs(
        headers=uploaded.headers, specs=import_csv.SPECS, schema=store_config(store=store).schema
    )
    queued = import_queue(profile_import=uploaded, actor="bench", mapping=mapping)
    started = time.perf_counter()
    done = import_run(import_id=queued.pk, attempt=queued.attempt)
    seconds = time.perf_counter() - started
    if done.status != "completed":
        sys.exit(f"{path.name}: {done.status} {done.failure_reason}")
    return {"id": done.pk, "seconds": seconds}


if __name__ == "__main__":
    main()
