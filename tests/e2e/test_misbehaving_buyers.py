"""A misbehaving buyer costs at most its own timeout and never breaks an auction: whatever it
answers, the honest buyer still wins and the trace names what was wrong. Except one thing: a post
answered with a 2xx that says neither yes nor no may have been taken (DESIGN §8, v3), so the lead
stops `pending` there, and the honest buyer is never posted to: a lead is never sold twice."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import make_buyer, make_config, sample

HUGE = b'{"accepted": true, "bid": 99, "pad": "' + b"x" * (300 * 1024) + b'"}'


def _lead() -> dict[str, Any]:
    return {**sample("mva-legal"), "lead_id": f"bad-{uuid.uuid4().hex[:12]}"}


def _trace(view: dict[str, Any], buyer_id: str) -> list[tuple[str, str, str | None, int | None]]:
    return [
        (e["step"], e["result"], e.get("reason"), e.get("http_status"))
        for e in view["trace"]
        if e["buyer_id"] == buyer_id
    ]


PING_FAULTS = [
    pytest.param({"ping_status": 500}, ("failed", "http_error", 500), id="500"),
    pytest.param({"ping_status": 503}, ("failed", "http_error", 503), id="503"),
    pytest.param({"ping_status": 302}, ("failed", "http_error", 302), id="redirect"),
    pytest.param({"ping_body": b"<html>oops</html>"}, ("failed", "bad_response", 200), id="html"),
    pytest.param({"ping_body": b""}, ("failed", "bad_response", 200), id="empty"),
    pytest.param(
        {"ping_body": b'{"accepted": "yes", "bid": 99}'},
        ("failed", "bad_response", 200),
        id="stringly",
    ),
    pytest.param(
        {"ping_body": b'{"accepted": true, "bid": NaN}'}, ("failed", "bad_response", 200), id="nan"
    ),
    pytest.param(
        {"ping_body": b'{"accepted": true, "bid": "99"}'},
        ("failed", "bad_response", 200),
        id="bid-as-text",
    ),
    pytest.param(
        {"ping_body": b'{"accepted": true, "bid": -5}'},
        ("declined", "below_floor", 200),
        id="negative",
    ),
    pytest.param(
        {"ping_body": b'{"accepted": true, "bid": 1e308}'},
        ("declined", "above_max_bid", 200),
        id="1e308",
    ),
    pytest.param({"ping_body": HUGE}, ("failed", "bad_response", None), id="huge-body"),
]


@pytest.mark.parametrize(("fault", "expected"), PING_FAULTS)
async def test_a_bad_ping_answer_loses_the_buyer_not_the_lead(
    buyers, start_router, fault, expected
):
    view = await _bad_beside_honest(buyers, start_router, fault)
    result, reason, http_status = expected
    assert _trace(view, "bad")[0][1:3] == (result, reason)
    if http_status is not None:
        assert _trace(view, "bad")[0][3] == http_status
    assert buyers.recorded("bad").posts == []


async def test_a_buyer_that_refuses_connections_loses_only_itself(buyers, start_router):
    buyers.set("honest", bid=20)
    closed = make_buyer("gone", None, ping={"url": "http://127.0.0.1:9/ping"})  # nothing listens
    router = await start_router(make_config([closed, make_buyer("honest", buyers)]))

    status, answer, _ = await router.send(_lead())

    assert status == 200 and answer["status"] == "sold"
    view = await router.admin(answer["id"])
    assert view["buyer_id"] == "honest"
    assert _trace(view, "gone") == [("ping", "failed", "http_error", None)]


async def _bad_beside_honest(
    buyers, start_router, fault: dict[str, Any], *, honest_wins: bool = True
) -> dict[str, Any]:
    """One auction between a buyer bidding 99 with `fault` and an honest one bidding 20, which
    must win (unless `honest_wins` is False: then the lead must stop `pending` at the bad buyer,
    the honest one never posted to); returns the operator's view."""
    buyers.set("bad", bid=99, **fault)
    buyers.set("honest", bid=20)
    router = await start_router(
        make_config([make_buyer("bad", buyers), make_buyer("honest", buyers)])
    )
    status, answer, _ = await router.send(_lead())
    view = await router.admin(answer["id"])
    if honest_wins:
        assert status == 200 and answer["status"] == "sold"
        assert view["buyer_id"] == "honest" and view["price"] == 20
    else:
        assert status == 200 and (answer["status"], answer["reason"]) == ("pending", "post_unknown")
        assert view["buyer_id"] == "bad" and buyers.recorded("honest").posts == []
    return view


UNKNOWN = ("unknown", "post_unknown")
POST_FAULTS = [
    pytest.param({"post_status": 500}, ("failed", "http_error"), id="500"),
    pytest.param({"post_body": b"OK"}, UNKNOWN, id="plain-ok"),
    pytest.param({"post_body": b'{"status": "success"}'}, UNKNOWN, id="no-accepted"),
    pytest.param(
        {"post_body": b'{"accepted": false, "reason": "Duplicate"}'},
        ("rejected", "post_rejected"),
        id="refused",
    ),
    pytest.param({"post_body": HUGE}, UNKNOWN, id="huge-body"),
]


@pytest.mark.parametrize(("fault", "expected"), POST_FAULTS)
async def test_a_bad_post_answer_is_never_a_sale(buyers, start_router, fault, expected):
    view = await _bad_beside_honest(buyers, start_router, fault, honest_wins=expected != UNKNOWN)
    assert _trace(view, "bad")[-1][:3] == ("post", *expected)
    assert len(buyers.recorded("bad").posts) == 1  # posted once, never again
