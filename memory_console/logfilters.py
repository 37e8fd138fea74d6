"""Logging filters (wired in `settings.LOGGING`)."""

import logging

from django.core.exceptions import PermissionDenied


class ExpectedForbidden(logging.Filter):
    """One line for an expected 403 on ``django.request``.

    A refusal by the console's access rules (a Support member trying a change, a user of no account)
    raises `PermissionDenied`, which Django logs with its full traceback: noise for what is the
    rules working. The record keeps its level (WARNING) and becomes, on one line,
    ``Forbidden (Permission denied): /api-keys/new/ (Support members have read-only access. ...)``.
    Any other record passes unchanged (a 500 keeps its traceback).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, PermissionDenied) and getattr(record, "status_code", None) == 403:
            message = record.getMessage()
            reason = " ".join(str(exc).split())
            record.msg, record.args = (f"{message} ({reason})" if reason else message), ()
            record.exc_info = record.exc_text = None
        return True
