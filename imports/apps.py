import logging

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db import router
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
    """After every migrate (and flush): the django-q2 schedule that runs recovery every minute.

    Besides each worker start and each import task: an import whose worker died on a host where no
    worker starts again (or whose task was lost) is requeued or failed within minutes, and its store
    takes uploads again. imports_recover is idempotent, so several clusters may run it.
    """
    schedule_ensure(apps=apps, using=using, name=RECOVER_SCHEDULE, func="imports.tasks.imports_recover_task", minutes=1)
    # Every 5 minutes was the default before imports taken by a killed cluster were recovered within
    # minutes (README, "Running several workers"); a schedule still at that default follows the new one.
    Schedule = (apps or global_apps).get_model("django_q", "Schedule")
    if router.allow_migrate_model(using, Schedule):
        Schedule.objects.using(using).filter(
            func="imports.tasks.imports_recover_task", name=RECOVER_SCHEDULE, minutes=5
        ).update(minutes=1)


class ImportsConfig(AppConfig):
    name = "imports"
    verbose_name = "CSV imports"

    def ready(self):
        from django_q.signals import post_spawn

        post_spawn.connect(_recover_on_worker_start, dispatch_uid="imports.recover")
        post_migrate.connect(_recover_schedule_ensure, sender=self, dispatch_uid="imports.recover_schedule")
