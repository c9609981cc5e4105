"""The one JSON codec: orjson, with Decimal written as a JSON number (not a string, not a float)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # A Fragment is written verbatim: 12.50 stays exactly 12.50, no float round trip.
        return orjson.Fragment(format(value, "f"))
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def dumps_sorted(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=_OPTIONS | orjson.OPT_SORT_KEYS)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


JSONDecodeError = orjson.JSONDecodeError
JSONEncodeError = orjson.JSONEncodeError
