"""`manage.py qcluster`: django-q2's worker cluster, started only when this process can do its work.

The same command as django-q2's (this app is listed before it in INSTALLED_APPS, so Django finds
this one), with one check first: IMPORTS_DIR must be the directory the web servers upload to
(imports.storage.uploads_dir_problem). A worker that cannot see the uploads would fail every import
it takes; it refuses to start instead, saying why (exit status 1).
"""

from django.core.management.base import CommandError
from django_q.management.commands.qcluster import Command as ClusterCommand

from imports.storage import uploads_dir_problem


class Command(ClusterCommand):
    def handle(self, *args, **options):
        problem = uploads_dir_problem()
        if problem:
            raise CommandError(problem)
        return super().handle(*args, **options)
