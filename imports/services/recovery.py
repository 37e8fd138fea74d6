"""Recovery: requeue imports whose worker died or whose task was lost; drop abandoned uploads.

Runs whenever a qcluster worker starts (imports/apps.py), before each import task and every
minute (a django-q2 schedule). Idempotent, so several clusters may run it.

A Queued import's task is sent again (the same attempt: whichever task comes first claims the
import, the other does nothing) when it is lost:
- **taken by a cluster that died**: a cluster takes tasks ahead of its workers (settings.py,
  Q_QUEUE_LIMIT); killed, it takes them along (Redis), or leaves them locked for Q_RETRY (ORM). Such
  an import is sent again once it has been Queued for IMPORT_LOST_AFTER seconds (default 120) while
  no task waits anywhere it could be: none in the broker, none in any living cluster's local queue
  (memory_console.cluster), and at least one cluster lives to run it;
- otherwise after IMPORT_REQUEUE_AFTER seconds (default 3,600: a broker flushed, a long queue).
"""

import logging
import os
from datetime import timedelta

from django.db import OperationalError, transaction
from django.utils import timezone

from memory_console.busy import is_database_busy
from memory_console.cluster import broker_waiting, clusters_alive

from .. import storage
from ..models import ImportStatus, ImportUndo, ProfileImport
from ..undo import journal_forget
from .liveness import worker_alive
from .upload import run_task_send, undo_task_send

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
REQUEUE_AFTER_SECONDS = int(os.environ.get("IMPORT_REQUEUE_AFTER", 3600))  # Queued this long: task lost
LOST_AFTER_SECONDS = int(os.environ.get("IMPORT_LOST_AFTER", 120))  # ... or this long with nothing waiting anywhere
ABANDONED_AFTER_SECONDS = 24 * 3600  # an upload left on the mapping page this long is deleted


def nothing_waits_anywhere() -> bool:
    """No task waits in the broker nor in any living cluster's local queue, and a cluster lives: a
    Queued import's task can then only be with a cluster that died. False when it cannot be told
    (the reports or the broker unreadable): recovery then waits IMPORT_REQUEUE_AFTER."""
    try:
        clusters = clusters_alive()
        return bool(clusters) and not any(c.waiting for c in clusters) and broker_waiting() == 0
    except Exception:  # noqa: BLE001 - recovery goes on with the long wait
        logger.warning("import recovery: cannot tell what the workers hold", exc_info=True)
        return False


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
    overdue = ProfileImport.objects.filter(status=ImportStatus.QUEUED)
    if nothing_waits_anywhere():
        overdue = overdue.filter(queued_at__lt=now - timedelta(seconds=LOST_AFTER_SECONDS))
    else:
        overdue = overdue.filter(queued_at__lt=now - timedelta(seconds=REQUEUE_AFTER_SECONDS))
    for waiting in overdue:
        # Its task is lost (module docstring): send another for the same attempt. Whichever task
        # comes first claims the import; the other finds it no longer Queued and does nothing. (A
        # new attempt would make a merely slow queue starve it.)
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
    recovery that has something to write is left to its next pass (every minute, and at each
    worker start) instead of failing this task: the import then waits for its turn."""
    try:
        imports_recover()
    except OperationalError as exc:
        if not is_database_busy(exc):
            raise
        logger.warning("import recovery skipped: the database is busy with another import")
