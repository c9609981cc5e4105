"""A buyer's answer in its own dialect → what it means (pingtree/codec/response.py, locate.py).

Every row is an answer a real buyer gives. The rule under them all: an answer the map cannot place
is a Failure quoting the start of the body, never a bid and never a sale; to a post, a 2xx the map
cannot place is not a no either (DESIGN §8, v3): it is Unknown, `post_unknown`.
"""

from __future__ import annotations

import socket
from decimal import Decimal
from typing import Any

import orjson
import pytest

from pingtree.config.dialect_response import ResponseMap
from pingtree.core.codec import (
    Accepted,
    Bid,
    Decline,
    Failure,
    Unknown,
    parse_ping_answer,
    parse_post_answer,
    read_ping_answer,
    read_post_answer,
)
from pingtree.core.codec.response import read_price, snippet


def answer(story: str, raw: bytes | Any, expected: Any, *, status: int = 200) -> Any:
    """`raw`: the body, or a value written as JSON. `expected`: the answer, or for a Failure
    (reason, the start of its detail)."""
    data = raw if isinstance(raw, bytes) else orjson.dumps(raw)
    return pytest.param(status, data, expected, id=story)


def check(result: Any, expected: Any) -> None:
    if isinstance(expected, tuple) and expected[0] == "post_unknown":
        assert isinstance(result, Unknown), result
        assert result.status == 200 and result.detail.startswith(expected[1]), result
    elif isinstance(expected, tuple):
        reason, detail = expected
        assert isinstance(result, Failure), result
        assert (result.reason, result.detail[: len(detail)]) == (reason, detail), result
    else:
        assert result == expected
        if isinstance(expected, Decline):
            assert result.code == expected.code


def bid(price: str, bid_id: str | None = None, expires: float | None = None, **carried: str) -> Bid:
    return Bid(Decimal(price), bid_id, expires, carried)


UNKNOWN = "bad_response", "unknown answer: "
POST_UNKNOWN = "post_unknown", "HTTP 200, unknown answer: "
NO_PRICE = "bad_response", "accepted without a readable price"

# JSON ---------------------------------------------------------------------------------------------

JSON_PING = ResponseMap.model_validate(
    {
        "format": "json",
        "accepted": {"path": "status", "values": ["ok", "accepted"]},
        "rejected": {"path": "status", "values": ["rejected", "no_bid"]},
        "duplicate": {"path": "status", "values": ["duplicate"]},
        "price": {"path": "data.price"},
        "bid_id": {"path": "data.id"},
        "reason": {"path": "message"},
        "expires_in_ms": {"path": "data.ttl"},
        "carry": {"token": {"path": "data.token"}, "slot": {"path": "data.slots.0"}},
    }
)


def ok(price: Any, **data: Any) -> dict[str, Any]:
    return {"status": "ok", "data": {"price": price, **data}}


JSON_PING_CASES = [
    answer("a number price", ok(12.5), bid("12.50")),
    answer("a whole number price", ok(30), bid("30.00")),
    answer('"12.50"', ok("12.50"), bid("12.50")),
    answer('"$12.50"', ok("$12.50"), bid("12.50")),
    answer('"12.50 USD"', ok("12.50 USD"), bid("12.50")),
    answer('"1,250.00"', ok("1,250.00"), bid("1250.00")),
    answer('" $ 7 "', ok(" $ 7 "), bid("7.00")),
    answer("12.345 rounds half-up to 12.35", ok(12.345), bid("12.35")),
    answer("$0 parses (the rules call it below_floor)", ok(0), bid("0.00")),
    answer("a negative number is no price", ok(-5), NO_PRICE),
    answer('"-5.00" is no price', ok("-5.00"), NO_PRICE),
    answer('"free" is no price', ok("free"), NO_PRICE),
    answer('"" is no price', ok(""), NO_PRICE),
    answer('"NaN" is no price', ok("NaN"), NO_PRICE),
    answer('"Infinity" is no price', ok("Infinity"), NO_PRICE),
    answer('"12,50" (a decimal comma) is not guessed at', ok("12,50"), NO_PRICE),
    answer("true is no price", ok(True), NO_PRICE),
    answer("null price", ok(None), NO_PRICE),
    answer("no price at all", {"status": "ok"}, NO_PRICE),
    answer("a list price", ok([12]), NO_PRICE),
    answer(
        "bid id, expiry, carried values",
        ok(20, id=991, ttl=60000, token="tok-1", slots=[3, 4]),
        bid("20.00", "991", 60000, token="tok-1", slot="3"),
    ),
    answer("expiry as text", ok(20, ttl="1500"), bid("20.00", None, 1500)),
    answer("expiry as a fraction", ok(20, ttl=1500.5), bid("20.00", None, 1500.5)),
    answer(
        "expiry that is no number",
        ok(20, ttl="soon"),
        ("bad_response", "'expires_in_ms' is not a number"),
    ),
    answer("expiry 1e999999999", ok(20, ttl="1e999999999"), ("bad_response", "'expires_in_")),
    answer("an empty bid id is none", ok(20, id=""), bid("20.00")),
    answer("a carried number is text", ok(20, token=123), bid("20.00", token="123")),
    answer("a carried object is left out", ok(20, token={"a": 1}), bid("20.00")),
    answer("status in another case, spaced", {"status": " OK ", "data": {"price": 9}}, bid("9")),
    answer(
        "the second accepting word",
        {"status": "accepted", "data": {"price": 9}},
        bid("9"),
    ),
    # no
    answer(
        "rejected with a reason",
        {"status": "rejected", "message": "Quota Reached"},
        Decline("Quota Reached"),
    ),
    answer("rejected without a reason", {"status": "no_bid"}, Decline("declined")),
    answer(
        "a reason is trimmed and cut to 200",
        {"status": "rejected", "message": "  " + "x" * 300},
        Decline("x" * 200),
    ),
    answer(
        "duplicate -> declined, code duplicate",
        {"status": "duplicate", "message": "seen 3 days ago"},
        Decline("seen 3 days ago", code="duplicate"),
    ),
    answer(
        "duplicate without a reason",
        {"status": "Duplicate"},
        Decline("duplicate", code="duplicate"),
    ),
    # neither
    answer("a status the map does not list", {"status": "pending"}, UNKNOWN),
    answer("no status at all", {"result": "ok"}, UNKNOWN),
    answer("status null", {"status": None}, UNKNOWN),
    answer("status an object", {"status": {"code": "ok"}}, UNKNOWN),
    answer("a JSON array", [{"status": "ok"}], UNKNOWN),
    answer("a JSON string", "ok", UNKNOWN),
    # the awkward bodies
    answer("HTTP 503", ok(12), ("http_error", "HTTP 503"), status=503),
    answer("HTTP 302", b"", ("http_error", "HTTP 302"), status=302),
    answer("201 is a 2xx", ok(12), bid("12"), status=201),
    answer("a UTF-8 BOM before the JSON", b"\xef\xbb\xbf" + orjson.dumps(ok(5)), bid("5")),
    answer("an empty body", b"", ("bad_response", "empty body")),
    answer("only whitespace", b" \r\n\t ", ("bad_response", "empty body")),
    answer("only a BOM", b"\xef\xbb\xbf", ("bad_response", "empty body")),
    answer(
        "an HTML error page with status 200",
        b"<html>\n  <body><h1>502 Bad Gateway</h1></body>\n</html>",
        ("bad_response", "not JSON: <html> <body><h1>502 Bad Gateway</h1></body> </html>"),
    ),
    answer(
        "XML sent to a JSON buyer's map (a wrong content type is ignored, the body is not JSON)",
        b"<response><status>ok</status></response>",
        ("bad_response", "not JSON: <response>"),
    ),
    answer(
        "JSON labelled text/html: the label is ignored, the body read",
        b'{"status": "ok", "data": {"price": "4.00"}}',
        bid("4"),
    ),
    answer("truncated JSON", b'{"status": "ok", "data": {"pri', ("bad_response", "not JSON: ")),
    answer("plain text OK", b"OK", ("bad_response", "not JSON: OK")),
    answer("not UTF-8", b'{"status": "\xff"}', ("bad_response", "not JSON: ")),
]


@pytest.mark.parametrize(("status", "raw", "expected"), JSON_PING_CASES)
def test_json_ping_answers(status: int, raw: bytes, expected: Any) -> None:
    check(read_ping_answer(JSON_PING, status, raw), expected)


def test_the_unknown_answer_is_quoted_for_the_trace() -> None:
    result = read_ping_answer(JSON_PING, 200, b'{"status":   "pending",\n "queue": 4}')
    assert result == Failure("bad_response", 'unknown answer: {"status": "pending", "queue": 4}')


def json_map(**keys: Any) -> ResponseMap:
    return ResponseMap.model_validate({"format": "json", **keys})


@pytest.mark.parametrize(
    ("response", "raw", "expected"),
    [
        pytest.param(
            json_map(accepted={"path": "success", "values": [True]}, price={"path": "bid"}),
            {"success": True, "bid": 3},
            bid("3"),
            id="accepted: JSON true matches values [true]",
        ),
        pytest.param(
            json_map(accepted={"path": "success", "values": [True]}, reason={"path": "why"}),
            {"success": False, "why": "closed"},
            Decline("closed"),
            id="no rejected: accepted found but false -> declined",
        ),
        pytest.param(
            json_map(accepted={"path": "success", "values": [True]}, price={"path": "bid"}),
            {"outcome": "yes"},
            UNKNOWN,
            id="no rejected: accepted not found -> unknown",
        ),
        pytest.param(
            json_map(accepted={"path": "code", "values": [1]}, price={"path": "bid"}),
            {"code": 1, "bid": 3},
            bid("3"),
            id="a number matches its text",
        ),
        pytest.param(
            json_map(accepted={"path": "bid"}, price={"path": "bid"}),
            {"bid": "2.50"},
            bid("2.50"),
            id="accepted without values: the path exists",
        ),
        pytest.param(
            json_map(accepted={"path": "bid"}, price={"path": "bid"}),
            {"bid": None},
            UNKNOWN,
            id="accepted without values: null is not there",
        ),
        pytest.param(
            json_map(accepted={"path": "0.status", "values": ["ok"]}, price={"path": "0.bid"}),
            [{"status": "ok", "bid": 8}],
            bid("8"),
            id="a top-level list, indexed",
        ),
        pytest.param(
            json_map(accepted={"path": "r.1.s", "values": ["ok"]}, price={"path": "r.1.p"}),
            {"r": [{"s": "no"}, {"s": "ok", "p": 8}]},
            bid("8"),
            id="a list inside, second item",
        ),
        pytest.param(
            json_map(accepted={"path": "r.5.s", "values": ["ok"]}, price={"path": "r.5.p"}),
            {"r": [{"s": "ok"}]},
            UNKNOWN,
            id="an index past the end",
        ),
        pytest.param(
            json_map(accepted={"path": "status", "values": ["ok"]}),
            {"status": "ok", "bid": 8},
            ("bad_response", "accepted, but the response map reads no price"),
            id="a ping map without price cannot make a bid",
        ),
    ],
)
def test_json_paths_and_matching(response: ResponseMap, raw: Any, expected: Any) -> None:
    check(read_ping_answer(response, 200, orjson.dumps(raw)), expected)


JSON_POST = json_map(
    accepted={"path": "status", "values": ["success"]},
    rejected={"path": "status", "values": ["error", "failed"]},
    reason={"path": "message"},
    buyer_lead_id={"path": "contact.id"},
    redirect_url={"path": "next"},
)


@pytest.mark.parametrize(
    ("status", "raw", "expected"),
    [
        answer(
            "a sale with the buyer's id",
            {"status": "success", "contact": {"id": "c_1"}},
            Accepted("c_1", None),
        ),
        answer(
            "a sale with a redirect",
            {"status": "success", "next": "https://buyer.example/thanks"},
            Accepted(None, "https://buyer.example/thanks"),
        ),
        answer(
            "a javascript: redirect is dropped",
            {"status": "success", "next": "javascript:alert(1)"},
            Accepted(None, None),
        ),
        answer(
            "a buyer id as a number",
            {"status": "success", "contact": {"id": 7}},
            Accepted("7", None),
        ),
        answer(
            "refused with a reason",
            {"status": "error", "message": "contact exists"},
            Decline("contact exists"),
        ),
        answer("refused without a reason", {"status": "failed"}, Decline("rejected")),
        answer("a 200 'queued' is not a sale, nor a no", {"status": "queued"}, POST_UNKNOWN),
        answer(
            "HTTP 500 with success", {"status": "success"}, ("http_error", "HTTP 500"), status=500
        ),
        answer(
            "an HTML thank-you page with 200 is not a sale, nor a no",
            b"<html>Thank you!</html>",
            ("post_unknown", "HTTP 200, not JSON: <html>Thank you!</html>"),
        ),
        answer("an empty 200", b"", ("post_unknown", "HTTP 200, empty body")),
    ],
)
def test_json_post_answers(status: int, raw: bytes, expected: Any) -> None:
    check(read_post_answer(JSON_POST, status, raw), expected)


# XML ----------------------------------------------------------------------------------------------


def xml_map(status: str = "status", **keys: Any) -> ResponseMap:
    return ResponseMap.model_validate(
        {
            "format": "xml",
            "accepted": {"xpath": status, "values": ["Matched"]},
            "rejected": {"xpath": status, "values": ["Unmatched", "Quota Reached"]},
            "duplicate": {"xpath": status, "values": ["Duplicate"]},
            "price": {"xpath": "price"},
            "reason": {"xpath": "message"},
            "carry": {"token": {"xpath": "ping_token"}},
            **keys,
        }
    )


XML_PING = xml_map()
ENTITIES_REFUSED = "bad_response", "XML declaring entities refused"
MATCHED = (
    b"<response><status>Matched</status><price>$22.50</price>"
    b"<ping_token>t-1</ping_token></response>"
)

PREFIXED = (
    b'<b:response xmlns:b="urn:b"><b:status>Matched</b:status><b:price>5</b:price></b:response>'
)

XML_PING_CASES = [
    answer("matched, $ price, token carried", MATCHED, bid("22.50", token="t-1")),
    answer("with a declaration", b'<?xml version="1.0"?>' + MATCHED, bid("22.50", token="t-1")),
    answer(
        "a BOM before the declaration",
        b'\xef\xbb\xbf<?xml version="1.0"?>' + MATCHED,
        bid("22.50", token="t-1"),
    ),
    answer(
        "text in another encoding, declared",
        '<?xml version="1.0" encoding="ISO-8859-1"?><response><status>Unmatched</status>'
        "<message>zone non desservie à Málaga</message></response>".encode("latin-1"),
        Decline("zone non desservie à Málaga"),
    ),
    answer(
        "spaces and line breaks around the values",
        b"<response>\n  <status>\n    Matched\n  </status>\n  <price> 9.00 </price>\n</response>",
        bid("9"),
    ),
    answer(
        "a default namespace",
        b'<response xmlns="urn:buyer:v2"><status>Matched</status><price>5</price></response>',
        bid("5"),
    ),
    answer(
        "a prefixed namespace",
        PREFIXED,
        bid("5"),
    ),
    answer(
        "unmatched with nested markup in the message",
        b"<response><status>Unmatched</status><message>no <b>demand</b> today</message></response>",
        Decline("no demand today"),
    ),
    answer(
        "duplicate",
        b"<response><status>Duplicate</status></response>",
        Decline("duplicate", code="duplicate"),
    ),
    answer(
        "an empty status element",
        b"<response><status/></response>",
        UNKNOWN,
    ),
    answer(
        "matched without a price",
        b"<response><status>Matched</status></response>",
        NO_PRICE,
    ),
    answer(
        "matched with price 'TBD'",
        b"<response><status>Matched</status><price>TBD</price></response>",
        NO_PRICE,
    ),
    answer(
        "an HTML error page with 200 that parses as XML",
        b"<html><body>Service Unavailable</body></html>",
        ("bad_response", "unknown answer: <html><body>Service Unavailable</body></html>"),
    ),
    answer(
        "an HTML page that is not XML, quoted from after its doctype",
        b"<!DOCTYPE html><html><body>Error<br></body></html>",
        ("bad_response", "not XML: <html><body>Error<br></body></html>"),
    ),
    answer(
        "HTML without a doctype, not well-formed",
        b"<html><body>Error<br></body></html>",
        ("bad_response", "not XML: <html><body>Error<br></body></html>"),
    ),
    answer(
        "JSON sent to an XML buyer's map",
        b'{"status": "Matched"}',
        ("bad_response", 'not XML: {"status": "Matched"}'),
    ),
    answer(
        "an entity bomb",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<response><status>&lol2;</status></response>",
        ENTITIES_REFUSED,
    ),
    answer(
        "an external entity (XXE)",
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<response><status>&x;</status></response>",
        ENTITIES_REFUSED,
    ),
    answer(
        "a DOCTYPE naming an outside DTD is read (and not fetched)",
        b'<?xml version="1.0"?><!DOCTYPE response SYSTEM "http://buyer.example/r.dtd">'
        b"<response><status>Matched</status><price>5</price></response>",
        bid("5"),
    ),
    answer(
        "very deep nesting is read without an exception",
        b"<a>" * 50_000 + b"</a>" * 50_000,
        UNKNOWN,
    ),
    answer("an empty body", b"", ("bad_response", "empty body")),
    answer("HTTP 429", MATCHED, ("http_error", "HTTP 429"), status=429),
]


@pytest.mark.parametrize(("status", "raw", "expected"), XML_PING_CASES)
def test_xml_ping_answers(status: int, raw: bytes, expected: Any) -> None:
    check(read_ping_answer(XML_PING, status, raw), expected)


@pytest.mark.parametrize(
    "xpath",
    [
        pytest.param("status", id="relative to the document element"),
        pytest.param("response/status", id="naming the document element"),
        pytest.param("/response/status", id="absolute"),
        pytest.param("//status", id="anywhere"),
        pytest.param("./status", id="dot-relative"),
        pytest.param("b:status", id="with the buyer's namespace prefix"),
        pytest.param("/b:response/b:status", id="absolute with prefixes"),
    ],
)
def test_the_xpaths_an_operator_may_write(xpath: str) -> None:
    assert read_ping_answer(xml_map(xpath), 200, PREFIXED) == bid("5")


def test_an_absolute_xpath_names_the_document_element_or_finds_nothing() -> None:
    body = b"<reply><status>Matched</status><price>5</price></reply>"
    assert read_ping_answer(xml_map("/response/status"), 200, body) == Failure(
        "bad_response", "unknown answer: <reply><status>Matched</status><price>5</price></reply>"
    )


def test_attributes_of_the_root_and_of_elements() -> None:
    response = xml_map(
        "@status",
        price={"xpath": "bid/@amount"},
        bid_id={"xpath": "/response/bid/@id"},
        expires_in_ms={"xpath": "bid/@ttl"},
        carry={"token": {"xpath": "bid/@token"}, "missing": {"xpath": "bid/@nope"}},
    )
    body = (
        b'<response status="matched">'
        b'<bid id="B-7" amount="$1,015.5" ttl="30000" token="x&amp;y"/></response>'
    )
    assert read_ping_answer(response, 200, body) == bid("1015.50", "B-7", 30000, token="x&y")


def test_a_namespaced_attribute() -> None:
    response = xml_map("@b:status", price={"xpath": "b:bid/@b:amount"})
    body = b'<b:r xmlns:b="urn:b" b:status="Matched"><b:bid b:amount="3"/></b:r>'
    assert read_ping_answer(response, 200, body) == bid("3")


def test_a_predicate_picks_among_repeated_elements() -> None:
    response = xml_map("status", price={"xpath": "offer[@type='exclusive']/price"})
    body = (
        b"<response><status>Matched</status>"
        b"<offer type='shared'><price>4</price></offer>"
        b"<offer type='exclusive'><price>19.99</price></offer></response>"
    )
    assert read_ping_answer(response, 200, body) == bid("19.99")


# What one real buyer answers a post it took: its DTD named, a status word of its own.
STANDARD_SUCCESS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<!DOCTYPE response SYSTEM "https://buyer.example/dtd/response.dtd">\n'
    b"<response><status>Success</status><lead_id>B-20931</lead_id>"
    b"<message>Lead received</message></response>"
)

XML_POST = ResponseMap.model_validate(
    {
        "format": "xml",
        "accepted": {"xpath": "status", "values": ["Accepted"]},
        "duplicate": {"xpath": "status", "values": ["Duplicate"]},
        "rejected": {"xpath": "status", "values": ["Rejected"]},
        "reason": {"xpath": "message"},
        "buyer_lead_id": {"xpath": "lead_id"},
        "redirect_url": {"xpath": "redirect"},
    }
)


@pytest.mark.parametrize(
    ("status", "raw", "expected"),
    [
        answer(
            "accepted",
            b"<response><status>Accepted</status><lead_id>XL-991</lead_id>"
            b"<redirect>https://x.example/t?a=1&amp;b=2</redirect></response>",
            Accepted("XL-991", "https://x.example/t?a=1&b=2"),
        ),
        answer(
            "duplicate",
            b"<response><status>Duplicate</status><message>seen in 30 days</message></response>",
            Decline("seen in 30 days", code="duplicate"),
        ),
        answer(
            "rejected",
            b"<response><status>Rejected</status><message>outside area</message></response>",
            Decline("outside area"),
        ),
        answer(
            "pending review is not a sale, nor a no",
            b"<response><status>Pending review</status></response>",
            POST_UNKNOWN,
        ),
        answer(
            "a buyer's standard success answer the map does not know",
            STANDARD_SUCCESS,
            ("post_unknown", "HTTP 200, unknown answer: <response><status>Success</status>"),
        ),
        answer(
            "an HTML page with 200",
            b"<!DOCTYPE html>\n<html><body><h1>Thank you</h1></body></html>",
            ("post_unknown", "HTTP 200, unknown answer: <html><body><h1>Thank you</h1>"),
        ),
    ],
)
def test_xml_post_answers(status: int, raw: bytes, expected: Any) -> None:
    check(read_post_answer(XML_POST, status, raw), expected)


def test_without_rejected_a_word_the_map_does_not_know_declines_a_ping_but_not_a_post() -> None:
    """A ping's "no" costs nothing; a post's could sell the lead twice: only a refusal the map
    names lets a post's lead go on."""
    response = json_map(accepted={"path": "status", "values": ["success"]}, price={"path": "bid"})
    raw = b'{"status": "received", "id": "L-1"}'
    assert read_ping_answer(response, 200, raw) == Decline("declined")
    assert read_post_answer(response, 200, raw) == Unknown(
        'HTTP 200, unknown answer: {"status": "received", "id": "L-1"}', 200
    )


# DOCTYPE lines: real buyers name their DTD; it is read, never fetched; entities stay refused (§8b)

DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
ACCEPTED = b"<response><status>Accepted</status><lead_id>B-7</lead_id></response>"


def doctype_case(story: str, prolog: bytes, expected: Any, body: bytes = ACCEPTED) -> Any:
    return pytest.param(prolog + body, expected, id=story)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        doctype_case(
            "SYSTEM with an https DTD, as real buyers send",
            DECLARATION + b'<!DOCTYPE response SYSTEM "https://buyer.example/dtd/response.dtd">',
            Accepted("B-7", None),
        ),
        doctype_case(
            "on lines of its own",
            DECLARATION + b'\n<!DOCTYPE response SYSTEM\n  "https://buyer.example/r.dtd">\n',
            Accepted("B-7", None),
        ),
        doctype_case(
            "PUBLIC with a formal id",
            b'<!DOCTYPE response PUBLIC "-//Buyer//DTD Response 1.0//EN" '
            b'"http://buyer.example/dtd/response.dtd">',
            Accepted("B-7", None),
        ),
        doctype_case(
            'standalone="no" says the outside DTD matters: it is still not fetched',
            b'<?xml version="1.0" standalone="no"?>'
            b'<!DOCTYPE response SYSTEM "https://buyer.example/r.dtd">',
            Accepted("B-7", None),
        ),
        doctype_case("a name only", b"<!DOCTYPE response>", Accepted("B-7", None)),
        doctype_case(
            "an entity the outside DTD would define is not read from it",
            b'<!DOCTYPE response SYSTEM "https://buyer.example/r.dtd">',
            ("post_unknown", "HTTP 200, not XML: <response><status>&ok;</status>"),
            body=b"<response><status>&ok;</status></response>",
        ),
        doctype_case(
            "an internal subset declaring an entity",
            b'<!DOCTYPE response SYSTEM "https://buyer.example/r.dtd" [<!ENTITY ok "Accepted">]>',
            ("post_unknown", "HTTP 200, XML declaring entities refused: <response>"),
            body=b"<response><status>&ok;</status></response>",
        ),
        doctype_case(
            "a parameter entity pulling in an outside DTD",
            b'<!DOCTYPE response [<!ENTITY % ext SYSTEM "https://evil.example/x.dtd"> %ext;]>',
            ("post_unknown", "HTTP 200, XML declaring entities refused"),
        ),
        doctype_case(
            "an external entity in the internal subset (XXE)",
            b'<!DOCTYPE response [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
            ("post_unknown", "HTTP 200, XML declaring entities refused"),
            body=b"<response><status>&x;</status></response>",
        ),
    ],
)
def test_a_doctype_is_read_and_entity_declarations_are_refused(raw: bytes, expected: Any) -> None:
    check(read_post_answer(XML_POST, 200, raw), expected)


def test_a_ping_answer_with_a_doctype_is_a_bid() -> None:
    raw = DECLARATION + b'<!DOCTYPE response SYSTEM "https://buyer.example/dtd/r.dtd">' + MATCHED
    assert read_ping_answer(XML_PING, 200, raw) == bid("22.50", token="t-1")


def test_nothing_a_doctype_or_an_entity_names_is_fetched() -> None:
    """Every way an XML answer can name an outside resource points at a local listener; after
    reading them all, the listener has no connection waiting: nothing was fetched."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        answers = [
            f'<!DOCTYPE response SYSTEM "{url}/r.dtd"><response><status>OK</status></response>',
            f'<!DOCTYPE response PUBLIC "-//B//DTD R//EN" "{url}/r.dtd"><response/>',
            f'<?xml version="1.0" standalone="no"?><!DOCTYPE response SYSTEM "{url}/r.dtd">'
            "<response><status>&ok;</status></response>",
            f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]><r/>',
            f'<!DOCTYPE r [<!ENTITY x SYSTEM "{url}/x">]><r>&x;</r>',
        ]
        for text in answers:
            read_post_answer(XML_POST, 200, text.encode())
            read_ping_answer(XML_PING, 200, text.encode())
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()


# text ---------------------------------------------------------------------------------------------

TEXT_PING = ResponseMap.model_validate(
    {
        "format": "text",
        "accepted": {"regex": r"^BID\b"},
        "rejected": {"regex": r"^NO BID"},
        "price": {"regex": r"^BID\s+(\S+)"},
        "bid_id": {"regex": r"ref=(\w+)"},
        "carry": {"ref": {"regex": r"ref=(\w+)"}},
    }
)


@pytest.mark.parametrize(
    ("status", "raw", "expected"),
    [
        answer("BID 14.50", b"BID 14.50", bid("14.50")),
        answer("BID $14.50 ref=A1", b"BID $14.50 ref=A1\n", bid("14.50", "A1", ref="A1")),
        answer("a BOM before BID", b"\xef\xbb\xbfBID 3", bid("3")),
        answer("BID without an amount", b"BID", NO_PRICE),
        answer("BID free", b"BID free", NO_PRICE),
        answer("NO BID", b"NO BID", Decline("declined")),
        answer("BIDDING is not BID", b"BIDDING CLOSED", UNKNOWN),
        answer(
            "an HTML page with 200",
            b"<html><body>\n\n<h1>Oops</h1></body></html>",
            ("bad_response", "unknown answer: <html><body> <h1>Oops</h1></body></html>"),
        ),
        answer("bytes that are not UTF-8", b"BID 5 \xff\xfe", bid("5")),
        answer("an empty body", b"\n", ("bad_response", "empty body")),
    ],
)
def test_text_ping_answers(status: int, raw: bytes, expected: Any) -> None:
    check(read_ping_answer(TEXT_PING, status, raw), expected)


TEXT_POST = ResponseMap.model_validate(
    {
        "format": "text",
        "accepted": {"regex": r"^OK\b"},
        "duplicate": {"regex": r"^ERROR Duplicate"},
        "rejected": {"regex": r"^ERROR"},
        "reason": {"regex": r"^ERROR\s*(.*)"},
        "buyer_lead_id": {"regex": r"^OK\s+(\S+)?"},
    }
)


@pytest.mark.parametrize(
    ("status", "raw", "expected"),
    [
        answer("OK 48213", b"OK 48213", Accepted("48213", None)),
        answer("OK alone: its optional group took no part", b"OK ", Accepted(None, None)),
        answer(
            "ERROR Duplicate lead",
            b"ERROR Duplicate lead",
            Decline("Duplicate lead", code="duplicate"),
        ),
        answer("ERROR bad zip", b"ERROR bad zip", Decline("bad zip")),
        answer("ERROR alone", b"ERROR", Decline("rejected")),
        answer("Thank you is not a sale, nor a no", b"Thank you", POST_UNKNOWN),
    ],
)
def test_text_post_answers(status: int, raw: bytes, expected: Any) -> None:
    check(read_post_answer(TEXT_POST, status, raw), expected)


# prices, snippets, the native path ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("found", "price"),
    [
        pytest.param(12.5, "12.5", id="a float"),
        pytest.param(12, "12", id="an int"),
        pytest.param("12.50", "12.50", id="text"),
        pytest.param("$12.50", "12.50", id="dollar sign"),
        pytest.param("$ 12.50", "12.50", id="dollar sign, space"),
        pytest.param("US$12.50", "12.50", id="US$"),
        pytest.param("USD 12.50", "12.50", id="USD first"),
        pytest.param("12.50 USD", "12.50", id="USD after"),
        pytest.param("12.50usd", "12.50", id="usd after, no space"),
        pytest.param("1,250.00", "1250.00", id="thousands"),
        pytest.param("$1,000,000", "1000000", id="millions"),
        pytest.param(".50", "0.50", id="cents only"),
        pytest.param("12.", "12", id="a trailing dot"),
        pytest.param("0", "0", id="zero"),
        pytest.param(" 7 ", "7", id="spaces"),
        pytest.param(-1, None, id="negative number"),
        pytest.param("-1", None, id="negative text"),
        pytest.param("$-1", None, id="negative after $"),
        pytest.param(float("nan"), None, id="NaN"),
        pytest.param(float("inf"), None, id="inf"),
        pytest.param("nan", None, id="nan text"),
        pytest.param("1e3", None, id="exponent text"),
        pytest.param("", None, id="empty"),
        pytest.param("$", None, id="a dollar sign alone"),
        pytest.param(".", None, id="a dot alone"),
        pytest.param("free", None, id="free"),
        pytest.param("12,50", None, id="a decimal comma"),
        pytest.param("1,25", None, id="a misplaced comma"),
        pytest.param("12.50 EUR", None, id="another currency"),
        pytest.param(True, None, id="true"),
        pytest.param(None, None, id="nothing"),
        pytest.param(["12"], None, id="a list"),
    ],
)
def test_read_price(found: Any, price: str | None) -> None:
    assert read_price(found) == (None if price is None else Decimal(price))


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        pytest.param(b"  a \n\t b  ", "a b", id="whitespace collapsed"),
        pytest.param(b"word " * 100, ("word " * 100).strip(), id="500 characters kept whole"),
        pytest.param(
            "ééé ".encode() * 300, "ééé " * 125 + "ééé…", id="characters, not bytes; a cut marked"
        ),
        pytest.param(b"x" * 1000, "x" * 580 + "…", id="a word longer than 80 past the cut is cut"),
        pytest.param(
            b"a" * 490 + b" maria.gonzalez@example.com and more",
            "a" * 490 + " maria.gonzalez@example.com…",
            id="never inside a word: an email is whole, so it can be redacted",
        ),
        pytest.param(
            b"a" * 494 + b" (305) 555 1234 and more",
            "a" * 494 + " (305) 555 1234…",
            id="never inside a number written in groups: a phone is whole",
        ),
        pytest.param(
            b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<!DOCTYPE response SYSTEM "https://buyer.example/dtd/response.dtd">\n'
            b"<!-- generated --><response><status>Success</status></response>",
            "<response><status>Success</status></response>",
            id="an XML prolog skipped: declaration, DOCTYPE, comment",
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>',
            "<r>&a;</r>",
            id="a DOCTYPE's internal subset skipped with it",
        ),
        pytest.param(
            b"<!doctype html>\n<html><head><title>502 Bad Gateway</title></head></html>",
            "<html><head><title>502 Bad Gateway</title></head></html>",
            id="an HTML doctype skipped",
        ),
        pytest.param(b'<?xml version="1.0"?>', '<?xml version="1.0"?>', id="a prolog alone kept"),
        pytest.param(b"\xef\xbb\xbfOK", "OK", id="a BOM dropped"),
        pytest.param(b"ok \xff", "ok \ufffd", id="bad UTF-8 replaced"),
    ],
)
def test_snippet(body: bytes, shown: str) -> None:
    assert snippet(body) == shown


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        pytest.param(200, b'{"accepted": true, "bid": 42.5, "bid_id": "b1"}', id="a bid"),
        pytest.param(200, b'{"accepted": false, "reason": "Duplicate"}', id="a decline"),
        pytest.param(200, b"\xef\xbb\xbf{}", id="a BOM (the native protocol is strict)"),
        pytest.param(500, b"", id="a 500"),
    ],
)
def test_without_a_map_the_native_rules_apply(status: int, raw: bytes) -> None:
    assert read_ping_answer(None, status, raw) == parse_ping_answer(status, raw)
    assert read_post_answer(None, status, raw) == parse_post_answer(status, raw)
