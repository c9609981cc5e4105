"""PII as a viewer sees it (DESIGN §13: an admin sees a lead's PII, a viewer sees it masked):
enough to tell two consumers apart on a call with support, not enough to contact either.

    email    john@example.com   j***@e***.com     first letters of name and domain, the TLD
    phone    +13055550123       +1******0123      the country code and the last four digits
    other    John, 12 Main St   J***, 1***        the first character
             a number, a bool   ***

`mask(name, value)` masks the value of the lead's field `name` (a phone and an email by their
field, whatever their spelling; anything else by its shape); `mask_value(value)` by its shape
alone. PURE: a value in, its masked form out; None stays None (nothing to hide)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_E164 = re.compile(r"^\+\d{8,15}$")
_STARS = "***"


def mask(name: str, value: Any) -> Any:
    """The value of the lead's field `name`, masked for a viewer."""
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if name == "email":
            return _masked_email(text)
        if name == "phone":
            return _masked_phone(text)
    return mask_value(value)


def mask_value(value: Any) -> Any:
    """`value` masked by its shape: an email, an E.164 phone, or any other text or value."""
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
        return _masked_phone(text)
    return text[0] + _STARS


def masked(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Every value of a lead's PII (`LeadRecord.pii`) masked, its field names kept."""
    return {name: mask(name, value) for name, value in fields.items()}


def _masked_phone(text: str) -> str:
    if len(text) <= 6:
        return _STARS
    return text[:2] + "*" * (len(text) - 6) + text[-4:]


def _masked_email(text: str) -> str:
    local, at, domain = text.rpartition("@")
    if not at:  # no @ at all: nothing of it reads as an address
        return text[0] + _STARS
    head, dot, tld = domain.rpartition(".")
    if not dot:  # no dot in the domain: nothing to keep of it
        head, tld = domain, ""
    shown_local = local[:1] + _STARS
    shown_domain = (head[:1] + _STARS) if head else _STARS
    return f"{shown_local}@{shown_domain}{'.' + tld if tld else ''}"


__all__ = ["mask", "mask_value", "masked"]
