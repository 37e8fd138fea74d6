"""The one timestamp rule (memory_console/timestamps.py): UTC, 1900-01-01 to 9999-12-30, naive read as UTC."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from memory_console.timestamps import FORMAT_MESSAGE, RANGE_MESSAGE, TimestampError, timestamp_clean


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-24T10:00:00Z", datetime(2026, 11, 24, 10, tzinfo=UTC)),
        ("2026-11-24T10:00:00", datetime(2026, 11, 24, 10, tzinfo=UTC)),  # naive: UTC
        ("2026-11-24 12:00:00+02:00", datetime(2026, 11, 24, 10, tzinfo=UTC)),
        (datetime(2026, 11, 24, 10), datetime(2026, 11, 24, 10, tzinfo=UTC)),
        (datetime(1900, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))), datetime(1900, 1, 1, tzinfo=UTC)),
        ("9999-12-30T23:59:59.999999Z", datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)),
        ("9999-12-31T09:59:59+10:00", datetime(9999, 12, 30, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_timestamps_in_range_come_back_in_utc(value, expected):
    cleaned = timestamp_clean(value)
    assert cleaned == expected
    assert cleaned.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:59:59-10:00",
        "9999-12-31T00:00:00Z",  # a day short of datetime.max, so every display time zone can show it
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-2))),
        "0001-01-01T00:00:00+01:00",
        "1899-12-31T23:59:59.999999Z",
        datetime(1900, 1, 1, tzinfo=timezone(timedelta(minutes=1))),
    ],
)
def test_timestamps_outside_the_range_are_refused(value):
    with pytest.raises(TimestampError) as info:
        timestamp_clean(value)
    assert info.value.reason == RANGE_MESSAGE


@pytest.mark.parametrize("value", ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-24T10:00:00+24:00", 17, []])
def test_what_is_not_a_date_and_time_is_refused(value):
    with pytest.raises(TimestampError) as info:
        timestamp_clean(value)
    assert info.value.reason == FORMAT_MESSAGE
