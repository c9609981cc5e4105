"""Selling twice (issue 13): a post answered with a 2xx that says neither yes nor no in any form
the buyer's config recognizes may mean the buyer took the lead (DESIGN §8, v3). It is
`post_unknown`: the lead stops `pending` and no other buyer is ever posted to, unless that buyer's
config says `on_post_unknown: next`. Only a refusal the config recognizes, a non-2xx, or a
connection refused before the post went out lets the lead go on by itself.

Each auction: the buyer `first` bids 99 and wins the ranking, then answers its post in one of the
forms below; `second` (an honest buyer bidding 20) is next. `first` is a bare asyncio server
(test_hostile_buyers.py's RawBuyer), since several forms break HTTP below what aiohttp can send.
"""

from __future__ import annotations

import gzip
from typing import Any

import pytest

from tests.conftest import make_buyer, make_config, sample
from tests.e2e.test_hostile_buyers import (
    BID_99,
    Answer,
    Wire,
    answer,
    flood,
    head,
    json_answer,
    reset,
    short_body,
)
from tests.e2e.test_hostile_buyers import raw_buyers as raw_buyers

SECOND_BID = 20
XML_MAP = {
    "format": "xml",
    "accepted": {"xpath": "status", "values": ["Accepted"]},
    "rejected": {"xpath": "status", "values": ["Rejected"]},
    "duplicate": {"xpath": "status", "values": ["Duplicate"]},
    "reason": {"xpath": "message"},
    "buyer_lead_id": {"xpath": "lead_id"},
}
# A JSON map without `rejected`: to a ping, a status it does not list is a no; to a post, unknown.
JSON_MAP = {"format": "json", "accepted": {"path": "status", "values": ["success"]}}

# What one real buyer answers a post it took: the declaration, its DTD named, its own status word.
STANDARD_SUCCESS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<!DOCTYPE response SYSTEM "https://buyer.example/dtd/response.dtd">\n'
    b"<response>\n  <status>Success</status>\n  <lead_id>B-20931</lead_id>\n"
    b"  <message>Lead received</message>\n</response>\n"
)


def raw(data: bytes) -> Answer:
    """`data` written as it is: a head (and body) of the test's own making."""

    async def write(wire: Wire) -> bool:
        await wire.send(data)
        return True

    return write


def encoded(body: bytes, encoding: str) -> Answer:
    return raw(head(Content_Encoding=encoding, Content_Length=str(len(body))) + body)


def lost_after(status: int) -> Answer:
    """A head of `status` promising 100 bytes, 15 of them, then the connection closed."""

    async def write(wire: Wire) -> bool:
        await wire.send(head(status, Content_Length="100") + b'{"accepted": tr')
        wire.writer.close()
        return False

    return write


# (the post's answer, words its trace detail holds, keys of first's post config)
AMBIGUOUS = [
    pytest.param(json_answer(b'{"accepted": tru'), "not JSON: {", {}, id="json-unparsable"),
    pytest.param(json_answer(b""), "HTTP 200, empty body", {}, id="empty-body"),
    pytest.param(json_answer(b"", 204), "HTTP 204, empty body", {}, id="204-no-content"),
    pytest.param(
        answer(
            b"<!DOCTYPE html>\n"
            b"<html><body><h1>Thank you! Your lead was received.</h1></body></html>",
            content_type="text/html",
        ),
        "not JSON: <html><body><h1>Thank you! Your lead was received.</h1>",
        {},
        id="html-page",
    ),
    pytest.param(
        json_answer(b'{"status": "success", "lead_id": "L-77"}'),
        """no boolean 'accepted': {"status": "success", "lead_id": "L-77"}""",
        {},
        id="native-200-without-accepted",
    ),
    pytest.param(
        json_answer(b'{"status": "Quota Reached"}'),
        "Quota Reached",
        {},
        id="native-200-quota-reached-without-accepted",
    ),
    pytest.param(
        answer(STANDARD_SUCCESS, content_type="text/xml"),
        "unknown answer: <response> <status>Success</status> <lead_id>B-20931</lead_id>",
        {"response": XML_MAP},
        id="standard-success-xml-the-map-does-not-match",
    ),
    pytest.param(
        answer(b"<response><status>Pending review</status></response>", content_type="text/xml"),
        "unknown answer: <response><status>Pending review</status></response>",
        {"response": XML_MAP},
        id="xml-unknown-status-word",
    ),
    pytest.param(
        answer(b"<response><status>Accepted</status>", content_type="text/xml"),
        "not XML: <response><status>Accepted</status>",
        {"response": XML_MAP},
        id="xml-unparsable",
    ),
    pytest.param(
        json_answer(b'{"status": "received", "id": "L-9"}'),
        """unknown answer: {"status": "received", "id": "L-9"}""",
        {"response": JSON_MAP},
        id="json-map-without-rejected-unknown-word",
    ),
    pytest.param(
        flood("declared"), "body of 10485760 bytes is over", {}, id="over-max-response-declared"
    ),
    pytest.param(
        flood("chunked"), "over the 262144 byte limit", {}, id="over-max-response-chunked"
    ),
    pytest.param(flood("close"), "over the 262144 byte limit", {}, id="over-max-response-streamed"),
    pytest.param(
        encoded(b'{"accepted": true}', "br"),
        "unsupported Content-Encoding br",
        {},
        id="unknown-content-encoding",
    ),
    pytest.param(
        encoded(b"this is not gzip", "gzip"),
        "body does not decompress",
        {},
        id="body-does-not-decompress",
    ),
    pytest.param(
        encoded(gzip.compress(b'{"accepted": true, "pad": "' + b"0" * 400_000 + b'"}'), "gzip"),
        "decompressed body over",
        {},
        id="gzip-over-max-response",
    ),
    pytest.param(
        raw(b"HTTP/1.1 200 OK\r\nContent-Length: 18\r\nNo colon here\r\n\r\n"),
        "not valid HTTP",
        {},
        id="invalid-http-after-the-status-line",
    ),
    pytest.param(
        raw(head(Transfer_Encoding="chunked") + b"zz\r\n"),
        "not valid HTTP",
        {},
        id="invalid-chunk",
    ),
    pytest.param(
        short_body(100, b'{"accepted": true', then_close=True),
        "HTTP 200, connection failed after the request was sent",
        {},
        id="connection-closed-after-the-head",
    ),
]


async def _auction(
    buyers: Any,
    start_router: Any,
    raw_buyers: Any,
    post_answer: Answer,
    post: dict[str, Any] | None = None,
    **first_keys: Any,
) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """One lead through first (bids 99, answers its post with `post_answer`; `post`: keys of its
    post config) and second (bids 20); the seller's answer, the operator's view, first's server."""
    first = await raw_buyers({"/ping": json_answer(BID_99), "/post": post_answer})
    buyers.set("second", bid=SECOND_BID)
    entry = make_buyer("first", None, **first_keys)
    entry["ping"]["url"] = first.url("/ping")
    entry["post"].update({"url": first.url("/post"), **(post or {})})
    router = await start_router(make_config([entry, make_buyer("second", buyers)]))
    status, sold, _ = await router.send(sample("mva-legal"))
    assert status == 200, sold
    return sold, await router.admin(sold["id"]), first


def _first_post(view: dict[str, Any]) -> dict[str, Any]:
    (post,) = [e for e in view["trace"] if e["buyer_id"] == "first" and e["step"] == "post"]
    return post


@pytest.mark.parametrize(("post_answer", "words", "post"), AMBIGUOUS)
async def test_an_ambiguous_2xx_post_answer_stops_the_lead_pending(
    buyers, start_router, raw_buyers, post_answer, words, post
):
    sold, view, first = await _auction(buyers, start_router, raw_buyers, post_answer, post=post)

    assert (sold["status"], sold["reason"], sold["payout"]) == ("pending", "post_unknown", None)
    assert view["buyer_id"] == "first"
    event = _first_post(view)
    assert (event["result"], event["reason"]) == ("unknown", "post_unknown")
    assert 200 <= event["http_status"] < 300
    assert words in event["detail"], event["detail"]
    assert buyers.recorded("second").posts == []  # never offered to anyone else
    assert first.paths() == ["/ping", "/post"]


async def test_a_reset_after_the_head_stops_the_lead_pending(buyers, start_router, raw_buyers):
    """Reset (RST) once a 200 head is out: ambiguous whether or not the head was read first."""
    reset_after_head = reset(head(Content_Length="100") + b'{"accepted": true')
    sold, view, _ = await _auction(buyers, start_router, raw_buyers, reset_after_head)

    assert (sold["status"], sold["reason"]) == ("pending", "post_unknown")
    assert (_first_post(view)["result"], _first_post(view)["reason"]) == ("unknown", "post_unknown")
    assert buyers.recorded("second").posts == []


# No HTTP status came back at all, once the post was out: on_post_timeout's case, not this one's.
NO_STATUS = [
    pytest.param(reset(), "after the request was sent", id="reset-on-reading-the-post"),
    pytest.param(raw(b"HELLO, lead received\r\n\r\n"), "not valid HTTP", id="not-http-at-all"),
]


@pytest.mark.parametrize(("post_answer", "words"), NO_STATUS)
@pytest.mark.parametrize("on_post_timeout", ["stop", "next"])
async def test_a_post_answered_without_any_status_follows_on_post_timeout(
    buyers, start_router, raw_buyers, post_answer, words, on_post_timeout
):
    sold, view, _ = await _auction(
        buyers,
        start_router,
        raw_buyers,
        post_answer,
        on_post_timeout=on_post_timeout,
        on_post_unknown="next" if on_post_timeout == "stop" else "stop",  # not this setting
    )

    event = _first_post(view)
    assert (event["result"], event["reason"], event.get("http_status")) == (
        "unknown",
        "post_unknown",
        None,
    )
    assert words in event["detail"]
    if on_post_timeout == "stop":
        assert (sold["status"], sold["reason"]) == ("pending", "post_unknown")
        assert buyers.recorded("second").posts == []
    else:
        assert (sold["status"], view["buyer_id"]) == ("sold", "second")


@pytest.mark.parametrize(("post_answer", "words", "post"), AMBIGUOUS)
async def test_on_post_unknown_next_lets_the_lead_go_on(
    buyers, start_router, raw_buyers, post_answer, words, post
):
    sold, view, first = await _auction(
        buyers, start_router, raw_buyers, post_answer, post=post, on_post_unknown="next"
    )

    assert sold["status"] == "sold"
    assert (view["buyer_id"], view["price"]) == ("second", SECOND_BID)
    event = _first_post(view)
    assert (event["result"], event["reason"]) == ("unknown", "post_unknown")
    assert words in event["detail"]
    assert len(buyers.recorded("second").posts) == 1
    assert first.paths().count("/post") == 1


async def test_on_post_timeout_next_does_not_let_an_unreadable_2xx_go_on(
    buyers, start_router, raw_buyers
):
    """Two settings: a timeout's (no answer at all) is not an unreadable answer's."""
    sold, _, _ = await _auction(
        buyers, start_router, raw_buyers, json_answer(b"OK"), on_post_timeout="next"
    )
    assert (sold["status"], sold["reason"]) == ("pending", "post_unknown")
    assert buyers.recorded("second").posts == []


# (the post's answer, first's post event (result, reason, http_status), keys of its post config)
GOES_ON = [
    pytest.param(
        json_answer(b'{"accepted": false, "reason": "Quota Reached"}'),
        ("rejected", "post_rejected", 200),
        {},
        id="native-refusal-with-200",
    ),
    pytest.param(
        answer(b"<response><status>Rejected</status></response>", content_type="text/xml"),
        ("rejected", "post_rejected", 200),
        {"response": XML_MAP},
        id="xml-refusal-the-map-names",
    ),
    pytest.param(
        answer(b"<response><status>Duplicate</status></response>", content_type="text/xml"),
        ("rejected", "duplicate", 200),
        {"response": XML_MAP},
        id="xml-duplicate-the-map-names",
    ),
    pytest.param(
        json_answer(b'{"accepted": true}', 500), ("failed", "http_error", 500), {}, id="500"
    ),
    pytest.param(
        answer(b"<html>Service Unavailable</html>", 503, "text/html"),
        ("failed", "http_error", 503),
        {},
        id="503-html",
    ),
    pytest.param(
        json_answer(b"x" * 300_000, 502),
        ("failed", "bad_response", 502),
        {},
        id="502-over-max-response",
    ),
    pytest.param(lost_after(500), ("failed", "http_error", 500), {}, id="500-then-connection-lost"),
    pytest.param(
        json_answer(b""),  # never reached: nothing listens where the post goes
        ("failed", "http_error", None),
        {"url": "http://127.0.0.1:9/post"},
        id="connection-refused",
    ),
]


@pytest.mark.parametrize(("post_answer", "expected", "post"), GOES_ON)
async def test_a_refusal_a_non_2xx_or_a_refused_connection_lets_the_lead_go_on(
    buyers, start_router, raw_buyers, post_answer, expected, post
):
    sold, view, _ = await _auction(buyers, start_router, raw_buyers, post_answer, post=post)

    assert sold["status"] == "sold"
    assert (view["buyer_id"], view["price"]) == ("second", SECOND_BID)
    event = _first_post(view)
    assert (event["result"], event["reason"], event.get("http_status")) == expected
    assert len(buyers.recorded("second").posts) == 1


async def test_the_trace_quotes_the_buyers_words_without_the_leads_pii_or_its_secrets(
    buyers, start_router, raw_buyers
):
    """What the buyer said is shown past its XML prolog, up to ~500 characters; the lead's name,
    phone and email and the buyer's own key, which it echoes, are masked."""
    key = "partner-key-5521"
    body = (
        STANDARD_SUCCESS.split(b"<response>")[0]
        + b"<response><status>Success</status><message>Lead for Maria Gonzalez, (305) 555-1234, "
        + b"maria.gonzalez@example.com received with key "
        + key.encode()
        + b"</message></response>"
    )
    sold, view, _ = await _auction(
        buyers,
        start_router,
        raw_buyers,
        answer(body, content_type="text/xml"),
        post={"response": XML_MAP, "headers": {"X-Api-Key": key}},
    )

    assert sold["status"] == "pending"
    detail = _first_post(view)["detail"]
    assert detail.startswith("HTTP 200, unknown answer: <response><status>Success</status>")
    assert "received with key ***</message></response>" in detail
    for secret in ("Maria", "Gonzalez", "305", "555-1234", "maria.gonzalez", key):
        assert secret.lower() not in detail.lower(), detail
