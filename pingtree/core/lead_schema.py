"""A lead checked against its vertical's schema (config/verticals.py): required fields, typed
attributes, allowed values. Part of the lead's validation (lead.py), which imports it."""

from __future__ import annotations

from datetime import datetime
from math import isfinite
from typing import TYPE_CHECKING, Any

from pingtree.core.errors import LeadInvalid

if TYPE_CHECKING:  # lead.py imports this module; config imports lead.py (PII_FIELDS)
    from pingtree.config.verticals import VerticalSchema
    from pingtree.core.lead import Lead

__all__ = ["BOOLEAN_WORDS", "apply_schema"]

# How a boolean may be written: in a lead's fields (lead.py) and in its vertical's attributes.
BOOLEAN_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def apply_schema(lead: Lead, schema: VerticalSchema | None) -> Lead:
    """The lead checked against its vertical's schema (config/verticals.py): required fields
    present, attributes of the declared type (text from a form becomes a number, boolean or
    date), values among those allowed. Raise LeadInvalid naming every bad field, as sent."""
    if schema is None:
        return lead
    fields: dict[str, str] = {}
    for name in schema.required:
        if getattr(lead, name) is None:
            fields[name] = f"is required for vertical {lead.vertical}"
    attributes = dict(lead.attributes)
    for name, spec in schema.attributes.items():
        value = attributes.get(name)
        if value is None or value == "":
            attributes.pop(name, None)
            if spec.required:
                fields[name] = f"is required for vertical {lead.vertical}"
            continue
        typed = _typed(value, spec.type)
        if typed is None:
            fields[name] = f"must be {_TYPE_WORDS[spec.type]}"
        elif spec.values is not None and not _allowed(typed, spec.values):
            fields[name] = "must be one of " + ", ".join(str(v) for v in spec.values)
        else:
            attributes[name] = typed
    if fields:
        raise LeadInvalid("the lead has invalid fields", fields=fields)
    return lead.model_copy(update={"attributes": attributes})


_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "date": "a date (YYYY-MM-DD or MM/DD/YYYY)",
}


def _typed(value: Any, kind: str) -> Any:
    """`value` as `kind`, or None when it is not one (a form sends every value as text)."""
    if kind == "string":
        return value if isinstance(value, str) else None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        return BOOLEAN_WORDS.get(value.strip().lower()) if isinstance(value, str) else None
    if kind == "date":
        return _iso_date(value) if isinstance(value, str) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", "")) if value.strip() else None
        except ValueError:
            return None
    if not isinstance(value, int | float) or (isinstance(value, float) and not isfinite(value)):
        return None
    if kind == "integer":
        return int(value) if float(value).is_integer() else None
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _iso_date(text: str) -> str | None:
    for pattern in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(text.strip(), pattern).date().isoformat()
        except ValueError:
            continue
    return None


def _allowed(value: Any, allowed: tuple[Any, ...]) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {str(v).strip().lower() for v in allowed}
    return value in allowed
