"""django-q2 schedules the apps install after every migrate (and flush), not as data migrations:
a flush (tests, `manage.py flush`) would delete those for good."""

from django.apps import apps as global_apps
from django.db import router


def schedule_ensure(*, apps=None, using: str = "default", name: str, func: str, minutes: int) -> None:
    """Create the schedule running `func` every `minutes` unless one for `func` exists (an
    operator's edits are kept). Only in the database that holds django-q2's tables: on SQLite that
    is the queue database (`migrate --database queue`; memory_console/routers.py), and the data
    database's migrate passes by."""
    Schedule = (apps or global_apps).get_model("django_q", "Schedule")
    if not router.allow_migrate_model(using, Schedule):
        return
    if not Schedule.objects.using(using).filter(func=func).exists():
        Schedule.objects.using(using).create(name=name, func=func, schedule_type="I", minutes=minutes, repeats=-1)
