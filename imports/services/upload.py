"""An import before the worker: upload (the file rules), mapping and queue, discard, cancel.

Also sends the worker its task (`run_task_send`, used by recovery too) and deletes a deleted store's files.
"""

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from accounts.services import audit_record
from identity.config import store_config
from stores.models import Store

from .. import storage
from ..csvfile import FileRuleError, csv_file_check
from ..mapping import mapping_from_specs, mapping_validate
from ..models import ACTIVE_STATUSES, ImportStatus, ProfileImport


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
        run_task_send(profile_import)
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


def run_task_send(profile_import: ProfileImport) -> None:
    """Send the worker the task of this import's attempt, once the data database's transaction
    commits (at once outside one).

    The task goes to django-q2's queue, which on SQLite is a database of its own (the `queue` alias)
    and does not wait for this transaction: sent before the commit, it could reach a worker that
    finds the import not yet Queued and drops it, or refer to an import a rollback removed."""
    pk, attempt = profile_import.pk, profile_import.attempt

    def send():
        async_task("imports.tasks.import_run_task", pk, attempt, task_name=f"import-{pk}-{attempt}")

    transaction.on_commit(send)


def undo_task_send(profile_import: ProfileImport) -> None:
    """Queue the undo of what a Cancelled or Failed import wrote on SQLite (imports.undo); several
    such tasks do no harm: they take turns, and the later ones find nothing left."""
    pk = profile_import.pk
    transaction.on_commit(lambda: async_task("imports.tasks.import_undo_task", pk, task_name=f"import-{pk}-undo"))


def import_discard(*, profile_import: ProfileImport, actor) -> None:
    """Drop an upload that was never queued (the user went back from the mapping page)."""
    deleted, _ = ProfileImport.objects.filter(pk=profile_import.pk, status=ImportStatus.MAPPING).delete()
    if not deleted:  # checked and deleted in one statement: a concurrent Complete wins cleanly
        raise ValidationError("Only an upload that has not been started can be discarded.")
    storage.file_delete(profile_import.file_path)


def import_cancel(*, profile_import: ProfileImport, actor) -> bool:
    """Stop a queued or running import: it becomes Cancelled at once, and nothing from the file
    stays applied. True if the import was cancelled; False if it was no longer queued or running.

    A worker running it sees the status between two steps (within a second or so): on PostgreSQL
    its transaction is rolled back; on SQLite the short transactions it committed are undone from
    their journal (`imports.undo`) in the seconds after. A worker that is gone leaves that undo to
    recovery (`imports_recover`).
    """
    label = _actor_label(actor) or "an administrator"
    cancelled = ProfileImport.objects.filter(pk=profile_import.pk, status__in=ACTIVE_STATUSES).update(
        status=ImportStatus.CANCELLED,
        finished_at=timezone.now(),
        failure_reason=f"Cancelled by {label}; nothing from the file stays applied.",
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


def import_store_files_delete(*, store_id: int) -> None:
    transaction.on_commit(lambda: storage.store_files_delete(store_id))
