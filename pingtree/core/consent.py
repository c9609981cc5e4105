"""Consent evidence (DESIGN §16): whether a lead carries what `consent: {require, max_age_s}`
demands. PURE: the lead, the rule and the moment of receipt in; what is wrong (or None) out.

The shapes enforced (docs/checks.md cites where they come from):
- a TrustedForm certificate URL is `https://cert.trustedform.com/` and 40 hexadecimal digits
  (ActiveProspect's claiming API is only ever called on URLs of that host, over https);
- a Jornaya LeadiD is 36 characters, hexadecimal digits grouped 8-4-4-4-12 by dashes (a GUID);
- `consent_timestamp` is at most `max_age_s` old when the lead is received (exactly `max_age_s`
  passes), and not more than FUTURE_SKEW_S ahead of the router's clock. A timestamp without a UTC
  offset is read as UTC.

What is wrong is said by field name, never by value: a certificate URL or a LeadiD replays the
consumer's form, and the detail lands in the trace, the ledger and the console.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pingtree.config.models.compliance import ConsentEvidence
from pingtree.core.lead import Lead

CONSENT_REASON = "consent_evidence"  # a rejected lead's reason (DESIGN §2's closed list)
FUTURE_SKEW_S = 60  # a seller's clock this far ahead of ours is tolerated, no further

_TRUSTEDFORM = re.compile(r"^https://cert\.trustedform\.com/[0-9a-fA-F]{40}$")
_JORNAYA = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_SHAPES = {
    "trustedform_url": (
        _TRUSTEDFORM,
        "is not a TrustedForm certificate URL (https://cert.trustedform.com/ then 40 hex digits)",
    ),
    "jornaya_leadid": (_JORNAYA, "is not a Jornaya LeadiD (hex digits grouped 8-4-4-4-12)"),
}
_FIELDS = {
    "trustedform": ("trustedform_url",),
    "jornaya": ("jornaya_leadid",),
    "any": ("trustedform_url", "jornaya_leadid"),
}


def consent_problem(lead: Lead, evidence: ConsentEvidence, received_at: datetime) -> str | None:
    """What the lead lacks of the evidence `evidence` asks for, in words for the trace; None when
    it has it all. `received_at` is the router's wall clock at receipt (timezone-aware)."""
    problem = _certificate_problem(lead, evidence.require)
    if problem is None and evidence.max_age_s is not None:
        problem = _age_problem(lead.consent_timestamp, evidence.max_age_s, received_at)
    return problem


def _certificate_problem(lead: Lead, require: str) -> str | None:
    """None when one of the fields `require` accepts holds a well-shaped value."""
    problems = []
    for name in _FIELDS[require]:
        value = getattr(lead, name)
        if value is None:
            problems.append(f"{name} is missing")
            continue
        shape, wrong = _SHAPES[name]
        if shape.match(value):
            return None
        problems.append(f"{name} {wrong}")
    return "; ".join(problems)


def _age_problem(timestamp: str | None, max_age_s: int, received_at: datetime) -> str | None:
    if timestamp is None:
        return "consent_timestamp is missing"
    given = datetime.fromisoformat(timestamp)  # the lead's own validator made it ISO 8601
    if given.tzinfo is None:
        given = given.replace(tzinfo=UTC)
    age_s = (received_at - given).total_seconds()
    if age_s > max_age_s:
        return f"consent_timestamp is {age_s:.0f} s old, over max_age_s ({max_age_s} s)"
    if -age_s > FUTURE_SKEW_S:
        return f"consent_timestamp is {-age_s:.0f} s ahead of the router's clock"
    return None


__all__ = ["CONSENT_REASON", "FUTURE_SKEW_S", "consent_problem"]
