from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _cluster_cache_table_ensure(sender, using="default", **kwargs):
    """After every migrate: the table of the `cluster` cache when it is a database cache (PostgreSQL;
    settings.py), where the qclusters' reports are kept. `createcachetable` is idempotent. Sent with
    django-q2's app (this package has no models, and Django signals only apps with models)."""
    from django.conf import settings
    from django.core.management import call_command

    if (
        sender.label == "django_q"
        and using == "default"
        and settings.CACHES.get("cluster", {}).get("BACKEND", "").endswith(".db.DatabaseCache")
    ):
        call_command("createcachetable", database=using, verbosity=0)


class MemoryConsoleConfig(AppConfig):
    name = "memory_console"
    verbose_name = "Memory Console"

    def ready(self):
        post_migrate.connect(_cluster_cache_table_ensure, dispatch_uid="memory_console.cluster_cache")
