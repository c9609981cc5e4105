"""Query parameters the operator API shares: a time range in a zone (`from`, `to`, `tz`), a page
size, the filters of a lead list or a report. Every bad value is a 400 naming its parameter."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pingtree.core.errors import BadRequest
from pingtree.core.zones import named_zone
from pingtree.ledger.base import Filters

ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"  # a filter's id (seller, buyer, vertical…)
DEFAULT_LIMIT, MAX_LIMIT = 50, 500  # a page's size
_ID = re.compile(ID_PATTERN)
_STATUSES = ("sold", "unsold", "rejected", "pending")
_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no", ""}


def zone(text: str | None) -> ZoneInfo:
    """An IANA zone name (default UTC)."""
    found = named_zone(text or "UTC")
    if found is None:
        detail = "an IANA time zone, e.g. America/New_York"
        raise BadRequest("bad tz", fields={"tz": detail})
    return found


def instant(name: str, text: str, tz: ZoneInfo) -> datetime:
    """An ISO date (its midnight in `tz`) or an RFC 3339 time (in `tz` when it has no offset),
    in UTC."""
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(), tzinfo=tz)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        # In UTC here: a time at the edge of year 1 or 9999 may have none (OverflowError).
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadRequest(
            f"bad {name}", fields={name: "an ISO date (2026-12-01) or RFC 3339 time"}
        ) from None


def time_range(
    query: Mapping[str, str], now: datetime, *, default_days: int | None, max_days: int = 400
) -> tuple[datetime | None, datetime | None]:
    """[from, to) in UTC. Without `from`: the last `default_days` calendar days in `tz`, today
    included (None: no lower bound); without `to`: the end of today in `tz` (or no bound)."""
    tz = zone(query.get("tz"))
    start = instant("from", query["from"], tz) if query.get("from") else None
    end = instant("to", query["to"], tz) if query.get("to") else None
    if default_days is not None:
        today = datetime.combine(now.astimezone(tz).date(), time(), tzinfo=tz)
        start = start or today - timedelta(days=default_days - 1)
        end = end or today + timedelta(days=1)
    if start is not None and end is not None:
        if end <= start:
            raise BadRequest("empty range", fields={"to": "must be after from"})
        if end - start > timedelta(days=max_days):
            raise BadRequest("range too long", fields={"to": f"at most {max_days} days"})
    return (
        start.astimezone(UTC) if start is not None else None,
        end.astimezone(UTC) if end is not None else None,
    )


def limit(text: str | None, *, default: int = DEFAULT_LIMIT, most: int = MAX_LIMIT) -> int:
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= most:
        raise BadRequest("bad limit", fields={"limit": f"a whole number from 1 to {most}"})
    return int(text)


def filters(query: Mapping[str, str]) -> Filters:
    """status, seller, buyer, vertical, sub_id, state (two letters), reason, test (true: test
    leads)."""
    values: dict[str, str | None] = {}
    for name in ("seller", "buyer", "vertical", "sub_id", "state", "reason"):
        text = query.get(name) or None
        if text is not None and not _ID.match(text):
            raise BadRequest(f"bad {name}", fields={name: "an id: letters, digits and ._:-"})
        values[name] = text
    state = values["state"]
    if state is not None:
        values["state"] = state.upper()
    status = query.get("status") or None
    if status is not None and status not in _STATUSES:
        raise BadRequest("bad status", fields={"status": f"one of {', '.join(_STATUSES)}"})
    test = (query.get("test") or "").lower()
    if test not in _TRUE | _FALSE:
        raise BadRequest("bad test", fields={"test": "true or false"})
    return Filters(status=status, test=test in _TRUE, **values)


__all__ = [
    "DEFAULT_LIMIT",
    "ID_PATTERN",
    "MAX_LIMIT",
    "filters",
    "instant",
    "limit",
    "time_range",
    "zone",
]
