"""The one rule for timestamps a client sends (event timestamps from the API today; any later path).

A timestamp is stored in UTC and must fall in **1900-01-01T00:00:00Z to 9999-12-30T23:59:59.999999Z**
after conversion to UTC. PostgreSQL would store ``9999-12-31T23:59:59-10:00`` (year 10000 in UTC),
but Python cannot read it back, so a profile holding it could never be shown again; and the console
shows times in the display time zone (`TIME_ZONE`, up to 14 hours ahead of UTC), so the upper bound
keeps a day short of Python's `datetime.max` to let every time zone show it. The lower bound keeps
out typing slips (year 0026 for 2026) and dates no customer event has. A timestamp without a UTC offset ("naive", e.g.
``2026-11-24T10:00:00``) is read as UTC, whatever the display time zone (`TIME_ZONE`) is.
"""

from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
RANGE_MESSAGE = "must be from 1900-01-01T00:00:00Z to 9999-12-30T23:59:59Z once converted to UTC"
FORMAT_MESSAGE = "must be a date and time (ISO 8601, e.g. 2026-11-24T10:00:00Z)"


class TimestampError(ValueError):
    """A timestamp that cannot be stored; `reason` reads after the field name ("must be ...")."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def timestamp_parse(value) -> datetime:
    """ISO 8601 text (``2026-11-24T10:00:00Z``, offset optional) as a `datetime`, naive if it had no
    offset; a `datetime` is returned as it is. No range check (`timestamp_clean` does that).

    Raises TimestampError(`FORMAT_MESSAGE`) for anything else, numbers included: a bare number
    could be seconds or milliseconds since 1970, so it is not guessed.
    """
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise TimestampError(FORMAT_MESSAGE)
    try:
        parsed = parse_datetime(value.strip())
    except ValueError:  # well formed but impossible, e.g. month 13 or offset +24:00
        parsed = None
    if parsed is None:
        raise TimestampError(FORMAT_MESSAGE)
    return parsed


def timestamp_clean(value) -> datetime:
    """`value` (a `datetime`, or ISO 8601 text) as an aware UTC `datetime`, or TimestampError.

    Naive values are read as UTC. Raises TimestampError(`FORMAT_MESSAGE`) for anything that is not
    a date and time, TimestampError(`RANGE_MESSAGE`) outside `EARLIEST` to `LATEST` in UTC.
    """
    value = timestamp_parse(value)
    if value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # the conversion leaves year 1 to 9999: e.g. 9999-12-31T23:59:59-10:00
        raise TimestampError(RANGE_MESSAGE) from None
    if not EARLIEST <= value <= LATEST:
        raise TimestampError(RANGE_MESSAGE)
    return value
