"""Overload: `router.max_in_flight` leads read or auctioned at once, and past it a new lead gets a
503 JSON with Retry-After at once, before its key or body is even looked at; the leads under way
are not slowed by it and finish normally, and the router takes new ones as soon as they have.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from pingtree.web.keys import METRICS
from tests.buyers import BuyerServer
from tests.conftest import RouterClient, make_buyer, make_config, sample

SLOW_PING_S = 0.4


def _lead() -> dict[str, Any]:
    return {**sample("mva-legal"), "lead_id": uuid.uuid4().hex}


def _metric(router: RouterClient, name: str) -> float:
    return router.app[METRICS].registry.get_sample_value(name) or 0.0


async def _pings_in(buyers: BuyerServer, count: int) -> None:
    for _ in range(200):
        if len(buyers.recorded("slow").pings) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} pings never arrived")


async def test_past_max_in_flight_a_lead_gets_503_at_once(
    buyers: BuyerServer, start_router: Any
) -> None:
    buyers.set("slow", bid=25, ping_delay_s=SLOW_PING_S)
    router = await start_router(
        make_config([make_buyer("slow", buyers)], router={"max_in_flight": 2})
    )
    under_way = [asyncio.create_task(router.send(_lead())) for _ in range(2)]
    await _pings_in(buyers, 2)
    assert _metric(router, "pingtree_auctions_in_flight") == 2

    started = time.perf_counter()
    async with router.session.post(
        router.url("/v1/leads"), data=b"not even read", headers={"X-API-Key": "wrong"}
    ) as r:
        refused_ms = (time.perf_counter() - started) * 1000
        assert r.status == 503
        assert r.headers["Retry-After"] == "1"
        assert r.content_type == "application/json"
        answer = await r.json()
    assert answer["error"] == "overloaded" and "max_in_flight" in answer["detail"]
    assert refused_ms < 100  # shed at once, not queued behind the slow auctions

    for task in under_way:  # the two under way were not disturbed
        status, sold, _ = await task
        assert (status, sold["status"]) == (200, "sold")
    assert _metric(router, "pingtree_auctions_in_flight") == 0
    assert _metric(router, "pingtree_overload_refusals_total") == 1
    status, sold, _ = await router.send(_lead())  # room again
    assert (status, sold["status"]) == (200, "sold")


async def test_a_refused_or_failed_lead_frees_its_place(
    buyers: BuyerServer, start_router: Any
) -> None:
    """Every way out of the handler (401, 422, 413…) gives its place back."""
    buyers.set("slow", bid=25)
    router = await start_router(
        make_config([make_buyer("slow", buyers)], router={"max_in_flight": 1, "max_body_kb": 1})
    )
    assert (await router.send(_lead(), key="not-a-key"))[0] == 401
    assert (await router.send({"vertical": "mva"}))[0] == 422
    assert (await router.send({**_lead(), "pad": "x" * 2000}))[0] == 413
    assert _metric(router, "pingtree_auctions_in_flight") == 0
    status, sold, _ = await router.send(_lead())
    assert (status, sold["status"]) == (200, "sold")
    assert _metric(router, "pingtree_overload_refusals_total") == 0
