import logging

from django.apps import AppConfig
from django.db.models.signals import post_migrate

from memory_console.schedules import schedule_ensure

logger = logging.getLogger(__name__)


def _recover_on_worker_start(sender, proc_name=None, **kwargs):
    """A qcluster worker just started: requeue imports whose worker died mid-run (e.g. killed)."""
    from .services import imports_recover

    try:
        imports_recover()
    except Exception:  # noqa: BLE001 - never stop a worker from starting
        logger.exception("could not check for interrupted imports")


RECOVER_SCHEDULE = "Recover interrupted CSV imports"


def _recover_schedule_ensure(sender, apps=None, using="default", **kwargs):
    """After every migrate (and flush): the django-q2 schedule that runs recovery every 5 minutes.

    Besides each worker start and each import task: an import whose worker died on a host where no
    worker starts again (or whose task was lost) is requeued or failed within minutes, and its store
    takes uploads again. imports_recover is idempotent, so several clusters may run it.
    """
    schedule_ensure(apps=apps, using=using, name=RECOVER_SCHEDULE, func="imports.tasks.imports_recover_task", minutes=5)


class ImportsConfig(AppConfig):
    name = "imports"
    verbose_name = "CSV imports"

    def ready(self):
        from django_q.signals import post_spawn

        post_spawn.connect(_recover_on_worker_start, dispatch_uid="imports.recover")
        post_migrate.connect(_recover_schedule_ensure, sender=self, dispatch_uid="imports.recover_schedule")
