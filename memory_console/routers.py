"""Database routing: django-q2's tables in a database of their own, when there is one.

On SQLite the settings add a `queue` database (a file beside the data file; settings.py,
`sqlite_queue_name`) and this router sends everything of the `django_q` app there: its reads and
writes (queue, task results, schedules) and its migrations, while every other app stays off it. Every
write to the data file (an import's steps, anyone's write) holds its lock for a moment; with the
queue in another file, queueing a task and recording a result never wait for it. Without a `queue` database
(PostgreSQL) the router says nothing and everything is in `default`.
"""

from django.conf import settings

QUEUE_APP = "django_q"


def queue_database() -> str | None:
    """The alias of django-q2's own database, or None when its tables are in `default`."""
    alias = getattr(settings, "QUEUE_DATABASE", None)
    return alias if alias in settings.DATABASES else None


class QueueRouter:
    def _route(self, model) -> str | None:
        return queue_database() if model._meta.app_label == QUEUE_APP else None

    def db_for_read(self, model, **hints):
        return self._route(model)

    def db_for_write(self, model, **hints):
        return self._route(model)

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        queue = queue_database()
        if queue is None:
            return None
        if app_label == QUEUE_APP:
            return db == queue
        return False if db == queue else None
