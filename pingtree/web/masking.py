"""PII as a viewer sees it (DESIGN §13: an admin sees a lead's PII, a viewer sees it masked):
enough to tell two consumers apart on a call with support, not enough to contact either.

    john@example.com   j***@e***.com     the first letter of the name and of the domain, the TLD
    +13055550123       +1******0123      the country code and the last four digits
    John, 12 Main St   J***, 1***        the first character
    anything else      ***               (a number, a date given as one, true/false)

PURE: a value in, its masked form out; None stays None (nothing to hide)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_E164 = re.compile(r"^\+\d{8,15}$")
_STARS = "***"


def mask(value: Any) -> Any:
    """`value` masked for a viewer (the module's table)."""
    if value is None:
        return None
    if not isinstance(value, str):
        return _STARS
    text = value.strip()
    if not text:
        return ""
    if "@" in text:
        return _masked_email(text)
    if _E164.match(text):
        return text[:2] + "*" * (len(text) - 6) + text[-4:]
    return text[0] + _STARS


def masked(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Every value of a lead's PII (`LeadRecord.pii`) masked, its field names kept."""
    return {name: mask(value) for name, value in fields.items()}


def _masked_email(text: str) -> str:
    local, _, domain = text.rpartition("@")
    head, dot, tld = domain.rpartition(".")
    if not dot:  # no dot in the domain: nothing to keep of it
        head, tld = domain, ""
    shown_local = local[:1] + _STARS
    shown_domain = (head[:1] + _STARS) if head else _STARS
    return f"{shown_local}@{shown_domain}{'.' + tld if tld else ''}"


__all__ = ["mask", "masked"]
