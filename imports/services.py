"""CSV imports: upload (file rules), mapping and queueing, the worker's run, and crash recovery.

A file is ingested in one transaction: every good row is applied and the import is Completed, or,
when 100 or more rows fail or anything goes wrong, nothing is applied and it is Failed. Failed
rows are spilled to a temporary file while the transaction runs and saved afterwards, so the
report survives the rollback.
"""

import contextlib
import csv
import gc
import logging
import os
import socket
import tempfile
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone

from accounts.services import audit_record
from identity.config import store_config
from identity.models import Identifier
from memory_console.busy import is_database_busy
from profiles.services import Source
from stores.models import Store

from . import storage
from .csvfile import DOWNLOAD_COLUMNS, CsvLayout, FileRuleError, csv_file_check, failed_rows_download, formula_escape
from .engine import ChunkPipeline, ChunkResolver, PairFilter
from .mapping import mapping_from_specs, mapping_validate
from .models import ACTIVE_STATUSES, FAILED_ROWS_LIMIT, ImportRowError, ImportStatus, ProfileImport
from .pipeline import checked_rows
from .rows import RowFailed, RowValidator

logger = logging.getLogger(__name__)

CHUNK_ROWS = 10_000
PROGRESS_EVERY = 5_000
MAX_ATTEMPTS = 3
STALE_AFTER_SECONDS = 15 * 60  # a worker on another host that has not reported for this long is gone
REQUEUE_AFTER_SECONDS = int(os.environ.get("IMPORT_REQUEUE_AFTER", 3600))  # Queued this long: task lost
ABANDONED_AFTER_SECONDS = 24 * 3600  # an upload left on the mapping page this long is deleted


def _actor_label(actor) -> str:
    if actor is None:
        return ""
    if isinstance(actor, str):
        return actor
    return getattr(actor, "email", "") or str(actor)


def _refuse_if_busy(store: Store, *, exclude_pk=None) -> None:
    running = ProfileImport.objects.filter(store=store, status__in=ACTIVE_STATUSES).exclude(pk=exclude_pk).first()
    if running:
        raise ValidationError(
            f"“{running.file_name}” (import #{running.pk}) is {running.get_status_display().lower()} in this "
            "memory store; wait for it to finish before importing another file."
        )


def import_upload(*, store: Store, actor, file_name: str, chunks) -> ProfileImport:
    """Save an uploaded file, apply the file rules and create an import waiting for its mapping.

    `chunks` yields bytes (Django's UploadedFile.chunks(), or a file read in blocks), so the file
    is never held whole in memory. A broken rule deletes the file and raises ValidationError.
    """
    _refuse_if_busy(store)
    # A name the browser sent in another encoding arrives with surrogates: keep it printable.
    name = Path(file_name or "upload.csv").name.encode("utf-8", "replace").decode("utf-8")[:255] or "upload.csv"
    limit = settings.IMPORT_MAX_UPLOAD_BYTES

    def bounded(blocks):
        total = 0
        for block in blocks:
            total += len(block)
            if total > limit:
                raise FileRuleError(f"The file is larger than the {limit / 1e6:,.0f} MB upload limit.")
            yield block

    path = None
    try:
        path, size = storage.upload_save(store_id=store.pk, chunks=bounded(chunks))
        checked = csv_file_check(path)
        profile_import = ProfileImport.objects.create(
            store=store,
            file_name=name,
            file_path=str(path),
            file_size=size,
            status=ImportStatus.MAPPING,
            created_by=actor if isinstance(actor, get_user_model()) else None,
            created_by_label=_actor_label(actor),
            headers=checked.headers,
            samples=checked.samples,
            total_rows=checked.total_rows,
            delimiter=checked.delimiter,
            separator_declared=checked.declared,
            file_notes=checked.notes,
        )
    except FileRuleError as exc:
        storage.file_delete(path)
        raise ValidationError(f"{name}: {exc}") from None
    except BaseException:
        storage.file_delete(path)  # nothing half-uploaded stays on disk
        raise
    audit_record(
        account=store.account,
        actor=actor,
        action="import.upload",
        store_id=store.pk,
        summary=f"Uploaded {name} ({checked.total_rows:,} rows) for import",
    )
    return profile_import


@transaction.atomic
def import_queue(*, profile_import: ProfileImport, actor, mapping: list[dict], enqueue: bool = True) -> ProfileImport:
    """Check the mapping and queue the import (one active import per store).

    `enqueue=False` when the caller runs `import_run` itself (the command line): no worker task.
    """
    store = Store.objects.select_for_update().get(pk=profile_import.store_id)
    profile_import = ProfileImport.objects.select_for_update().get(pk=profile_import.pk)
    if profile_import.status != ImportStatus.MAPPING:
        raise ValidationError(f"Import #{profile_import.pk} is already {profile_import.get_status_display().lower()}.")
    _refuse_if_busy(store, exclude_pk=profile_import.pk)
    config = store_config(store=store)
    mapping_validate(mapping=mapping, headers=profile_import.headers, rules=config.rules, schema=config.schema)
    profile_import.mapping = mapping
    profile_import.status = ImportStatus.QUEUED
    profile_import.queued_at = timezone.now()
    profile_import.attempt += 1
    profile_import.save(update_fields=["mapping", "status", "queued_at", "attempt"])
    audit_record(
        account=store.account,
        actor=actor,
        action="import.queue",
        store_id=store.pk,
        summary=f"Started importing {profile_import.file_name} ({len(mapping)} mapped columns)",
    )
    if enqueue:
        _enqueue(profile_import)
    return profile_import


def import_start(*, store: Store, actor, file_name: str, chunks, specs: list, enqueue: bool = True) -> ProfileImport:
    """Upload and queue in one go, with a mapping given as ``HEADER=identifier:KIND`` /
    ``HEADER=Group.trait`` specs (the command line) or ``(header, target)`` pairs (the API's JSON
    object); see `mapping.mapping_from_specs`. A file or mapping that breaks a rule raises
    ValidationError and leaves no import behind."""
    profile_import = import_upload(store=store, actor=actor, file_name=file_name, chunks=chunks)
    try:
        schema = store_config(store=store).schema
        mapping = mapping_from_specs(headers=profile_import.headers, specs=specs, schema=schema)
        return import_queue(profile_import=profile_import, actor=actor, mapping=mapping, enqueue=enqueue)
    except ValidationError:
        import_discard(profile_import=profile_import, actor=actor)
        raise


def _enqueue(profile_import: ProfileImport) -> None:
    pk, attempt = profile_import.pk, profile_import.attempt

    def send():
        from django_q.tasks import async_task

        async_task("imports.tasks.import_run_task", pk, attempt, task_name=f"import-{pk}-{attempt}")

    transaction.on_commit(send)


def import_discard(*, profile_import: ProfileImport, actor) -> None:
    """Drop an upload that was never queued (the user went back from the mapping page)."""
    deleted, _ = ProfileImport.objects.filter(pk=profile_import.pk, status=ImportStatus.MAPPING).delete()
    if not deleted:  # checked and deleted in one statement: a concurrent Complete wins cleanly
        raise ValidationError("Only an upload that has not been started can be discarded.")
    storage.file_delete(profile_import.file_path)


def import_cancel(*, profile_import: ProfileImport, actor) -> bool:
    """Stop a queued or running import (say its task was lost): it becomes Failed at once.

    A worker still running it finds at commit that it no longer owns the import and rolls back, so
    nothing from the file is applied. True if the import was cancelled.
    """
    label = _actor_label(actor) or "an administrator"
    cancelled = ProfileImport.objects.filter(pk=profile_import.pk, status__in=ACTIVE_STATUSES).update(
        status=ImportStatus.FAILED,
        finished_at=timezone.now(),
        worker="",
        failure_reason=f"Cancelled by {label}; nothing from the file was applied.",
    )
    if cancelled:
        audit_record(
            account=profile_import.store.account,
            actor=actor,
            action="import.cancel",
            store_id=profile_import.store_id,
            summary=f"Cancelled the import of {profile_import.file_name}",
        )
    return bool(cancelled)


# --- the worker --------------------------------------------------------------------------------


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (state first, start time at index 19), or None without one."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _worker_id() -> str:
    fields = _proc_stat(os.getpid())
    return f"{socket.gethostname()}:{os.getpid()}:{fields[19] if fields else ''}"


def _worker_alive(worker: str) -> bool | None:
    """True/False for a worker on this host, None when it ran elsewhere (we cannot tell)."""
    host, _, rest = worker.partition(":")
    if host != socket.gethostname() or not rest:
        return None
    pid, _, start = rest.partition(":")
    if not pid.isdigit():
        return False
    fields = _proc_stat(int(pid))
    if fields is None:
        try:
            os.kill(int(pid), 0)
        except OSError:
            return False
        return not start  # no /proc: the pid exists, trust it only if we never had a start time
    if fields[0] in ("Z", "X"):
        return False  # killed and not reaped yet (a container's init may never reap it)
    return not start or fields[19] == start


class _TooManyFailures(Exception):
    pass


class _Superseded(Exception):
    """Recovery gave the import to another attempt while this one ran: roll back, report nothing."""


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
    worker = _worker_id()
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
            _finish(
                import_id,
                attempt,
                worker,
                ImportStatus.FAILED,
                f"Internal error ({type(exc).__name__}: {exc}); nothing from the file was applied.",
                {},
                0,
            )
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


def _finish(import_id, attempt, worker, status, reason, counts: dict, notes: int) -> int:
    """Write the outcome if this attempt still owns the import; how many rows were updated (0 or 1)."""
    return ProfileImport.objects.filter(
        pk=import_id, attempt=attempt, worker=worker, status=ImportStatus.RUNNING
    ).update(
        status=status,
        failure_reason=reason,
        finished_at=timezone.now(),
        rows_processed=counts.get("processed", 0),
        rows_failed=counts.get("failed_rows", 0),
        rows_ingested=counts.get("ingested", 0),
        profiles_created=counts.get("created", 0),
        profiles_updated=counts.get("updated", 0),
        profiles_merged=counts.get("merged", 0),
        identifiers_dropped=notes,
        worker="",
    )


def _run_claimed(profile_import: ProfileImport, attempt: int, worker: str, now) -> bool | None:
    import_id = profile_import.pk
    ImportRowError.objects.filter(profile_import=profile_import).delete()  # from an interrupted attempt
    storage.progress_write(profile_import.file_path, rows_processed=0, rows_failed=0)
    counts = {"processed": 0, "failed_rows": 0, "ingested": 0, "created": 0, "updated": 0, "merged": 0}
    with tempfile.TemporaryFile("w+", newline="", encoding="utf-8") as spill:
        writer = csv.writer(spill)
        try:
            with transaction.atomic():
                _ingest(profile_import, now, writer, counts)
                notes = _save_row_errors(profile_import, spill, keep_notes=True)
                if not _finish(import_id, attempt, worker, ImportStatus.COMPLETED, "", counts, notes):
                    raise _Superseded
            return True
        except _Superseded:
            logger.warning("import %s: attempt %s lost ownership; rolled back", import_id, attempt)
            return None
        except _TooManyFailures:
            reason = (
                f"{counts['failed_rows']:,} rows failed ({FAILED_ROWS_LIMIT} or more fail the file), so nothing "
                "from the file was applied. Fix the failed rows and upload the file again."
            )
        except FileRuleError as exc:
            reason = f"{exc} Nothing from the file was applied."
        except ValidationError as exc:  # the mapping no longer fits the store (a trait or rule deleted since)
            reason = " ".join(exc.messages) + " Nothing from the file was applied."
        except Exception as exc:  # noqa: BLE001 - any error fails the import, with nothing applied
            logger.exception("import %s failed", import_id)
            reason = f"Internal error ({type(exc).__name__}: {exc}); nothing from the file was applied."
        # Failed: the transaction was rolled back. Its notes (identifiers "not added" to rows that
        # "went in") would be false: keep only the failed rows.
        counts.update(ingested=0, created=0, updated=0, merged=0)
        _save_row_errors(profile_import, spill, keep_notes=False)
        _finish(import_id, attempt, worker, ImportStatus.FAILED, reason, counts, 0)
    return True


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


def _ingest(profile_import: ProfileImport, now, writer, counts: dict) -> None:
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
    # of what it wrote spares a database lookup for every new identifier.
    empty = not Identifier.objects.filter(store=store).exists()
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
        counts["ingested"] += len(chunk)
        connection.queries_log.clear()  # with DEBUG on, the logged bulk SQL would grow without bound
        created.update(outcome.created_ids)
        merged.update(outcome.merged_ids)
        updated.update(outcome.updated_ids)
        for note in outcome.notes:
            writer.writerow([note.line, note.column, note.value, note.reason, 0, note.code])

    # On PostgreSQL a thread writes chunk k-1 and reads chunk k+1 while chunk k is resolved; a chunk
    # that loses a race for an identifier is redone with a full lookup.
    pipeline = ChunkPipeline(
        resolver, on_written=written, attempts=MAX_ATTEMPTS, threaded=connection.vendor == "postgresql"
    )
    with transaction.atomic(), _collector_paused():
        if connection.vendor == "postgresql":
            # Bulk statements on big tables look expensive to the planner, which then JIT-compiles
            # them: hundreds of milliseconds per chunk for nothing. Only for this transaction.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
                # New trait values go to the GIN index's pending list and are merged into the index
                # in large batches (the list is emptied after the commit: _trait_index_flush).
                # 256 MB, so the list is moved into the index once, after the commit: measured at a
                # million rows, 51 s to Completed against 59 s with 64 MB. The price: searches made
                # during the import scan the list too (even entries they cannot see yet).
                cursor.execute("SET LOCAL gin_pending_list_limit = '256MB'")
                cursor.execute("SET LOCAL work_mem = '256MB'")
        chunk: list = []

        def report_progress():
            storage.progress_write(path, rows_processed=counts["processed"], rows_failed=counts["failed_rows"])

        try:
            layout = CsvLayout(
                delimiter=profile_import.delimiter,
                declared=profile_import.separator_declared,
                width=len(profile_import.headers),
                download=failed_rows_download(profile_import.headers),
            )
            rows = checked_rows(Path(path), validator, total_rows=profile_import.total_rows, layout=layout)
            for line, result in rows:
                counts["processed"] += 1
                if isinstance(result, RowFailed):
                    counts["failed_rows"] += 1
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
                elif counts["failed_rows"] < FAILED_ROWS_LIMIT:
                    chunk.append((line, *result))
                    if len(chunk) >= CHUNK_ROWS:
                        pipeline.add(chunk)
                        chunk = []
                if counts["processed"] % PROGRESS_EVERY == 0:
                    report_progress()
            report_progress()  # every row checked: the page says "finishing" while the last chunks are written
            if counts["failed_rows"] >= FAILED_ROWS_LIMIT:
                raise _TooManyFailures  # rolls back every chunk applied before the 100th failure
            if chunk:
                pipeline.add(chunk)
            pipeline.finish()
        finally:
            pipeline.close()  # no write may still run when the transaction ends
    counts["created"] = len(created - merged)
    counts["merged"] = len(merged - created)
    counts["updated"] = len(updated - merged - created)


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


def imports_recover() -> list[int]:
    """Requeue imports whose worker died mid-run (or fail them after MAX_ATTEMPTS); ids requeued.

    Runs whenever a qcluster worker starts (imports/apps.py) and before each import. The dead
    worker's transaction was rolled back by the database, so re-running from the start is safe.
    """
    requeued = []
    now = timezone.now()
    for abandoned in ProfileImport.objects.filter(
        status=ImportStatus.MAPPING, created_at__lt=now - timedelta(seconds=ABANDONED_AFTER_SECONDS)
    ):
        # Uploaded but never mapped: the file (up to IMPORT_MAX_UPLOAD_BYTES) should not stay forever.
        if ProfileImport.objects.filter(pk=abandoned.pk, status=ImportStatus.MAPPING).delete()[0]:
            storage.file_delete(abandoned.file_path)
    for waiting in ProfileImport.objects.filter(
        status=ImportStatus.QUEUED, queued_at__lt=now - timedelta(seconds=REQUEUE_AFTER_SECONDS)
    ):
        # Its task may be lost (a broker flushed, a worker killed before it started): send another
        # for the same attempt. Whichever task comes first claims the import; the other finds it no
        # longer Queued and does nothing. (A new attempt would make a merely slow queue starve it.)
        with transaction.atomic():
            if ProfileImport.objects.filter(
                pk=waiting.pk, status=ImportStatus.QUEUED, queued_at=waiting.queued_at
            ).update(queued_at=now):
                _enqueue(waiting)
                requeued.append(waiting.pk)
    for stale in ProfileImport.objects.filter(status=ImportStatus.RUNNING):
        alive = _worker_alive(stale.worker) if stale.worker else False
        if alive is None:
            age = storage.heartbeat_age(stale.file_path)
            alive = age is not None and age < STALE_AFTER_SECONDS
        if alive:
            continue
        if stale.attempt >= MAX_ATTEMPTS:
            ProfileImport.objects.filter(pk=stale.pk, status=ImportStatus.RUNNING, attempt=stale.attempt).update(
                status=ImportStatus.FAILED,
                finished_at=timezone.now(),
                worker="",
                failure_reason=f"The worker stopped {stale.attempt} times while importing this file; nothing "
                "from the file was applied.",
            )
            storage.file_delete(stale.file_path)
            continue
        with transaction.atomic():
            moved = ProfileImport.objects.filter(
                pk=stale.pk, status=ImportStatus.RUNNING, attempt=stale.attempt
            ).update(status=ImportStatus.QUEUED, attempt=stale.attempt + 1, worker="", queued_at=timezone.now())
            if moved:
                stale.attempt += 1
                _enqueue(stale)
                requeued.append(stale.pk)
                logger.warning("import %s: its worker stopped mid-run; queued again (%s)", stale.pk, stale.attempt)
    return requeued


def imports_recover_before_run() -> None:
    """Recovery as an import's task starts. On SQLite, behind another import's write lock, a
    recovery that has something to write is left to its next pass (every 5 minutes, and at each
    worker start) instead of failing this task: the import then waits for its turn."""
    try:
        imports_recover()
    except OperationalError as exc:
        if not is_database_busy(exc):
            raise
        logger.warning("import recovery skipped: the database is busy with another import")


def import_failed_rows_csv(*, profile_import: ProfileImport):
    """The failed rows and the notes (identifiers of ingested rows not kept), as on the details
    page; CSV text yielded a line at a time (a bad file may have a million).

    UTF-8 with a BOM, separated as the uploaded file was. Columns: the file's own headers, then
    ``line, kind, column, value, reason`` (prefixed with "import " if the file has a header of
    that name). A failed row is one line carrying its
    original cells, so the file can be fixed and uploaded again; when several of its cells failed,
    their columns, values and reasons are joined with " / ". A row with fewer cells than the header
    is padded with empty cells; one with more keeps them after ``reason``. A note has no cells.
    Cells starting with =, +, -, @ (or a tab/CR), possibly after ', get a leading ' so spreadsheets
    do not run them (`csvfile.formula_escape`); uploading the download again removes exactly that '
    and skips the notes (`csvfile.failed_rows_download`). The download of such a re-upload does not
    repeat the earlier download's five columns: it has the original file's columns and new ones.
    """

    class _Line:
        def write(self, text):
            return text

    # The uploaded file's separator and a UTF-8 BOM: a ";" file comes back as one, so the Excel that
    # wrote it (European locales) opens it in columns, and the BOM tells Excel the text is UTF-8.
    writer = csv.writer(_Line(), delimiter=profile_import.delimiter or ",")
    headers = list(profile_import.headers)
    end = len(headers)  # the row's cells after the header's columns: kept after "reason"
    if failed_rows_download(headers):
        headers = headers[: -len(DOWNLOAD_COLUMNS)]  # an earlier download's columns: replaced by ours
    ours = list(DOWNLOAD_COLUMNS)
    if set(ours) & set(headers):
        ours = [f"import {name}" for name in ours]
    width = len(headers)
    yield "\ufeff" + writer.writerow([*headers, *ours])
    rows = ImportRowError.objects.filter(profile_import=profile_import).order_by("line", "id")
    fields = ("line", "row_failed", "column", "value", "reason", "cells")
    group: list = []

    def emit(group):
        line, failed = group[0][0], group[0][1]
        cells = next((entry[5] for entry in group if entry[5]), None) or []
        mine = [formula_escape(cell) for cell in cells]
        own = [*mine[:width], *[""] * (width - len(mine))]
        joined = [" / ".join(entry[i] for entry in group if entry[i]) for i in (2, 3, 4)]
        kind = "failed row" if failed else "note"
        return writer.writerow([*own, line, kind, *(formula_escape(text) for text in joined), *mine[end:]])

    for entry in rows.values_list(*fields).iterator(500):  # a failed row may carry up to 100 MB of cells
        if group and not (entry[1] and group[0][1] and entry[0] == group[0][0]):
            yield emit(group)
            group = []
        group.append(entry)
    if group:
        yield emit(group)


def import_store_files_delete(*, store_id: int) -> None:
    transaction.on_commit(lambda: storage.store_files_delete(store_id))
