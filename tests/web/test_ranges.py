"""The operator API's time ranges (web/ranges.py): `from`, `to` and `tz` as an operator writes
them, made [start, end) in UTC, and every bad one a 400 naming its parameter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pingtree.core.errors import BadRequest
from pingtree.web.ranges import time_range

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # still March 1st in New York


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("query", "default_days", "expected"),
    [
        # A report without dates: the last 7 days of the zone, today (the zone's) included.
        ({}, 7, (utc("2026-02-24T00:00"), utc("2026-03-03T00:00"))),
        (
            {"tz": "America/New_York"},
            7,
            (utc("2026-02-23T05:00"), utc("2026-03-02T05:00")),
        ),
        # A lead list without dates has no bounds.
        ({}, None, (None, None)),
        ({"from": "2026-03-01"}, None, (utc("2026-03-01T00:00"), None)),
        # Dates are the zone's midnights, across its DST change; `to` is exclusive.
        (
            {"from": "2026-03-08", "to": "2026-03-09", "tz": "America/New_York"},
            None,
            (utc("2026-03-08T05:00"), utc("2026-03-09T04:00")),
        ),
        # A time with an offset is that time whatever the zone; one without is the zone's.
        (
            {"from": "2026-03-01T10:30:00+01:00", "tz": "Asia/Tokyo"},
            None,
            (utc("2026-03-01T09:30"), None),
        ),
        ({"from": "2026-03-01T10:30:00Z"}, None, (utc("2026-03-01T10:30"), None)),
        (
            {"from": "2026-03-01T10:30:00", "tz": "Asia/Kolkata"},
            None,
            (utc("2026-03-01T05:00"), None),
        ),
        # The edges of the calendar, where they still have a UTC time.
        ({"to": "9999-12-31"}, None, (None, utc("9999-12-31T00:00"))),
    ],
)
def test_a_range_in_utc(
    query: dict[str, str],
    default_days: int | None,
    expected: tuple[datetime | None, datetime | None],
) -> None:
    assert time_range(query, NOW, default_days=default_days) == expected


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-02-30"}, "from"),
        ({"to": "2026-03-01T25:00:00Z"}, "to"),
        ({"tz": "Mars/Olympus"}, "tz"),
        # A folder of zones, and a name too long for a file: OSErrors of ZoneInfo (were 500s).
        ({"tz": "America"}, "tz"),
        ({"tz": "x" * 300}, "tz"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to"),
        ({"from": "2026-03-01", "to": "2026-03-01"}, "to"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "to"),  # more than 400 days
        # No UTC time at all: before year 1, after 9999 (once a 500).
        ({"from": "0001-01-01", "tz": "Asia/Tokyo"}, "from"),
        ({"to": "9999-12-31T23:00:00-10:00"}, "to"),
    ],
)
def test_a_bad_range_is_a_400_naming_its_parameter(query: dict[str, str], field: str) -> None:
    with pytest.raises(BadRequest) as refused:
        time_range(query, NOW, default_days=None)
    assert set(refused.value.fields) == {field}
