"""An expected 403 (the access rules refusing a Support member's change) is logged on one line,
with its reason, not with a traceback; other records keep theirs."""

import logging
import sys

from django.urls import reverse

from memory_console.logfilters import ExpectedForbidden


def test_a_refused_change_logs_one_line_with_its_reason(support_client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = support_client.post(reverse("accounts:api_key_create"), {"name": "Sneaky", "scope": "full"})
    assert response.status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    text = logging.Formatter().format(record)
    assert text == (
        "Forbidden (Permission denied): /api-keys/new/ (Support members have read-only access. Ask an administrator.)"
    )
    assert record.levelno == logging.WARNING and "\n" not in text


def test_other_errors_keep_their_traceback():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s", ("/x",), sys.exc_info()
        )
    record.status_code = 500
    assert ExpectedForbidden().filter(record)
    assert "Traceback" in logging.Formatter().format(record) and "RuntimeError: boom" in logging.Formatter().format(
        record
    )
