"""Consent evidence (pingtree/core/consent.py): a table of leads an operator would recognise,
each against a `consent:` rule, received at one fixed moment."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from pingtree.config.models.compliance import ConsentEvidence
from pingtree.core.consent import FUTURE_SKEW_S, consent_problem
from pingtree.core.lead import parse_lead

RECEIVED = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
HEX40 = "0f3c9a7e2b1d4c5e8a9b0c1d2e3f4a5b6c7d8e9f"
CERT = "https://cert.trustedform.com/" + HEX40
LEADID = "3C5E8A9B-0C1D-4E2F-9A3B-5C6D7E8F9A0B"


def lead(**fields: Any) -> Any:
    return parse_lead({"vertical": "mva", "phone": "+13055551234", **fields})


def rule(require: str, max_age_s: int | None = None) -> ConsentEvidence:
    return ConsentEvidence(require=require, max_age_s=max_age_s)  # type: ignore[arg-type]


def at(seconds_before: float) -> str:
    return datetime.fromtimestamp(RECEIVED.timestamp() - seconds_before, UTC).isoformat()


CASES = [
    # (rule, lead fields, None | a fragment of what the trace says is wrong)
    pytest.param(rule("trustedform"), {"trustedform_url": CERT}, None, id="certificate -> passes"),
    pytest.param(
        rule("trustedform"),
        {"trustedform_url": "https://cert.trustedform.com/" + HEX40.upper()},
        None,
        id="upper-case hex digits -> passes",
    ),
    pytest.param(rule("trustedform"), {}, "trustedform_url is missing", id="no certificate"),
    pytest.param(
        rule("trustedform"),
        {"trustedform_url": "https://cert.trustedform.com/0f3c9a7e2b1d4c5e"},
        "trustedform_url is not a trustedform certificate url",
        id="16 hex digits (too short) -> malformed",
    ),
    pytest.param(
        rule("trustedform"),
        {"trustedform_url": CERT.replace("https://", "http://")},
        "not a trustedform certificate url",
        id="http, not https -> malformed",
    ),
    pytest.param(
        rule("trustedform"),
        {
            "trustedform_url": CERT.replace(
                "cert.trustedform.com", "cert.trustedform.com.evil.example"
            )
        },
        "not a trustedform certificate url",
        id="another host -> malformed",
    ),
    pytest.param(
        rule("trustedform"),
        {"trustedform_url": CERT[:-1] + "g"},
        "not a trustedform certificate url",
        id="a letter past f -> malformed",
    ),
    pytest.param(
        rule("trustedform"),
        {"jornaya_leadid": LEADID},
        "trustedform_url is missing",
        id="a LeadiD where a certificate is required",
    ),
    pytest.param(rule("jornaya"), {"jornaya_leadid": LEADID}, None, id="LeadiD -> passes"),
    pytest.param(
        rule("jornaya"), {"jornaya_leadid": LEADID.lower()}, None, id="lower-case LeadiD -> passes"
    ),
    pytest.param(
        rule("jornaya"),
        {"jornaya_leadid": LEADID.replace("-", "")},
        "jornaya_leadid is not a jornaya leadid",
        id="LeadiD without its dashes -> malformed",
    ),
    pytest.param(rule("jornaya"), {}, "jornaya_leadid is missing", id="no LeadiD"),
    pytest.param(rule("any"), {"trustedform_url": CERT}, None, id="any: a certificate"),
    pytest.param(rule("any"), {"jornaya_leadid": LEADID}, None, id="any: a LeadiD"),
    pytest.param(
        rule("any"),
        {"trustedform_url": "https://example.com/cert", "jornaya_leadid": LEADID},
        None,
        id="any: a malformed certificate beside a good LeadiD",
    ),
    pytest.param(
        rule("any"), {}, "trustedform_url is missing; jornaya_leadid is missing", id="any: neither"
    ),
    pytest.param(
        rule("trustedform", 600),
        {"trustedform_url": CERT, "consent_timestamp": at(600)},
        None,
        id="age exactly max_age_s -> passes",
    ),
    pytest.param(
        rule("trustedform", 600),
        {"trustedform_url": CERT, "consent_timestamp": at(601)},
        "consent_timestamp is 601 s old",
        id="one second past max_age_s",
    ),
    pytest.param(
        rule("trustedform", 600),
        {"trustedform_url": CERT},
        "consent_timestamp is missing",
        id="max_age_s and no timestamp",
    ),
    pytest.param(
        rule("trustedform", 600),
        {"trustedform_url": CERT, "consent_timestamp": at(-FUTURE_SKEW_S)},
        None,
        id="ahead by the tolerated skew -> passes",
    ),
    pytest.param(
        rule("trustedform", 600),
        {"trustedform_url": CERT, "consent_timestamp": at(-FUTURE_SKEW_S - 5)},
        "ahead of the router's clock",
        id="in the future past the skew",
    ),
    pytest.param(
        rule("trustedform", 600),
        {"trustedform_url": CERT, "consent_timestamp": "2026-03-01T11:55:00"},
        None,
        id="no UTC offset: read as UTC (5 minutes old)",
    ),
    pytest.param(
        rule("trustedform", 600),
        {"trustedform_url": CERT, "consent_timestamp": "2026-03-01T06:55:00-05:00"},
        None,
        id="an offset of its own (5 minutes old)",
    ),
    pytest.param(
        rule("trustedform", 600),
        {"trustedform_url": "nope", "consent_timestamp": at(9999)},
        "not a trustedform certificate url",
        id="malformed and old: the certificate is named first",
    ),
    pytest.param(
        rule("any", 60),
        {"jornaya_leadid": LEADID, "consent_timestamp": at(61)},
        "61 s old",
        id="any with an age: a LeadiD too old",
    ),
]


@pytest.mark.parametrize(("evidence", "fields", "expected"), CASES)
def test_consent_problem(
    evidence: ConsentEvidence, fields: dict[str, Any], expected: str | None
) -> None:
    found = consent_problem(lead(**fields), evidence, RECEIVED)
    if expected is None:
        assert found is None
        return
    assert found is not None and expected.lower() in found.lower()
    for value in (CERT, LEADID, CERT[-40:]):  # what is wrong is said by name, never by value
        assert value.lower() not in found.lower()


@pytest.mark.parametrize(
    "given",
    [{"require": "tcpa"}, {"require": "any", "max_age_s": 0}, {"max_age_s": 60}],
    ids=["unknown kind", "max_age_s of zero", "require missing"],
)
def test_a_consent_rule_that_means_nothing_is_refused(given: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ConsentEvidence.model_validate(given)
