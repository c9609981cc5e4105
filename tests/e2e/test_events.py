"""GET /admin/events (DESIGN §13): server-sent events of the auctions a router finishes, read by a
real aiohttp client while leads are posted to the real router. No PII; keep-alive comments; a
listener too slow to keep up is told how many leads it lost and never holds an auction up; the
streams end when the router stops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import jsonschema
from aiohttp.test_utils import TestServer

from pingtree.core import jsonenc
from pingtree.core.outcome import Outcome
from pingtree.web.app import create_app
from pingtree.web.keys import EVENTS
from tests.buyers import BuyerServer
from tests.conftest import SELLER_KEY, StartRouter, make_buyer, make_config, sample
from tests.e2e.test_exchange import anonymized, full_lead, ping, post
from tests.e2e.test_operators import BOB, OPERATORS, schema
from tests.e2e.test_shared_leads import SHARED_BIDS, SHARED_SELLER

LEAD_FIELDS = {
    "id",
    "seller_id",
    "vertical",
    "status",
    "reason",
    "buyer_id",
    "price",
    "payout",
    "auction_ms",
    "received_at",
    "test",
    "sales",
    "quote",
}


@dataclass
class Frame:
    event: str | None  # None: a comment
    data: Any
    raw: bytes


class Stream:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, timeout_s: float = 5.0) -> Frame | None:
        """The next frame (an event, or a comment), or None at the end of the stream."""
        lines: list[bytes] = []
        async with asyncio.timeout(timeout_s):
            while True:
                line = await self.response.content.readline()
                if not line:
                    return None
                if line == b"\n":
                    break
                lines.append(line)
        raw = b"".join(lines)
        if raw.startswith(b":"):
            return Frame(None, raw[1:].strip().decode(), raw)
        fields = dict(line.rstrip(b"\n").split(b": ", 1) for line in lines)
        return Frame(fields[b"event"].decode(), jsonenc.loads(fields[b"data"]), raw)

    async def events(self, count: int) -> list[Frame]:
        """The next `count` events, comments skipped."""
        found: list[Frame] = []
        while len(found) < count:
            frame = await self.next()
            assert frame is not None, f"the stream ended after {found}"
            if frame.event is not None:
                found.append(frame)
        return found


@asynccontextmanager
async def router_with_events(
    buyers: BuyerServer, **broadcaster: Any
) -> AsyncIterator[tuple[TestServer, aiohttp.ClientSession]]:
    buyers.set("a", bid=30)
    buyers.set("b", bid=None)
    config = make_config([make_buyer("a", buyers), make_buyer("b", buyers)], operators=OPERATORS)
    app = create_app(config)
    for name, value in broadcaster.items():
        setattr(app[EVENTS], name, value)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()
    try:
        yield server, session
    finally:
        await session.close()
        await server.close()


@asynccontextmanager
async def listening(server: TestServer, session: aiohttp.ClientSession) -> AsyncIterator[Stream]:
    headers = {"Authorization": f"Bearer {BOB}"}  # a viewer may watch
    async with session.get(server.make_url("/admin/events"), headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream"
        stream = Stream(response)
        opening = await stream.next()
        assert opening is not None and opening.data == "the auctions this router finishes"
        yield stream


async def send(server: TestServer, session: aiohttp.ClientSession, n: int, **fields: Any) -> Any:
    lead = {**sample("mva-legal"), "lead_id": f"lead-{n}", **fields}
    async with session.post(
        server.make_url("/v1/leads"), json=lead, headers={"X-API-Key": SELLER_KEY}
    ) as r:
        return await r.json()


async def test_every_finished_auction_is_streamed_without_pii(buyers: BuyerServer) -> None:
    async with router_with_events(buyers) as (server, session), listening(server, session) as s:
        answers = await asyncio.gather(
            send(server, session, 1),
            send(server, session, 2, test=True),
            send(server, session, 3, tcpa_consent=False),
        )
        frames = await s.events(3)
    assert {frame.event for frame in frames} == {"lead"}
    by_id = {frame.data["id"]: frame.data for frame in frames}
    assert set(by_id) == {answer["id"] for answer in answers}
    for event in by_id.values():
        assert set(event) == LEAD_FIELDS
        jsonschema.validate(event, schema("LeadEvent"))
    sold, test, rejected = (by_id[answer["id"]] for answer in answers)
    assert (sold["status"], sold["buyer_id"], sold["price"], sold["payout"]) == (
        "sold",
        "a",
        30,
        24,
    )
    assert (sold["seller_id"], sold["vertical"], sold["test"]) == ("acme-media", "mva", False)
    assert sold["sales"] == [{"buyer_id": "a", "price": 30, "payout": 24}]
    assert sold["quote"] is None and rejected["sales"] == []
    assert test["test"] is True
    assert (rejected["status"], rejected["reason"]) == ("rejected", "consent_required")
    lead = sample("mva-legal")
    raw = b"".join(frame.raw for frame in frames).decode()
    pii = ("phone", "email", "first_name", "last_name", "ip_address", "trustedform_url")
    for field in pii:
        assert str(lead[field]) not in raw, field
    assert "5551234" not in raw


async def test_a_quiet_stream_is_kept_alive(buyers: BuyerServer) -> None:
    async with (
        router_with_events(buyers, keep_alive_s=0.1) as (server, session),
        listening(server, session) as stream,
    ):
        first, second = await stream.next(), await stream.next()
        await send(server, session, 1)
        events = await stream.events(1)
    assert first is not None and second is not None
    assert (first.event, first.raw, second.raw) == (None, b": keep-alive\n", b": keep-alive\n")
    assert events[0].data["status"] == "sold"


def burst_outcome(n: int) -> Outcome:
    return Outcome(f"ld_{n}", "acme-media", "unsold", "2026-01-01T00:00:00.000Z", 5)


async def test_a_slow_listener_loses_leads_and_is_told_how_many(buyers: BuyerServer) -> None:
    """A burst finishes in one turn of the event loop, before the stream's writer runs: the
    listener's queue (2 here) keeps the first leads, and a `dropped` frame stands where the
    others would have been. Publishing never waits for the listener."""
    async with (
        router_with_events(buyers, queue_size=2) as (server, session),
        listening(server, session) as stream,
    ):
        events = server.app[EVENTS]
        started = time.perf_counter()
        for n in range(1, 8):
            events.publish(burst_outcome(n))
        assert time.perf_counter() - started < 0.05  # nothing waited for the slow listener
        await send(server, session, 100)  # a real auction after the burst
        frames = await stream.events(4)
    assert [(f.event, f.data.get("id", f.data)) for f in frames[:3]] == [
        ("lead", "ld_1"),
        ("lead", "ld_2"),
        ("dropped", {"count": 5}),
    ]
    assert frames[3].event == "lead" and frames[3].data["status"] == "sold"


async def test_the_stream_ends_when_the_router_stops_and_needs_a_token(
    buyers: BuyerServer,
) -> None:
    async with router_with_events(buyers) as (server, session):
        async with session.get(server.make_url("/admin/events")) as response:
            assert response.status == 401
        async with listening(server, session) as stream:
            assert server.app[EVENTS].listeners == 1
            started = time.monotonic()
            await asyncio.wait_for(server.close(), 10)  # does not wait out the stream
            assert await stream.next() is None
            assert time.monotonic() - started < 5
        assert server.app[EVENTS].listeners == 0


async def test_a_shared_lead_tells_every_sale(
    buyers: BuyerServer, start_router: StartRouter
) -> None:
    """Sold to three shared buyers: the event names each with its price, best first, not only
    the first buyer and the sum."""
    entries = []
    for buyer_id, bid in SHARED_BIDS.items():
        buyers.set(buyer_id, bid=bid)
        entries.append(make_buyer(buyer_id, buyers, shared=True))
    router = await start_router(make_config(entries, sellers=[SHARED_SELLER], operators=OPERATORS))
    async with listening(router.server, router.session) as stream:
        answer = await send(router.server, router.session, 1)
        (frame,) = await stream.events(1)
    event = frame.data
    assert (event["id"], event["status"], event["buyer_id"]) == (answer["id"], "sold", "s1")
    assert event["price"] == 75 and event["payout"] == 60
    assert [(sale["buyer_id"], sale["price"], sale["payout"]) for sale in event["sales"]] == [
        ("s1", 30, 24),
        ("s2", 25, 20),
        ("s3", 20, 16),
    ]
    assert event["quote"] is None
    jsonschema.validate(event, schema("LeadEvent"))


async def test_an_exchange_post_says_it_came_from_a_ping(
    buyers: BuyerServer, start_router: StartRouter
) -> None:
    """A lead posted to its ping's held bids: its event carries the quote; a lead posted
    whole by the same seller carries none."""
    buyers.set("a", bid=30)
    config = make_config(
        [make_buyer("a", buyers)],
        sellers=[{"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8}],
        operators=OPERATORS,
    )
    router = await start_router(config)
    async with listening(router.server, router.session) as stream:
        quoted = await ping(router, anonymized())
        status, answer, _ = await post(router, quoted["ping_id"], full_lead())
        assert status == 200 and answer["status"] == "sold"
        whole = await send(router.server, router.session, 2)
        first, second = await stream.events(2)
    assert (first.data["id"], first.data["quote"]) == (answer["id"], 24)
    assert first.data["sales"] == [{"buyer_id": "a", "price": 30, "payout": 24}]
    assert (second.data["id"], second.data["quote"]) == (whole["id"], None)
    for frame in (first, second):
        jsonschema.validate(frame.data, schema("LeadEvent"))
