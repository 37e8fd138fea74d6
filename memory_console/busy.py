"""A database too busy to take a write answers 503 with a reason, not a server error.

SQLite (the embedded default) lets one connection write at a time. A CSV import writes its whole
file in one transaction, so while it runs every other write waits (up to the busy timeout, 20 s)
and then fails with "database is locked". PostgreSQL has no such wait: this only shows on SQLite.
"""

from django.db import OperationalError
from django.http import JsonResponse
from django.shortcuts import render

RETRY_AFTER_SECONDS = 30
MESSAGE = (
    "The database is busy with another write and could not take this one in time, so it was not "
    "applied. On SQLite one write runs at a time, and a CSV import holds the database until it "
    "finishes. Try again in a moment (a deployment on PostgreSQL does not wait like this)."
)


def is_database_busy(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "database is locked" in str(exc)


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
        if request.path.startswith("/api/"):
            return busy_api_response()
        response = render(request, "503.html", {"message": MESSAGE}, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
