"""Recovery: requeue imports whose worker died or whose task was lost; drop abandoned uploads.

Runs whenever a qcluster worker starts (imports/apps.py), before each import task and every 5
minutes (a django-q2 schedule). Idempotent, so several clusters may run it.
"""

import logging
import os
from datetime import timedelta

from django.db import OperationalError, transaction
from django.utils import timezone

from memory_console.busy import is_database_busy

from .. import storage
from ..models import ImportStatus, ImportUndo, ProfileImport
from ..undo import journal_forget
from .liveness import worker_alive
from .upload import run_task_send, undo_task_send

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
REQUEUE_AFTER_SECONDS = int(os.environ.get("IMPORT_REQUEUE_AFTER", 3600))  # Queued this long: task lost
ABANDONED_AFTER_SECONDS = 24 * 3600  # an upload left on the mapping page this long is deleted


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
                run_task_send(waiting)
                requeued.append(waiting.pk)
    for stale in ProfileImport.objects.filter(status=ImportStatus.RUNNING):
        if worker_alive(stale):
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
            continue  # on SQLite what it wrote is undone below, on this pass or the next
        with transaction.atomic():
            moved = ProfileImport.objects.filter(
                pk=stale.pk, status=ImportStatus.RUNNING, attempt=stale.attempt
            ).update(status=ImportStatus.QUEUED, attempt=stale.attempt + 1, worker="", queued_at=timezone.now())
            if moved:
                stale.attempt += 1
                run_task_send(stale)
                requeued.append(stale.pk)
                logger.warning("import %s: its worker stopped mid-run; queued again (%s)", stale.pk, stale.attempt)
    _leftovers_undo()
    return requeued


def _leftovers_undo() -> None:
    """SQLite: a Cancelled or Failed import whose worker is gone before it undid its journalled
    steps (killed while undoing, or cancelled while its worker was dead) gets a task that undoes them;
    a Completed import's journal that its worker had no time to drop is dropped (its changes stay)."""
    completed = ImportUndo.objects.filter(profile_import__status=ImportStatus.COMPLETED)
    for import_id in set(completed.values_list("profile_import_id", flat=True)):
        journal_forget(import_id=import_id)
    ended = ImportUndo.objects.filter(
        profile_import__status__in=(ImportStatus.CANCELLED, ImportStatus.FAILED)
    ).values_list("profile_import_id", flat=True)
    for left in ProfileImport.objects.filter(pk__in=ended.distinct()):
        if left.worker and worker_alive(left):
            continue  # its worker is undoing it now
        undo_task_send(left)


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
