import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


def _recover_on_worker_start(sender, proc_name=None, **kwargs):
    """A qcluster worker just started: requeue imports whose worker died mid-run (e.g. killed)."""
    from .services import imports_recover

    try:
        imports_recover()
    except Exception:  # noqa: BLE001 - never stop a worker from starting
        logger.exception("could not check for interrupted imports")


class ImportsConfig(AppConfig):
    name = "imports"
    verbose_name = "CSV imports"

    def ready(self):
        from django_q.signals import post_spawn

        post_spawn.connect(_recover_on_worker_start, dispatch_uid="imports.recover")
