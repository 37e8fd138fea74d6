"""Short, undoable transactions for CSV imports on SQLite: the journal (`ImportUndo`) and its undo.

SQLite lets one connection write at a time, so an import that wrote its whole file in one
transaction held every other write of the console (in every store) until it ended. On SQLite an
import therefore writes in short transactions (`Journal.step`), and each one journals what it
changed, in the same transaction as the change (the technique of https://sqlite.org/undoredo.html):

- temporary triggers (on the worker's connection only, and only inside a step: no other write is
  journalled) record every UPDATE and DELETE of a journalled table's rows that existed before the
  step, with the row before and after as JSON (`json_object`);
- the rows a step inserted are one id range per table (taken under the step's write lock, from
  AUTOINCREMENT's counter, so no other writer's row falls inside it).

`import_undo` plays the journal back, newest step first, each step undone in a short transaction
of its own. A row someone else changed or used while the import ran is left as they left it (a
profile the import updated and a person edited since keeps both; a profile the import created and
someone edited, or attached an identifier or event to, stays): undo never overwrites or deletes
another writer's change, and says how many rows it left (`UndoCounts.kept`).
"""

import contextlib
import time
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Max

from identity.models import Identifier, MergeRecord
from profiles.models import Profile
from profiles.services import profile_owned_models

from .models import ImportUndo

JOURNAL = ImportUndo._meta.db_table
STEP_TABLE = "temp.mc_import_step"
TRIGGER_PREFIX = "mc_import_undo_"
UNDO_STEP_SECONDS = 0.3  # one undo transaction undoes steps for about this long (as long as a step)
UNDO_PAUSE_SECONDS = 0.1  # between two undo transactions (see imports.services.run.STEP_PAUSE_SECONDS)


def journalled_models() -> list:
    """The models an import writes (profiles, identifiers, merge records) and the rows a merge moves."""
    return [Profile, Identifier, MergeRecord, *profile_owned_models()]


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]  # every column, the primary key `id` first
    references: tuple[tuple[str, str], ...]  # (table, column) of rows that may point at this table's ids

    def image(self, alias: str) -> str:
        """json_object(...) of a row's columns, as the triggers and the undo's comparison build it."""
        return "json_object(" + ", ".join(f"'{column}', {alias}.\"{column}\"" for column in self.columns) + ")"


def _tables() -> list[_Table]:
    tables = []
    for model in journalled_models():
        name = model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(f'PRAGMA table_info("{name}")')
            info = cursor.fetchall()  # (cid, name, type, notnull, default, pk)
        columns = [row[1] for row in info]
        if columns[0] != "id":
            raise ImproperlyConfigured(f"{name}: the import journal needs `id` as the first column")
        for _, column, kind, *_rest in info:
            if any(word in kind.upper() for word in ("REAL", "FLOA", "DOUB", "NUM", "DEC")):
                # json_object() writes a REAL with 15 digits (and NUMERIC affinity may store one):
                # an undo would change the value.
                raise ImproperlyConfigured(f"{name}.{column}: the import journal cannot keep a {kind} column exactly")
        references = tuple(
            (relation.related_model._meta.db_table, relation.field.column)
            for relation in model._meta.get_fields(include_hidden=True)  # related_name="+" ones too
            if relation.auto_created and not relation.concrete and (relation.one_to_many or relation.one_to_one)
        )
        tables.append(_Table(name, tuple(columns), references))
    return tables


@dataclass
class UndoCounts:
    steps: int = 0  # short transactions undone
    kept: int = 0  # rows others changed or used during the import, left as they are


class Journal:
    """Journals the steps of one import on this connection (SQLite only). Use as a context manager
    around the import's writes, and `step()` around each short transaction."""

    def __init__(self, *, import_id: int):
        self.import_id = import_id
        self.tables = _tables()
        last = ImportUndo.objects.filter(profile_import_id=import_id).aggregate(last=Max("batch"))["last"]
        self.batch = last or 0

    def __enter__(self) -> "Journal":
        self._install()
        return self

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(Exception):  # a closed connection took its temporary triggers with it
            self._uninstall()

    def _install(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {STEP_TABLE.split('.')[1]} (tbl TEXT, batch INT, first_new INT)"
            )
            for table in self.tables:
                step = f"(SELECT {{}} FROM {STEP_TABLE} WHERE tbl = '{table.name}')"
                values = (
                    f"VALUES ({self.import_id}, {step.format('batch')}, '{table.name}', '{{op}}', OLD.id, NULL, "
                    f"{table.image('OLD')}, {{new}})"
                )
                insert = f"INSERT INTO {JOURNAL} (profile_import_id, batch, table_name, op, row_id, last_id, old, new) "
                existed = f"WHEN OLD.id < {step.format('first_new')}"
                for suffix, event, op, new in (("u", "UPDATE", "U", table.image("NEW")), ("d", "DELETE", "D", "NULL")):
                    trigger = f"{TRIGGER_PREFIX}{table.name}_{suffix}"
                    cursor.execute(
                        f'CREATE TEMP TRIGGER IF NOT EXISTS {trigger} AFTER {event} ON main."{table.name}" '
                        f"{existed} BEGIN {insert}{values.format(op=op, new=new)}; END"
                    )

    def _uninstall(self) -> None:
        with connection.cursor() as cursor:
            for table in self.tables:
                cursor.execute(f"DROP TRIGGER IF EXISTS temp.{TRIGGER_PREFIX}{table.name}_u")
                cursor.execute(f"DROP TRIGGER IF EXISTS temp.{TRIGGER_PREFIX}{table.name}_d")

    def _installed(self, cursor) -> bool:
        cursor.execute(
            "SELECT count(*) FROM sqlite_temp_master WHERE type = 'trigger' AND name LIKE %s", [f"{TRIGGER_PREFIX}%"]
        )
        return cursor.fetchone()[0] == 2 * len(self.tables)

    @contextlib.contextmanager
    def step(self):
        """One short transaction whose changes are journalled with it (a step the worker does not
        commit leaves neither changes nor journal)."""
        with transaction.atomic():
            self.batch += 1
            with connection.cursor() as cursor:
                if not self._installed(cursor):  # a new connection (the old one was closed): no triggers yet
                    self._install()
                first = {table.name: _next_id(cursor, table.name) for table in self.tables}
                cursor.execute(f"DELETE FROM {STEP_TABLE}")
                cursor.executemany(
                    f"INSERT INTO {STEP_TABLE} (tbl, batch, first_new) VALUES (%s, %s, %s)",
                    [(name, self.batch, value) for name, value in first.items()],
                )
            yield
            with connection.cursor() as cursor:
                ranges = [
                    (self.import_id, self.batch, name, "I", start, end)
                    for name, start in first.items()
                    if (end := _next_id(cursor, name) - 1) >= start
                ]
                cursor.executemany(
                    f"INSERT INTO {JOURNAL} (profile_import_id, batch, table_name, op, row_id, last_id) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    ranges,
                )
                # Writes on this connection between steps are not the import's: not journalled.
                cursor.execute(f"DELETE FROM {STEP_TABLE}")


def _next_id(cursor, table: str) -> int:
    """The id the next row inserted into `table` gets (AUTOINCREMENT's counter; max(id) without one)."""
    cursor.execute(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = %s), 0), coalesce(max(id), 0)) "
        f'FROM "{table}"',
        [table],
    )
    return cursor.fetchone()[0] + 1


def journal_exists(*, import_id: int) -> bool:
    return ImportUndo.objects.filter(profile_import_id=import_id).exists()


def journal_forget(*, import_id: int, rows_per_step: int = 20_000) -> None:
    """Drop a Completed import's journal (its changes stay), in short transactions."""
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {JOURNAL} WHERE id IN (SELECT id FROM {JOURNAL} WHERE profile_import_id = %s LIMIT %s)",
                [import_id, rows_per_step],
            )
            deleted = cursor.rowcount
        if deleted < rows_per_step:
            return
        time.sleep(UNDO_PAUSE_SECONDS)


def import_undo(*, import_id: int, on_step=None) -> UndoCounts:
    """Undo every journalled step of an import, newest first, in short transactions of about
    UNDO_STEP_SECONDS (several steps each when they undo quickly), each step's journal deleted with
    it: an undo interrupted half-way resumes where it stopped.
    `on_step()` is called after each step (the worker's heartbeat). Returns what was undone."""
    counts = UndoCounts()
    tables = {table.name: table for table in _tables()}
    order = list(tables.values())
    while True:
        if not journal_exists(import_id=import_id):
            return counts
        if counts.steps:
            time.sleep(UNDO_PAUSE_SECONDS)  # other writers waiting for the lock get it
        # One transaction undoes steps, newest first, for about UNDO_STEP_SECONDS: a step that wrote
        # new rows only is undone much faster than it was written.
        started = time.monotonic()
        with transaction.atomic():
            while time.monotonic() - started < UNDO_STEP_SECONDS:
                batch = ImportUndo.objects.filter(profile_import_id=import_id).aggregate(last=Max("batch"))["last"]
                if batch is None:
                    break
                counts.kept += _undo_step(import_id, batch, order)
                counts.steps += 1
        if on_step is not None:
            on_step()


def _undo_step(import_id: int, batch: int, order: list[_Table]) -> int:
    """Undo one journalled step (inside the caller's transaction) and delete its journal; how many
    rows were left because others changed or used them."""
    kept = 0
    with connection.cursor() as cursor:
        for table in order:
            kept += _restore(cursor, import_id, batch, table, "U")
        for table in reversed(order):  # rows pointing at others' first: a profile's identifiers before it
            kept += _delete_inserted(cursor, import_id, batch, table)
        # Last: a row the step deleted may share its unique key with one the step inserted (a FIFO
        # rule replaced an identifier, and a later row of the step brought the same value back).
        for table in order:
            kept += _restore(cursor, import_id, batch, table, "D")
        cursor.execute(f"DELETE FROM {JOURNAL} WHERE profile_import_id = %s AND batch = %s", [import_id, batch])
    return kept


def _restore(cursor, import_id: int, batch: int, table: _Table, op: str) -> int:
    """Put back the rows a step updated ("U") or deleted ("D"), as they were before it; rows changed
    since by someone else, or whose unique key someone took, are left. Returns how many were left."""
    cursor.execute("DROP TABLE IF EXISTS temp.mc_undo_rows")
    # Per row: the image before its first change in the step, and its last change (op and after).
    cursor.execute(
        "CREATE TEMP TABLE mc_undo_rows AS SELECT row_id, op, first_old AS old, new FROM ("
        "SELECT row_id, op, new, first_value(old) OVER (PARTITION BY row_id ORDER BY id) AS first_old, "
        "row_number() OVER (PARTITION BY row_id ORDER BY id DESC) AS n "
        f"FROM {JOURNAL} WHERE profile_import_id = %s AND batch = %s AND table_name = %s AND op IN ('U', 'D')"
        ") WHERE n = 1",
        [import_id, batch, table.name],
    )
    cursor.execute("SELECT op, count(*) FROM temp.mc_undo_rows GROUP BY op")
    wanted = {key: n for key, n in cursor.fetchall() if key == op}
    kept = 0
    columns = table.columns
    if wanted.get("U"):
        assignments = ", ".join(f'"{column}" = json_extract(u.old, \'$."{column}"\')' for column in columns[1:])
        cursor.execute(
            f'UPDATE "{table.name}" AS t SET {assignments} FROM temp.mc_undo_rows AS u '
            f"WHERE u.op = 'U' AND t.id = u.row_id AND {table.image('t')} = u.new"
        )
        kept += wanted["U"] - cursor.rowcount
    if wanted.get("D"):
        names = ", ".join(f'"{column}"' for column in columns)
        values = ", ".join(f"json_extract(u.old, '$.\"{column}\"')" for column in columns)
        # OR IGNORE: a row someone else added since with the same unique key (an identifier) wins.
        cursor.execute(
            f'INSERT OR IGNORE INTO "{table.name}" ({names}) SELECT {values} FROM temp.mc_undo_rows AS u '
            "WHERE u.op = 'D'"
        )
        kept += wanted["D"] - cursor.rowcount
    cursor.execute("DROP TABLE temp.mc_undo_rows")
    return kept


def _delete_inserted(cursor, import_id: int, batch: int, table: _Table) -> int:
    """Delete the rows a step inserted, except those someone used or changed during the import:
    another row (not inserted by the same step) points at them, or (a table with `created_at` and
    `updated_at`: profiles) they were updated at another time than they were created, which is
    what another writer's change does; the import's own writes stamp its one start time on both.
    Returns how many were left."""
    cursor.execute(
        f"SELECT row_id, last_id FROM {JOURNAL} WHERE profile_import_id = %s AND batch = %s AND table_name = %s "
        "AND op = 'I'",
        [import_id, batch, table.name],
    )
    kept = 0
    for first, last in cursor.fetchall():
        guards = "".join(
            f' AND NOT EXISTS (SELECT 1 FROM "{other}" AS r WHERE r."{column}" = t.id'
            + (" AND r.id NOT BETWEEN %s AND %s)" if other == table.name else ")")
            for other, column in table.references
        )
        if {"created_at", "updated_at"} <= set(table.columns):
            guards += ' AND t."updated_at" = t."created_at"'
        params = [first, last] + [
            bound for other, _ in table.references if other == table.name for bound in (first, last)
        ]
        cursor.execute(f'SELECT count(*) FROM "{table.name}" WHERE id BETWEEN %s AND %s', [first, last])
        present = cursor.fetchone()[0]
        cursor.execute(f'DELETE FROM "{table.name}" AS t WHERE t.id BETWEEN %s AND %s{guards}', params)
        kept += present - cursor.rowcount
    return kept
