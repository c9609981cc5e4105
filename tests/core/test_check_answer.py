"""A compliance check's answer → pass (with attributes), reject, or an error for its on_error
(pingtree/core/codec/response.py's read_check_answer). Rows are answers real services give,
read with the maps docs/checks.md shows: a TrustedForm-like claim and a Twilio Lookup-like
phone-type lookup."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pingtree.config.models.compliance import CheckResponse
from pingtree.core.codec import Decline, Failure
from pingtree.core.codec.response import CheckPassed, read_check_answer

CLAIM = CheckResponse.model_validate(
    {
        "accepted": {"path": "outcome", "values": ["success"]},
        "rejected": {"path": "outcome", "values": ["failure"]},
        "reason": {"path": "reason"},
        "attributes": {"age": {"path": "age"}, "page": {"path": "cert.page_url"}},
    }
)
LOOKUP = CheckResponse.model_validate(
    {
        "accepted": {"path": "valid", "values": [True]},
        "attributes": {
            "type": {"path": "line_type_intelligence.type"},
            "codes": {"path": "line_type_intelligence"},
        },
    }
)
SCRUB = CheckResponse.model_validate(
    {
        "format": "xml",
        "accepted": {"xpath": "result/@status", "values": ["clean"]},
        "rejected": {"xpath": "result/@status", "values": ["litigator", "dnc"]},
        "attributes": {"list": {"xpath": "result/list"}},
    }
)


def row(
    story: str, response: CheckResponse, raw: bytes | Any, expected: Any, status: int = 200
) -> Any:
    body = raw if isinstance(raw, bytes) else orjson.dumps(raw)
    return pytest.param(response, status, body, expected, id=story)


CASES = [
    row(
        "claimed -> passes with the certificate's age",
        CLAIM,
        {
            "outcome": "success",
            "reason": None,
            "age": 42,
            "cert": {"page_url": "https://a.example/"},
        },
        CheckPassed({"age": 42, "page": "https://a.example/"}),
    ),
    row(
        "claimed, no age in the answer -> passes without it",
        CLAIM,
        {"outcome": "success"},
        CheckPassed({}),
    ),
    row(
        "claim failed -> rejected, in the service's words",
        CLAIM,
        {"outcome": "failure", "reason": "no fingerprints matched", "age": 42},
        Decline("no fingerprints matched"),
    ),
    row(
        "claim error -> neither: an error for on_error",
        CLAIM,
        {"outcome": "error", "reason": "certificate not found"},
        ("bad_response", "unknown answer"),
    ),
    row("a 401 -> an error", CLAIM, {"outcome": "error"}, ("http_error", "HTTP 401"), status=401),
    row("an HTML page -> an error", CLAIM, b"<html>oops</html>", ("bad_response", "not JSON")),
    row("an empty 200 -> an error", CLAIM, b"", ("bad_response", "empty body")),
    row(
        "a valid mobile -> passes with its type (an object is no attribute)",
        LOOKUP,
        {"valid": True, "line_type_intelligence": {"type": "mobile"}},
        CheckPassed({"type": "mobile"}),
    ),
    row(
        "an invalid number -> rejected (no `rejected`: valid false is a no)",
        LOOKUP,
        {"valid": False, "line_type_intelligence": None},
        Decline("rejected"),
    ),
    row(
        "no `valid` at all -> an error",
        LOOKUP,
        {"code": 20404, "message": "not found"},
        ("bad_response", "unknown answer"),
    ),
    row(
        "XML clean -> passes with the list's name",
        SCRUB,
        b"<response><result status='clean'><list> none </list></result></response>",
        CheckPassed({"list": "none"}),
    ),
    row(
        "XML litigator -> rejected",
        SCRUB,
        b"<response><result status='litigator'/></response>",
        Decline("rejected"),
    ),
    row("not XML -> an error", SCRUB, b"{}", ("bad_response", "not XML")),
]


@pytest.mark.parametrize(("response", "status", "body", "expected"), CASES)
def test_read_check_answer(
    response: CheckResponse, status: int, body: bytes, expected: Any
) -> None:
    found = read_check_answer(response, response.attributes, status, body)
    if isinstance(expected, tuple):
        assert isinstance(found, Failure), found
        assert found.reason == expected[0] and found.detail.startswith(expected[1]), found
    else:
        assert found == expected
