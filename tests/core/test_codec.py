"""The native buyer protocol (pingtree/codec.py), DESIGN §8: what a buyer's answer means.

Strict by design: the HTTP status never means acceptance by itself, and anything that does not say
`"accepted": true` in the expected shape is neither a bid nor a sale. To a post, a 2xx that says
neither `"accepted": true` nor `"accepted": false` is not a no either (v3): it is `post_unknown`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pytest

from pingtree.core.codec import (
    Accepted,
    Bid,
    Decline,
    Failure,
    Unknown,
    encode_ping,
    encode_post,
    parse_ping_answer,
    parse_post_answer,
    post_body,
)
from pingtree.core.lead import Lead, parse_lead
from pingtree.core.rules import BidLimits, bid_reason


def body(value: Any) -> bytes:
    return orjson.dumps(value)


def answer(story: str, status: int, raw: bytes | Any, expected: Any, *, marks: Any = ()) -> Any:
    """`raw` is the body as bytes, or a value to write as JSON; `expected` is the parsed answer,
    or the trace reason of a Failure ("http_error", "bad_response")."""
    data = raw if isinstance(raw, bytes) else body(raw)
    return pytest.param(status, data, expected, id=story, marks=marks)


POST_UNKNOWN = "post_unknown"  # a 2xx post answer that is neither a sale nor a no


def check(result: Any, expected: Any) -> None:
    if expected == POST_UNKNOWN:
        assert isinstance(result, Unknown), result
        assert result.status is not None and 200 <= result.status < 300
        assert result.detail.startswith(f"HTTP {result.status}, ")  # and says why
    elif isinstance(expected, str):
        assert isinstance(result, Failure), result
        assert result.reason == expected
        assert result.detail  # the trace says why, not only that
    else:
        assert result == expected


def bid_of(price: str, bid_id: str | None = None, expires_in_ms: float | None = None) -> Bid:
    return Bid(Decimal(price), bid_id, expires_in_ms)


# pings --------------------------------------------------------------------------------------------

LONG_REASON = "Quota Reached " * 30

PING_CASES = [
    answer(
        "the documented bid -> Bid $42.50, b_123, 60 s",
        200,
        {"accepted": True, "bid": 42.5, "bid_id": "b_123", "expires_in_ms": 60000},
        bid_of("42.50", "b_123", 60000),
    ),
    answer("bare bid, no id, no expiry", 200, {"accepted": True, "bid": 30}, bid_of("30.00")),
    answer(
        "201 Created with a bid -> any 2xx will do",
        201,
        {"accepted": True, "bid": 30},
        bid_of("30"),
    ),
    answer(
        "bid_id sent as a number -> kept as text",
        200,
        {"accepted": True, "bid": 30, "bid_id": 123},
        bid_of("30", "123"),
    ),
    answer(
        "bid_id empty -> none",
        200,
        {"accepted": True, "bid": 30, "bid_id": ""},
        bid_of("30"),
    ),
    answer(
        "bid_id true -> none",
        200,
        {"accepted": True, "bid": 30, "bid_id": True},
        bid_of("30"),
    ),
    answer(
        "expires_in_ms as a float",
        200,
        {"accepted": True, "bid": 30, "expires_in_ms": 1500.5},
        bid_of("30", None, 1500.5),
    ),
    answer(
        "expires_in_ms null -> no expiry",
        200,
        {"accepted": True, "bid": 30, "expires_in_ms": None},
        bid_of("30"),
    ),
    answer(
        "expires_in_ms as text '60000' -> bad_response",
        200,
        {"accepted": True, "bid": 30, "expires_in_ms": "60000"},
        "bad_response",
    ),
    answer(
        "expires_in_ms true -> bad_response",
        200,
        {"accepted": True, "bid": 30, "expires_in_ms": True},
        "bad_response",
    ),
    answer(
        "trailing newline after the JSON",
        200,
        b'{"accepted": true, "bid": 12.25}\n',
        bid_of("12.25"),
    ),
    answer(
        "$0 bid parses (the rules call it below_floor)",
        200,
        {"accepted": True, "bid": 0},
        bid_of("0"),
    ),
    answer(
        "negative bid parses (the rules call it below_floor)",
        200,
        {"accepted": True, "bid": -5},
        bid_of("-5"),
    ),
    # declines
    answer(
        "decline with a reason -> Decline('Quota Reached')",
        200,
        {"accepted": False, "reason": "Quota Reached"},
        Decline("Quota Reached"),
    ),
    answer("decline without a reason", 200, {"accepted": False}, Decline("declined")),
    answer(
        "decline with reason null", 200, {"accepted": False, "reason": None}, Decline("declined")
    ),
    answer("decline with reason ''", 200, {"accepted": False, "reason": ""}, Decline("declined")),
    answer(
        "decline with a numeric reason code 42",
        200,
        {"accepted": False, "reason": 42},
        Decline("42"),
    ),
    answer(
        "decline with an object reason -> generic",
        200,
        {"accepted": False, "reason": {"code": 7}},
        Decline("declined"),
    ),
    answer(
        "decline with a 420-character reason -> cut to 200",
        200,
        {"accepted": False, "reason": LONG_REASON},
        Decline(LONG_REASON[:200]),
    ),
    answer(
        "accepted false wins over a bid in the same body",
        200,
        {"accepted": False, "bid": 50, "reason": "Duplicate"},
        Decline("Duplicate"),
    ),
    # HTTP status
    answer(
        "500 with a perfect bid body -> http_error",
        500,
        {"accepted": True, "bid": 42.5},
        "http_error",
    ),
    answer("503 -> http_error", 503, b"Service Unavailable", "http_error"),
    answer("404 -> http_error", 404, b"Not Found", "http_error"),
    answer(
        "400 with a refusal body -> http_error",
        400,
        {"accepted": False, "reason": "bad zip"},
        "http_error",
    ),
    answer(
        "301 redirect -> http_error (redirects are not followed)",
        301,
        b"",
        "http_error",
    ),
    answer(
        "302 with a bid body -> http_error",
        302,
        {"accepted": True, "bid": 30},
        "http_error",
    ),
    answer("100 Continue -> http_error", 100, b"", "http_error"),
    # bodies that are not the protocol
    answer(
        "200 with an HTML error page -> bad_response",
        200,
        b"<html><body>Internal error</body></html>",
        "bad_response",
    ),
    answer("200 with an empty body -> bad_response", 200, b"", "bad_response"),
    answer("204 No Content -> bad_response", 204, b"", "bad_response"),
    answer("200 with only spaces -> bad_response", 200, b"   ", "bad_response"),
    answer("200 'OK' as plain text -> bad_response", 200, b"OK", "bad_response"),
    answer("truncated JSON -> bad_response", 200, b'{"accepted": true, "bid": 4', "bad_response"),
    answer(
        "UTF-8 BOM before the JSON -> bad_response",
        200,
        b'\xef\xbb\xbf{"accepted": true, "bid": 5}',
        "bad_response",
    ),
    answer(
        "a JSON array holding a bid -> bad_response",
        200,
        [{"accepted": True, "bid": 5}],
        "bad_response",
    ),
    answer('a JSON string "ok" -> bad_response', 200, "ok", "bad_response"),
    answer("JSON null -> bad_response", 200, None, "bad_response"),
    answer("JSON true -> bad_response", 200, True, "bad_response"),
    answer(
        "bid wrapped in an envelope -> bad_response",
        200,
        {"result": {"accepted": True, "bid": 30}},
        "bad_response",
    ),
    answer(
        'accepted "true" as a string -> bad_response',
        200,
        {"accepted": "true", "bid": 30},
        "bad_response",
    ),
    answer(
        "accepted 1 -> bad_response",
        200,
        {"accepted": 1, "bid": 30},
        "bad_response",
    ),
    answer(
        "accepted null -> bad_response",
        200,
        {"accepted": None, "bid": 30},
        "bad_response",
    ),
    answer(
        "no accepted at all, only a bid -> bad_response",
        200,
        {"bid": 30},
        "bad_response",
    ),
    answer(
        'accepted "false" as a string is no decline either -> bad_response',
        200,
        {"accepted": "false"},
        "bad_response",
    ),
    # the bid itself
    answer("accepted without a bid -> bad_response", 200, {"accepted": True}, "bad_response"),
    answer("bid null -> bad_response", 200, {"accepted": True, "bid": None}, "bad_response"),
    answer(
        'bid as text "42.50" -> bad_response',
        200,
        {"accepted": True, "bid": "42.50"},
        "bad_response",
    ),
    answer("bid true -> bad_response", 200, {"accepted": True, "bid": True}, "bad_response"),
    answer("bid as a list -> bad_response", 200, {"accepted": True, "bid": [30]}, "bad_response"),
    answer(
        "bid NaN (not JSON; orjson refuses) -> bad_response",
        200,
        b'{"accepted": true, "bid": NaN}',
        "bad_response",
    ),
    answer(
        "bid Infinity -> bad_response",
        200,
        b'{"accepted": true, "bid": Infinity}',
        "bad_response",
    ),
    answer(
        "bid -Infinity -> bad_response",
        200,
        b'{"accepted": true, "bid": -Infinity}',
        "bad_response",
    ),
    answer(
        "bid 1e400 overflows a double -> bad_response",
        200,
        b'{"accepted": true, "bid": 1e400}',
        "bad_response",
    ),
]


@pytest.mark.parametrize(("status", "raw", "expected"), PING_CASES)
def test_parse_ping_answer(status: int, raw: bytes, expected: Any) -> None:
    check(parse_ping_answer(status, raw), expected)


@pytest.mark.parametrize(
    ("raw_bid", "price"),
    [
        pytest.param(b"42.5", "42.50", id="42.5 -> 42.50"),
        pytest.param(b"42", "42.00", id="42 -> 42.00"),
        pytest.param(b"42.555", "42.56", id="42.555 -> 42.56 (half-up)"),
        pytest.param(b"42.125", "42.13", id="42.125 -> 42.13 (half-up, not banker's)"),
        pytest.param(b"42.554", "42.55", id="42.554 -> 42.55"),
        pytest.param(b"19.999", "20.00", id="19.999 -> 20.00"),
        pytest.param(b"0.005", "0.01", id="half a cent -> a cent"),
        pytest.param(b"0.004", "0.00", id="under half a cent -> $0 (then below_floor)"),
        pytest.param(b"1e2", "100.00", id="exponent notation 1e2 -> 100.00"),
        pytest.param(b"1e25", "10000000000000000000000000.00", id="1e25 -> exact to the cent"),
    ],
)
def test_bids_are_rounded_to_cents(raw_bid: bytes, price: str) -> None:
    result = parse_ping_answer(200, b'{"accepted": true, "bid": ' + raw_bid + b"}")
    assert isinstance(result, Bid), result
    assert str(result.price) == price


DEFAULT_LIMITS = BidLimits(floor=Decimal("0.01"), max_bid=Decimal("1000"), breakeven=None)


@pytest.mark.parametrize(
    "raw_bid",
    [
        pytest.param(b"1000.01", id="$1000.01"),
        pytest.param(b"1e25", id="1e25"),
        pytest.param(b"1e26", id="1e26"),
        pytest.param(b"123456789012345678901234567890", id="a 30-digit integer"),
        pytest.param(b"1e308", id="1e308"),
        pytest.param(b"1.7976931348623157e308", id="the largest double"),
    ],
)
def test_an_absurd_bid_parses_and_the_rules_call_it_above_max_bid(raw_bid: bytes) -> None:
    """DESIGN §3: anything outside floor..max_bid is a declined bid with a reason, not a crash."""
    result = parse_ping_answer(200, b'{"accepted": true, "bid": ' + raw_bid + b"}")
    assert isinstance(result, Bid), result
    assert bid_reason(result.price, DEFAULT_LIMITS, None, 0) == "above_max_bid"


# posts --------------------------------------------------------------------------------------------

POST_CASES = [
    answer(
        "the documented acceptance",
        200,
        {"accepted": True, "buyer_lead_id": "bl_9", "redirect_url": "https://a.example/thanks"},
        Accepted("bl_9", "https://a.example/thanks"),
    ),
    answer("accepted and nothing else", 200, {"accepted": True}, Accepted(None, None)),
    answer(
        "buyer_lead_id as a number -> text",
        200,
        {"accepted": True, "buyer_lead_id": 98765},
        Accepted("98765", None),
    ),
    answer(
        "plain http redirect is kept",
        200,
        {"accepted": True, "redirect_url": "http://a.example/thanks"},
        Accepted(None, "http://a.example/thanks"),
    ),
    answer(
        "javascript: redirect is dropped",
        200,
        {"accepted": True, "redirect_url": "javascript:alert(1)"},
        Accepted(None, None),
    ),
    answer(
        "ftp redirect is dropped",
        200,
        {"accepted": True, "redirect_url": "ftp://a.example/file"},
        Accepted(None, None),
    ),
    answer(
        "relative redirect is dropped",
        200,
        {"accepted": True, "redirect_url": "/thank-you"},
        Accepted(None, None),
    ),
    answer(
        "empty redirect is dropped",
        200,
        {"accepted": True, "redirect_url": ""},
        Accepted(None, None),
    ),
    answer(
        "numeric redirect is dropped",
        200,
        {"accepted": True, "redirect_url": 123},
        Accepted(None, None),
    ),
    answer(
        "redirect with a look-alike scheme 'httpx://' is dropped",
        200,
        {"accepted": True, "redirect_url": "httpx://evil.example/"},
        Accepted(None, None),
    ),
    answer(
        "redirect 'http-evil:payload' is dropped",
        200,
        {"accepted": True, "redirect_url": "http-evil:payload"},
        Accepted(None, None),
    ),
    answer(
        "200 refusal 'Quota Reached' -> Decline, not a sale",
        200,
        {"accepted": False, "reason": "Quota Reached"},
        Decline("Quota Reached"),
    ),
    answer(
        "200 refusal 'Duplicate' -> Decline",
        200,
        {"accepted": False, "reason": "Duplicate"},
        Decline("Duplicate"),
    ),
    answer("200 refusal without a reason", 200, {"accepted": False}, Decline("rejected")),
    answer(
        "200 {'status': 'success'} without accepted -> post_unknown: not a sale, not a no",
        200,
        {"status": "success"},
        POST_UNKNOWN,
    ),
    answer(
        "200 {'status': 'Quota Reached'} without accepted -> post_unknown, not a no",
        200,
        {"status": "Quota Reached"},
        POST_UNKNOWN,
    ),
    answer('200 plain "OK" -> post_unknown', 200, b"OK", POST_UNKNOWN),
    answer(
        "200 HTML thank-you page -> post_unknown",
        200,
        b"<html>Thank you!</html>",
        POST_UNKNOWN,
    ),
    answer("200 empty body -> post_unknown", 200, b"", POST_UNKNOWN),
    answer("204 No Content -> post_unknown", 204, b"", POST_UNKNOWN),
    answer("201 with an acceptance -> a sale", 201, {"accepted": True}, Accepted(None, None)),
    answer(
        'accepted "true" as a string -> post_unknown, not a sale',
        200,
        {"accepted": "true"},
        POST_UNKNOWN,
    ),
    answer('accepted "yes" -> post_unknown', 200, {"accepted": "yes"}, POST_UNKNOWN),
    answer(
        "JSON array with an acceptance -> post_unknown",
        200,
        [{"accepted": True}],
        POST_UNKNOWN,
    ),
    answer(
        "500 even with accepted true -> http_error",
        500,
        {"accepted": True, "buyer_lead_id": "bl_1"},
        "http_error",
    ),
    answer(
        "302 to a thank-you page -> http_error",
        302,
        b"",
        "http_error",
    ),
    answer(
        "422 with a refusal body -> http_error",
        422,
        {"accepted": False, "reason": "invalid phone"},
        "http_error",
    ),
]


@pytest.mark.parametrize(("status", "raw", "expected"), POST_CASES)
def test_parse_post_answer(status: int, raw: bytes, expected: Any) -> None:
    check(parse_post_answer(status, raw), expected)


# what pingtree sends ------------------------------------------------------------------------------


def make_lead(**fields: Any) -> Lead:
    return parse_lead(
        {
            "lead_id": "cs_lead_8f2a4b91",
            "vertical": "mva",
            "first_name": "Maria",
            "phone": "+13055551234",
            "email": "maria.gonzalez@example.com",
            "state": "FL",
            "zip": "33101",
            "tcpa_consent": True,
            "case_type": "mva",
            "injury_reported": True,
            **fields,
        }
    )


def test_encode_ping_is_the_json_object_it_was_given() -> None:
    ping = {
        "ping_id": "pg_1",
        "vertical": "mva",
        "state": "FL",
        "zip": "33101",
        "seller": "acme-media",
        "sub_id": None,
        "attributes": {"case_type": "mva", "injury_reported": True},
        "tcpa_consent": True,
        "has_trustedform": False,
        "test": False,
    }
    encoded = encode_ping(ping)
    assert isinstance(encoded, bytes)
    assert orjson.loads(encoded) == ping


@pytest.mark.parametrize(
    ("ping_id", "bid_id", "price"),
    [
        pytest.param("pg_1", "b_123", Decimal("42.50"), id="post after a bid"),
        pytest.param(None, None, Decimal("35"), id="post to a fixed-price buyer (no ping)"),
    ],
)
def test_post_body_is_the_full_lead_plus_the_ping_it_answers(
    ping_id: str | None, bid_id: str | None, price: Decimal
) -> None:
    lead = make_lead()
    sent = post_body(
        lead, lead_id="ld_01", seller_id="acme-media", ping_id=ping_id, bid_id=bid_id, price=price
    )
    assert sent["id"] == "ld_01"
    assert sent["lead_id"] == "cs_lead_8f2a4b91"
    assert sent["seller"] == "acme-media"
    assert sent.get("ping_id") == ping_id
    assert sent.get("bid_id") == bid_id
    assert sent["price"] == price
    # the winner gets the PII the pings never carried
    assert sent["phone"] == "+13055551234"
    assert sent["first_name"] == "Maria"
    assert sent["email"] == "maria.gonzalez@example.com"
    assert sent["vertical"] == "mva"
    assert sent["attributes"] == {"case_type": "mva", "injury_reported": True}
    assert "last_name" not in sent  # not sent by the seller: not invented as null


@pytest.mark.parametrize(
    ("price", "written"),
    [
        pytest.param(Decimal("42.50"), b'"price":42.50', id="42.50 stays 42.50"),
        pytest.param(Decimal("35"), b'"price":35', id="a whole-dollar fixed price"),
        pytest.param(Decimal("0.01"), b'"price":0.01', id="one cent"),
        pytest.param(Decimal("999.99"), b'"price":999.99', id="just under max_bid"),
    ],
)
def test_encode_post_writes_the_price_as_an_exact_json_number(
    price: Decimal, written: bytes
) -> None:
    sent = post_body(
        make_lead(),
        lead_id="ld_01",
        seller_id="acme-media",
        ping_id="pg_1",
        bid_id=None,
        price=price,
    )
    encoded = encode_post(sent)
    assert written in encoded
    assert orjson.loads(encoded)["phone"] == "+13055551234"


@pytest.mark.parametrize("name", ["mva-legal", "solar", "final-expense"])
def test_a_ping_body_serialized_once_gives_each_buyer_the_same_bytes(name: str) -> None:
    from pingtree.core.codec import PingBody
    from pingtree.core.lead import anonymize
    from tests.conftest import sample

    lead = parse_lead(sample(name))
    template = PingBody(anonymize(lead, seller_id="acme-media", ping_id="", pii=frozenset()))
    for ping_id in ("pg_01ABC", "pg_02XYZ"):
        expected = encode_ping(
            anonymize(lead, seller_id="acme-media", ping_id=ping_id, pii=frozenset())
        )
        assert template.with_ping_id(ping_id) == expected
