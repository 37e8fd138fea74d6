"""A database too busy to take a write answers 503 with a reason, not a server error.

SQLite (the embedded default) lets one connection write at a time; a write waits for the one in
progress (up to the busy timeout, SQLITE_BUSY_TIMEOUT, 20 s by default) and then fails with
"database is locked". CSV imports write in short steps and let others in between them (see
docs/ARCHITECTURE.md, "CSV import"), so this takes an unusually long write or a very slow disk.
PostgreSQL has no such wait: this only shows on SQLite.
"""

import contextlib

from django.db import OperationalError, connection
from django.http import JsonResponse
from django.shortcuts import render

RETRY_AFTER_SECONDS = 30
MESSAGE = (
    "The database is busy with another write and could not take this request's changes in time. On "
    "SQLite one write runs at a time. Try again in a moment (a deployment on PostgreSQL does not wait "
    "like this)."
)


def is_database_busy(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


@contextlib.contextmanager
def skipped_when_busy():
    """Run a write that may be left out (a last-used time) without waiting for SQLite's lock: if
    another connection holds it, the write is skipped at once. A plain `with` on PostgreSQL."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield  # in a transaction the lock is already held (IMMEDIATE), or a failure would break it
        return
    waits_ms = int(float(connection.settings_dict["OPTIONS"].get("timeout", 5)) * 1000)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 0")
    try:
        yield
    except OperationalError as exc:
        if not is_database_busy(exc):
            raise
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {waits_ms}")


def busy_api_response() -> JsonResponse:
    response = JsonResponse({"detail": MESSAGE}, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseBusyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_database_busy(exception):
            return None
        if request.path_info.startswith("/api/"):
            return busy_api_response()
        response = render(request, "503.html", {"message": MESSAGE}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
