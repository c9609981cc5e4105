"""The typed transforms of a field mapping (config.dialect.TRANSFORMS): one value in, one out.

PURE. A value a transform cannot handle raises `MappingError` naming the field and the
transform, never the value: the value may be a consumer's phone or birth date, and the error ends
up in a trace.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pingtree.core.errors import PingtreeError
from pingtree.core.us_states import STATE_NAMES, state_code


class MappingError(PingtreeError):
    """A field's value could not be mapped to what the buyer wants. Never carries the value."""

    code = "mapping_error"

    def __init__(self, field_to: str, detail: str) -> None:
        super().__init__(f"{field_to}: {detail}")
        self.field_to = field_to


def text_of(value: Any) -> str:
    """A value as the buyer reads it in text: booleans as true/false, Decimals exactly ("12.50"),
    floats in their shortest form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


# The words a seller may send for a boolean (lead.py accepts the same for tcpa_consent and test).
_TRUE_WORDS = frozenset({"true", "yes", "1"})
_FALSE_WORDS = frozenset({"false", "no", "0"})


def _truth(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return None


def _national(value: Any) -> str | None:
    """A NANP number's ten digits, from E.164 (+13055551234) or any punctuation of it."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return None
    digits = re.sub(r"\D", "", str(value))
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits if len(digits) == 10 else None


def _phone(style: str, value: Any) -> str | None:
    if style == "e164" and isinstance(value, str) and re.fullmatch(r"\+[1-9]\d{6,14}", value):
        return value  # the lead's phone is already E.164, whatever its country
    national = _national(value)
    if national is None:
        return None
    area, exchange, line = national[:3], national[3:6], national[6:]
    return {
        "e164": f"+1{national}",
        "10": national,
        "us": f"({area}) {exchange}-{line}",
        "dashes": f"{area}-{exchange}-{line}",
    }[style]


def _state(style: str, value: Any) -> str | None:
    code = state_code(value) if isinstance(value, str) else None
    if code is None:
        return None
    return STATE_NAMES[code] if style == "name" else code


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if not isinstance(value, str):
        return None
    try:  # ISO 8601, with Z for UTC (the lead keeps consent_timestamp with its own offset)
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None


def _title(value: str) -> str:
    # str.title() makes "3rd" "3Rd" and "don't" "Don'T": capitalize word starts only, and the
    # letter after a one-letter prefix with an apostrophe (O'Brien, D'Angelo).
    lowered = value.lower()
    titled = re.sub(r"(^|[\s-])([^\W\d_])", lambda m: m.group(1) + m.group(2).upper(), lowered)
    return re.sub(r"(?<![\w'])([^\W\d_])'([^\W\d_])", lambda m: m.group(0).upper(), titled)


def email_domain(value: Any) -> str | None:
    """The domain of an email address, lower-case: `Jane@Example.COM` → `example.com`; None for
    anything that is not an address (no `@`, nothing on either side of it)."""
    if not isinstance(value, str):
        return None
    local, at, domain = value.strip().rpartition("@")
    domain = domain.rstrip(".").lower()
    if not (at and local and domain) or any(c.isspace() for c in domain):
        return None
    return domain


def _number(value: Any) -> int | Decimal | None:
    """A number for a JSON body: ints stay ints, everything else an exact Decimal."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", text):
        text = text.replace(",", "")
    if not re.fullmatch(r"-?(\d+(\.\d*)?|\.\d+)", text):
        return None  # no exponents, no NaN, no "12 apples"
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        return None


_BOOLEAN_WORDS = {
    "yes/no": ("yes", "no"),
    "Yes/No": ("Yes", "No"),
    "1/0": ("1", "0"),
    "true/false": ("true", "false"),
}


def _simple(spec: str) -> Callable[[Any], Any] | None:
    """The transforms without an argument after their name, by spec."""
    name, _, style = spec.partition(":")
    if name == "phone":
        return lambda value: _phone(style, value)
    if name == "state":
        return lambda value: _state(style, value)
    if name == "bool" and style in _BOOLEAN_WORDS:
        yes, no = _BOOLEAN_WORDS[style]

        def boolean(value: Any) -> str | None:
            truth = _truth(value)
            return None if truth is None else yes if truth else no

        return boolean
    return {
        "upper": lambda value: text_of(value).upper(),
        "lower": lambda value: text_of(value).lower(),
        "title": lambda value: _title(text_of(value)),
        "string": text_of,
        "number": _number,
        "email_domain": email_domain,
    }.get(spec)


def apply(value: Any, spec: str, *, field: str = "(field)") -> Any:
    """`value` changed by the transform `spec` (`phone:10`, `date:%m/%d/%Y`, `truncate:20`…).

    Booleans come out as text ("1", "yes"): follow with `number` for a JSON 1/0. Dates and
    datetimes keep the offset they were given (no time zone is converted). Raises MappingError
    naming `field` and the transform when the value is not something the transform can read.
    """
    name, _, argument = spec.partition(":")
    if name in ("date", "datetime"):
        moment = _as_datetime(value)
        if moment is None:
            raise MappingError(field, f"{spec}: the value is not an ISO {name}")
        try:
            return moment.strftime(argument)
        except ValueError:  # a year before 1000 on some platforms, a bad directive
            raise MappingError(field, f"{spec}: the pattern cannot format this {name}") from None
    if name == "truncate":
        return text_of(value)[: int(argument)]
    transform = _simple(spec)
    if transform is None:
        raise MappingError(field, f"unknown transform {spec!r}")
    result = transform(value)
    if result is None:
        raise MappingError(field, f"{spec}: {_EXPECTED.get(name, 'cannot read the value')}")
    return result


_EXPECTED = {
    "phone": "the value is not a phone number in that form",
    "state": "the value is not a US state code or name",
    "bool": "the value is not a boolean (true/false, yes/no, 1/0)",
    "number": "the value is not a number",
    "email_domain": "the value is not an email address",
}


__all__ = ["MappingError", "apply", "email_domain", "text_of"]
