"""Time zones named by operators and their API's callers: an IANA name or nothing.

`ZoneInfo` refuses a bad name in more ways than one: ZoneInfoNotFoundError for an unknown one,
ValueError for a malformed one, and OSError for a name that is a folder of zones ("America") or
too long to be a file name. Each of those is a bad name, never a server error.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["named_zone"]


def named_zone(name: str) -> ZoneInfo | None:
    """The IANA zone `name`, or None when there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
