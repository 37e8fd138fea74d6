"""The worker's run of a queued import: claim it, ingest the file, finish.

Every good row is applied and the import is Completed; or, when 100 or more rows fail or anything
goes wrong, nothing is applied and it is Failed; or a user cancels it and nothing is applied
(Cancelled). Failed rows are spilled to a temporary file while the rows go in and saved
afterwards, so the report survives a rollback.

- PostgreSQL: one transaction, rolled back on failure or cancel (other writers do not wait on it).
- SQLite (one writer at a time): every row is checked first (nothing is written while a failure
  can still fail the file), then the rows go in in short journalled transactions (`imports.undo`)
  with a pause between them, so other writes wait a fraction of a second; a failure, a cancel or
  a dead worker's next attempt undoes them from the journal.
"""

import contextlib
import csv
import gc
import logging
import pickle
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from accounts.services import audit_record
from identity.config import store_config
from identity.models import Identifier
from profiles.services import Source

from .. import storage
from ..csvfile import CsvLayout, FileRuleError, failed_rows_download, profiles_export
from ..engine import ChunkResolver, PairFilter
from ..mapping import mapping_validate
from ..models import FAILED_ROWS_LIMIT, ImportRowError, ImportStatus, ProfileImport
from ..overlap import ChunkPipeline
from ..pipeline import checked_rows
from ..rows import RowFailed, RowValidator
from ..undo import Journal, import_undo, journal_exists, journal_forget
from .liveness import worker_id
from .recovery import MAX_ATTEMPTS

logger = logging.getLogger(__name__)

CHUNK_ROWS = 10_000
PROGRESS_EVERY = 5_000  # rows between two progress reports (and, on both databases, checks for a cancel)
# SQLite: a step (one short transaction) is sized to take about STEP_SECONDS, and the worker then
# leaves the database to others for STEP_PAUSE_SECONDS. A writer waiting on SQLite's lock retries at
# most every 100 ms (its busy handler), so a pause of 100 ms lets every waiting writer in: none
# waits much more than a step.
STEP_SECONDS = 0.3
STEP_PAUSE_SECONDS = 0.1
STEP_ROWS_FIRST = 500  # a step is never more than CHUNK_ROWS rows
STAGE_ROWS = 500  # SQLite: checked rows kept on disk in batches of this many until the file is known good


class _TooManyFailures(Exception):
    pass


class _Superseded(Exception):
    """Recovery gave the import to another attempt while this one ran: roll back, report nothing."""


class _Cancelled(Exception):
    """A user cancelled the import while it ran (`import_cancel` set its status)."""


def _check_owned(import_id: int, attempt: int) -> None:
    """Raise _Cancelled or _Superseded if this attempt no longer owns the running import."""
    current = ProfileImport.objects.filter(pk=import_id).values_list("status", "attempt").first()
    if current is not None and current[0] == ImportStatus.CANCELLED:
        raise _Cancelled
    if current != (ImportStatus.RUNNING, attempt):
        raise _Superseded


def import_run(*, import_id: int, attempt: int) -> ProfileImport | None:
    """Ingest a queued import (the worker's task). A stale task (an older attempt) does nothing.

    Only a Queued import can be claimed, so one attempt runs at most once. The data, the row
    errors and the Completed status commit together; the commit also checks this attempt still
    owns the import, so an import is never applied twice. On SQLite imports take turns (it has one
    writer); the waiting one stays Queued.
    """
    sqlite_file = str(connection.settings_dict["NAME"]) if connection.vendor == "sqlite" else None
    with storage.import_turn(sqlite_file=sqlite_file):
        return _import_run(import_id, attempt)


def _import_run(import_id: int, attempt: int) -> ProfileImport | None:
    now = timezone.now()
    worker = worker_id()
    claimed = ProfileImport.objects.filter(pk=import_id, attempt=attempt, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, started_at=now, worker=worker, finished_at=None, failure_reason=""
    )
    if not claimed:
        return None
    profile_import = ProfileImport.objects.select_related("store").get(pk=import_id)
    try:
        done = _run_claimed(profile_import, attempt, worker, now)
    except Exception as exc:
        # The database or the disk went away around the import itself: do not leave it Running
        # (recovery would think its live worker still owns it, and the store would stay blocked).
        logger.exception("import %s could not be finished", import_id)
        if not connection.in_atomic_block:  # a broken connection is replaced by the next query
            connection.close_if_unusable_or_obsolete()
        with contextlib.suppress(Exception):
            if _finish(
                import_id,
                attempt,
                worker,
                ImportStatus.FAILED,
                f"Internal error ({type(exc).__name__}: {exc}); nothing from the file was applied.",
                ImportCounts(),
                0,
            ):
                # Failed for good: its upload (up to IMPORT_MAX_UPLOAD_BYTES) would stay on disk
                # forever. Left Running (the database gone), recovery runs it again from the file.
                storage.file_delete(profile_import.file_path)
        return ProfileImport.objects.filter(pk=import_id).first()
    if done is None:
        return None
    storage.file_delete(profile_import.file_path)
    profile_import.refresh_from_db()
    if profile_import.status == ImportStatus.COMPLETED and connection.vendor == "postgresql":
        _trait_index_flush()
    audit_record(
        account=profile_import.store.account,
        actor=None,
        action=f"import.{profile_import.status}",
        store_id=profile_import.store_id,
        summary=f"Import of {profile_import.file_name} {profile_import.status}: "
        f"{profile_import.rows_ingested:,} rows ingested, {profile_import.rows_failed:,} failed",
    )
    return profile_import


def import_undo_leftovers(*, import_id: int) -> int:
    """Undo what a Cancelled or Failed import left journalled on SQLite (its worker died before it
    could); returns how many rows others changed or used meanwhile and were left (then noted on the
    import). Waits for the import turn, like an import."""
    if connection.vendor != "sqlite":
        return 0
    with storage.import_turn(sqlite_file=str(connection.settings_dict["NAME"])):
        ended = ProfileImport.objects.filter(
            pk=import_id, status__in=(ImportStatus.CANCELLED, ImportStatus.FAILED)
        ).first()
        if ended is None or not journal_exists(import_id=import_id):
            return 0
        kept = import_undo(import_id=import_id).kept
        if kept:
            ProfileImport.objects.filter(pk=import_id).update(failure_reason=_kept_note(ended.failure_reason, kept))
        ProfileImport.objects.filter(pk=import_id).update(worker="")
        return kept


def _trait_index_flush() -> None:
    """Move the trait index's pending entries into the index proper, once the import is committed.

    During an import, new trait values go to the GIN index's pending list in bulk (see `_ingest`),
    which is cheaper than one index update per profile; searches read that list too, but scan it
    in full, so it is emptied right after the commit rather than left for autovacuum."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            cursor.execute("SELECT gin_clean_pending_list('profile_traits_gin'::regclass)")
    except DatabaseError:  # the data is in and searchable; autovacuum will finish the job
        logger.exception("could not flush the trait index's pending list")


@dataclass(slots=True)
class ImportCounts:
    """An import's figures as the worker counts them (rows of the file; profiles by id, so they do
    not depend on where chunks end)."""

    processed: int = 0  # rows read
    failed_rows: int = 0
    ingested: int = 0
    created: int = 0
    updated: int = 0
    merged: int = 0

    def nothing_applied(self) -> None:
        """A Failed import applies nothing: only what was read and what failed stays."""
        self.ingested = self.created = self.updated = self.merged = 0


def _finish(import_id, attempt, worker, status, reason, counts: ImportCounts, notes: int) -> int:
    """Write the outcome if this attempt still owns the import; how many rows were updated (0 or 1)."""
    return ProfileImport.objects.filter(
        pk=import_id, attempt=attempt, worker=worker, status=ImportStatus.RUNNING
    ).update(
        status=status,
        failure_reason=reason,
        finished_at=timezone.now(),
        rows_processed=counts.processed,
        rows_failed=counts.failed_rows,
        rows_ingested=counts.ingested,
        profiles_created=counts.created,
        profiles_updated=counts.updated,
        profiles_merged=counts.merged,
        identifiers_dropped=notes,
        worker="",
    )


def _run_claimed(profile_import: ProfileImport, attempt: int, worker: str, now) -> bool | None:
    import_id = profile_import.pk
    path = profile_import.file_path
    sqlite = connection.vendor == "sqlite"
    earlier = ""  # what undoing an interrupted attempt could not take back, said on the outcome
    if sqlite and journal_exists(import_id=import_id):  # an earlier attempt's worker died mid-run
        logger.warning("import %s: undoing what an interrupted attempt wrote before running it again", import_id)
        kept = import_undo(
            import_id=import_id, on_step=lambda: storage.progress_write(path, rows_processed=0, rows_failed=0)
        ).kept
        earlier = _kept_note("An earlier attempt of this import was interrupted, and what it wrote was undone.", kept)
    ImportRowError.objects.filter(profile_import=profile_import).delete()  # from an interrupted attempt
    storage.progress_write(path, rows_processed=0, rows_failed=0)
    counts = ImportCounts()
    with tempfile.TemporaryFile("w+", newline="", encoding="utf-8") as spill:
        writer = csv.writer(spill)
        try:
            if sqlite:
                with Journal(import_id=import_id) as journal:
                    _ingest(profile_import, now, writer, counts, attempt=attempt, journal=journal)
                # The report is saved in batches, each its own short transaction (a file can have a
                # note on every row), then the status: a lost ownership takes the report back.
                notes = _save_row_errors(profile_import, spill, keep_notes=True)
                if not _finish(import_id, attempt, worker, ImportStatus.COMPLETED, earlier, counts, notes):
                    ImportRowError.objects.filter(profile_import=profile_import).delete()
                    _check_owned(import_id, attempt)
                    raise _Superseded
                journal_forget(import_id=import_id)  # Completed: its changes stay
            else:
                with transaction.atomic():
                    _ingest(profile_import, now, writer, counts, attempt=attempt)
                    notes = _save_row_errors(profile_import, spill, keep_notes=True)
                    if not _finish(import_id, attempt, worker, ImportStatus.COMPLETED, "", counts, notes):
                        _check_owned(import_id, attempt)
                        raise _Superseded
            return True
        except _Superseded:
            # SQLite: the attempt that now owns the import waits for this one's turn (import_turn),
            # so undoing here is safe; it would undo the journal first anyway.
            if sqlite:
                _undo(import_id, path, counts)
            logger.warning("import %s: attempt %s lost ownership; rolled back", import_id, attempt)
            return None
        except _Cancelled:
            kept = _undo(import_id, path, counts) if sqlite else 0
            # What it had read stays said (nothing of it is applied); the reason notes what undo left.
            ProfileImport.objects.filter(pk=import_id, status=ImportStatus.CANCELLED).update(
                worker="",
                rows_processed=counts.processed,
                rows_failed=counts.failed_rows,
                **({"failure_reason": _kept_note(_cancel_reason(import_id), kept)} if kept else {}),
            )
            return True
        except _TooManyFailures:
            reason = (
                f"{counts.failed_rows:,} rows failed ({FAILED_ROWS_LIMIT} or more fail the file), so nothing "
                "from the file was applied. Fix the failed rows and upload the file again."
            )
        except FileRuleError as exc:
            reason = f"{exc} Nothing from the file was applied."
        except ValidationError as exc:  # the mapping no longer fits the store (a trait or rule deleted since)
            reason = " ".join(exc.messages) + " Nothing from the file was applied."
        except Exception as exc:  # noqa: BLE001 - any error fails the import, with nothing applied
            logger.exception("import %s failed", import_id)
            reason = f"Internal error ({type(exc).__name__}: {exc}); nothing from the file was applied."
        # Failed: the transaction was rolled back (PostgreSQL) or its steps are undone (SQLite). Its
        # notes (identifiers "not added" to rows that "went in") would be false: keep only the failed rows.
        if sqlite:
            reason = _kept_note(reason, _undo(import_id, path, counts))
        counts.nothing_applied()
        _save_row_errors(profile_import, spill, keep_notes=False)
        if not _finish(import_id, attempt, worker, ImportStatus.FAILED, f"{reason} {earlier}".strip(), counts, 0):
            # Cancelled meanwhile (or given to another attempt): its status stands, without this report.
            ImportRowError.objects.filter(profile_import=profile_import).delete()
            ProfileImport.objects.filter(pk=import_id, status=ImportStatus.CANCELLED, worker=worker).update(worker="")
    return True


def _undo(import_id: int, path: str, counts: "ImportCounts") -> int:
    """SQLite: undo what this import wrote (see imports.undo); how many rows others changed or used
    meanwhile were left. If the undo cannot finish now, recovery finishes it later."""
    if not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()  # a broken connection is replaced by the next query
    try:
        return import_undo(
            import_id=import_id,
            on_step=lambda: storage.progress_write(
                path, undoing=True, rows_processed=counts.processed, rows_failed=counts.failed_rows
            ),
        ).kept
    except Exception:  # noqa: BLE001 - the journal stays; recovery undoes it (imports_recover)
        logger.exception("import %s: could not undo what it wrote; recovery will", import_id)
        return 0


def _cancel_reason(import_id: int) -> str:
    return ProfileImport.objects.filter(pk=import_id).values_list("failure_reason", flat=True).first() or ""


def _kept_note(reason: str, kept: int) -> str:
    """`reason`, with a note of the rows undo left because others changed or used them meanwhile."""
    if not kept:
        return reason
    rows = "1 row the import wrote was" if kept == 1 else f"{kept:,} rows the import wrote were"
    return (
        f"{reason} {rows} changed or used by someone else while it ran and left as they are (a profile "
        "someone edited keeps its values from the file; a profile the import created and someone edited "
        "or added to stays)."
    )


@contextlib.contextmanager
def _collector_paused():
    """No cyclic garbage collection while the rows go in; the collector's state is restored after.

    An import makes millions of short-lived dicts and lists, none in a reference cycle (reference
    counting frees them), while it holds a chunk's rows and profiles: the collector kept walking
    those live objects, 8.1 s of the worker's 19.8 s of CPU on an update run of 200,000 rows.
    Measured with it paused: a few hundred unreachable objects left per 200,000 rows, for the
    collection after. The checking children, forked inside, inherit the pause.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _ingest(profile_import: ProfileImport, now, writer, counts: ImportCounts, *, attempt: int, journal=None) -> None:
    """Check and apply the file's rows. PostgreSQL: inside the caller's transaction. SQLite
    (`journal` given): every row checked first, then applied in journalled steps."""
    store = profile_import.store
    config = store_config(store=store)
    mapping_validate(
        mapping=profile_import.mapping, headers=profile_import.headers, rules=config.rules, schema=config.schema
    )
    validator = RowValidator(
        mapping=profile_import.mapping,
        headers=profile_import.headers,
        rules=config.rules,
        schema=config.schema,
        region=store.default_region,
    )
    # An empty store (the first import): only this file's own identifiers can match, so a filter
    # of what it wrote spares a database lookup for every new identifier. PostgreSQL only: on SQLite
    # others write between the steps all along, and an identifier one of them added that the import
    # then drops (over a limit) would not be seen.
    empty = connection.vendor == "postgresql" and not Identifier.objects.filter(store=store).exists()
    resolver = ChunkResolver(
        store=store,
        rules=config.rules,
        source=Source.import_(profile_import.pk),
        now=now,
        written=PairFilter(profile_import.total_rows * 3) if empty else None,
    )
    # Profile ids, so the counts do not depend on where chunks end: a profile this import created in
    # one chunk and merged away in a later one is neither created nor merged (as within one chunk),
    # and an existing profile updated and later merged away counts as merged only.
    created: set[int] = set()
    merged: set[int] = set()
    updated: set[int] = set()
    path = profile_import.file_path

    def written(chunk, outcome):
        counts.ingested += len(chunk)
        connection.queries_log.clear()  # with DEBUG on, the logged bulk SQL would grow without bound
        created.update(outcome.created_ids)
        merged.update(outcome.merged_ids)
        updated.update(outcome.updated_ids)
        for note in outcome.notes:
            writer.writerow([note.line, note.column, note.value, note.reason, 0, note.code])

    def owned() -> None:
        _check_owned(profile_import.pk, attempt)

    def checked(size: int, check, on_limit=None):
        return _checked_chunks(profile_import, validator, writer, counts, size=size, check=check, on_limit=on_limit)

    with _collector_paused():
        if journal is None:
            _ingest_postgres(resolver, written, checked, owned)
        else:
            _ingest_in_steps(resolver, written, checked, owned, journal, counts, path)
    counts.created = len(created - merged)
    counts.merged = len(merged - created)
    counts.updated = len(updated - merged - created)


def _checked_chunks(
    profile_import: ProfileImport, validator, writer, counts: ImportCounts, *, size: int, check, on_limit=None
):
    """The file's good rows, checked (in forked children), in chunks of `size`; failed rows go to the
    spill `writer`. Reports progress, and calls `check()` (if given: a cancel raises there), every
    PROGRESS_EVERY rows; raises _TooManyFailures once every row is read if 100 or more failed (no
    chunk after the 100th failure, when `on_limit()` is called: it returns the check to use from
    then on, while the rest of the file is read for its report)."""
    path = profile_import.file_path

    def report_progress():
        storage.progress_write(path, rows_processed=counts.processed, rows_failed=counts.failed_rows)

    layout = CsvLayout(
        delimiter=profile_import.delimiter,
        declared=profile_import.separator_declared,
        width=len(profile_import.headers),
        download=failed_rows_download(profile_import.headers),
        export=not failed_rows_download(profile_import.headers) and profiles_export(profile_import.headers),
    )
    chunk: list = []
    rows = checked_rows(Path(path), validator, total_rows=profile_import.total_rows, layout=layout)
    for line, result in rows:
        counts.processed += 1
        if isinstance(result, RowFailed):
            counts.failed_rows += 1
            if counts.failed_rows == FAILED_ROWS_LIMIT and on_limit is not None:
                check = on_limit()
            for failure in result.failures:  # the first carries the row's cells, for the download
                writer.writerow(
                    [
                        failure.line,
                        failure.column,
                        failure.value,
                        failure.reason,
                        1,
                        failure.code,
                        *(failure.cells or ()),
                    ]
                )
        elif counts.failed_rows < FAILED_ROWS_LIMIT:
            chunk.append((line, *result))
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if counts.processed % PROGRESS_EVERY == 0:
            report_progress()
            if check is not None:
                check()
    report_progress()  # every row checked: the page says "finishing" while the last chunks are written
    if counts.failed_rows >= FAILED_ROWS_LIMIT:
        raise _TooManyFailures  # rolls back (or undoes) every chunk applied before the 100th failure
    if chunk:
        yield chunk


def _ingest_postgres(resolver: ChunkResolver, written, checked, owned) -> None:
    # A thread writes chunk k-1 and reads chunk k+1 while chunk k is resolved; a chunk that loses a
    # race for an identifier is redone with a full lookup. The thread uses the import's connection
    # while rows are read, so a cancel is looked for between two of its jobs (once a chunk).
    pipeline = ChunkPipeline(resolver, on_written=written, attempts=MAX_ATTEMPTS, threaded=True, between_jobs=owned)
    with connection.cursor() as cursor:
        # Bulk statements on big tables look expensive to the planner, which then JIT-compiles
        # them: hundreds of milliseconds per chunk for nothing. Only for this transaction.
        cursor.execute("SET LOCAL jit = off")
        # New trait values go to the GIN index's pending list and are merged into the index
        # in large batches (the list is emptied after the commit: _trait_index_flush).
        # 256 MB, so the list is moved into the index once, after the commit: measured at a
        # million rows, 51 s to Completed against 59 s with 64 MB. The price: searches made
        # during the import scan the list too (even entries they cannot see yet).
        cursor.execute("SET LOCAL gin_pending_list_limit = '256MB'")
        cursor.execute("SET LOCAL work_mem = '256MB'")

    def stopped():  # the 100th failed row: nothing more to write, and the connection is the reader's
        pipeline.close()
        return owned

    try:
        for chunk in checked(CHUNK_ROWS, None, stopped):
            pipeline.add(chunk)
        pipeline.finish()
    finally:
        pipeline.close()  # no write may still run when the transaction ends


def _ingest_in_steps(resolver, written, checked, owned, journal: Journal, counts, path) -> None:
    """SQLite: check every row first (kept on disk), then apply them in short journalled steps."""
    with tempfile.TemporaryFile() as staged:
        for chunk in checked(STAGE_ROWS, owned):
            pickle.dump(chunk, staged, protocol=pickle.HIGHEST_PROTOCOL)
        staged.seek(0)
        storage.progress_write(path, rows_processed=counts.processed, rows_failed=counts.failed_rows, rows_applied=0)
        steps = _Steps(resolver, journal, written, owned)
        applied = 0
        while True:
            try:
                chunk = pickle.load(staged)  # noqa: S301 - this process wrote it, just now
            except EOFError:
                break
            steps.add(chunk)
            applied += len(chunk)
            if applied % PROGRESS_EVERY < len(chunk):
                storage.progress_write(
                    path, rows_processed=counts.processed, rows_failed=counts.failed_rows, rows_applied=counts.ingested
                )
        steps.finish()


class _Steps:
    """SQLite: applies checked rows in steps, each one short journalled transaction (about
    STEP_SECONDS: the rows per step follow the time the last step took), with a pause after each
    so that other writers get the lock. A step that loses a race for an identifier to another
    writer (IntegrityError) is redone with a full lookup."""

    def __init__(self, resolver: ChunkResolver, journal: Journal, on_written, check):
        self.resolver = resolver
        self.journal = journal
        self.on_written = on_written
        self.check = check
        self.rows_per_step = min(STEP_ROWS_FIRST, CHUNK_ROWS)
        self.buffer: list = []
        self.steps = 0

    def add(self, rows: list) -> None:
        self.buffer += rows
        while len(self.buffer) >= self.rows_per_step:
            part, self.buffer = self.buffer[: self.rows_per_step], self.buffer[self.rows_per_step :]
            self._step(part)

    def finish(self) -> None:
        while self.buffer:
            part, self.buffer = self.buffer[: self.rows_per_step], self.buffer[self.rows_per_step :]
            self._step(part)

    def _step(self, rows: list) -> None:
        if self.steps:
            time.sleep(STEP_PAUSE_SECONDS)  # the database is the others' between two steps
        self.check()  # a cancel is seen before each step
        for attempt in range(1, MAX_ATTEMPTS + 1):
            started = time.monotonic()
            # Each step reads what it matches inside its own transaction: other writers may have
            # changed anything since the last one, so nothing is carried over from it.
            self.resolver.reset()
            try:
                with self.journal.step():
                    outcome = self.resolver.run(rows, full_lookup=attempt > 1)
            except IntegrityError:
                if attempt == MAX_ATTEMPTS:
                    raise
                continue
            break
        elapsed = max(time.monotonic() - started, 0.001)
        self.on_written(rows, outcome)
        self.steps += 1
        self.rows_per_step = min(CHUNK_ROWS, max(50, int(len(rows) * STEP_SECONDS / elapsed)))  # at most a chunk


SAVE_BATCH_ROWS = 5000
SAVE_BATCH_CHARACTERS = 16 * 1024 * 1024  # failed rows' cells can be 1 MB each: bound each batch's memory


def _save_row_errors(profile_import: ProfileImport, spill, *, keep_notes: bool = True) -> int:
    """Store the spilled failures and notes; returns how many notes (kept rows' dropped identifiers).

    A spilled line is ``line, column, value, reason, failed, code`` followed by the row's cells on
    a failed row's first failure (a row has at least one cell, so none means none kept)."""
    spill.seek(0)
    notes, batch, size = 0, [], 0
    for line, column, value, reason, failed, code, *cells in csv.reader(spill):
        if failed == "0" and not keep_notes:
            continue
        notes += failed == "0"
        batch.append(
            ImportRowError(
                store_id=profile_import.store_id,
                profile_import=profile_import,
                line=int(line),
                column=column,
                value=value,
                reason=reason,
                code=code,
                row_failed=failed == "1",
                cells=cells or None,
            )
        )
        size += sum(map(len, cells))
        if len(batch) >= SAVE_BATCH_ROWS or size >= SAVE_BATCH_CHARACTERS:
            ImportRowError.objects.bulk_create(batch)
            batch, size = [], 0
    ImportRowError.objects.bulk_create(batch)
    return notes
