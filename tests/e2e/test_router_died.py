"""A resend of a lead whose router died (SIGKILL) mid-post, to another router on the same Redis,
while the dead auction's lease still runs: it waits for the lease and no longer, takes the key
over, and answers `pending` (`router_died`) with `Idempotent-Replayed`. And a resend that cannot
wait that long (its own budget is shorter than the first router's lease) gets a 409 whose
`Retry-After` says when the lease runs out; sent again then, it is answered."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from tests.buyers import BuyerServer
from tests.conftest import SELLER_KEY, config_dict, make_buyer
from tests.e2e.router_processes import Answer, StartRouters, consumer, seller

REVEALING = [
    {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8, "reveal": ["buyer", "price"]}
]
LEASE_GRACE_S = 2.0  # router._LEASE_GRACE_S: a claim's lease is the budget and this


def one_buyer(buyers: BuyerServer, budget_ms: int, post_timeout_ms: int) -> dict[str, Any]:
    return config_dict(
        [make_buyer("only", buyers, post={"timeout_ms": post_timeout_ms})],
        router={"budget_ms": budget_ms, "post_reserve_ms": 500},
        sellers=REVEALING,
    )


async def posted(buyers: BuyerServer) -> None:
    """Until the buyer has the lead's post."""
    while True:
        if buyers.recorded("only").posts:
            return
        await asyncio.sleep(0.01)


async def test_a_resend_takes_a_dead_routers_lead_over_as_soon_as_its_lease_runs_out(
    start: StartRouters, buyers: BuyerServer, redis_url: str
) -> None:
    budget_ms = 1500
    buyers.set("only", bid=30, post_delay_s=5.0)  # the post is out when the router dies
    config = one_buyer(buyers, budget_ms, post_timeout_ms=1400)
    victim, survivor = await start(config, redis_url, count=2)
    lead = consumer(7)
    async with asyncio.timeout(30), seller() as client:
        sent_at = time.monotonic()  # the claim, and its lease, start a moment after
        first = asyncio.create_task(client.send(victim.base, lead))
        await posted(buyers)
        victim.process.kill()
        with pytest.raises(aiohttp.ClientError):
            await first

        resent = await client.send(survivor.base, lead)
        lease_end = sent_at + budget_ms / 1000 + LEASE_GRACE_S
        answered_at = resent.started + resent.seconds
        assert resent.status == 200, resent.body
        assert (resent.body["status"], resent.body["reason"]) == ("pending", "router_died")
        assert resent.body["buyer_id"] == "only"
        assert resent.headers.get("Idempotent-Replayed") == "true"
        # Taken over when the lease allowed, not after budget + 5 s of waiting.
        assert answered_at - lease_end < 0.8, (resent.started - sent_at, resent.seconds)

        again = await client.send(survivor.base, lead)
        assert again.body == resent.body and again.headers.get("Idempotent-Replayed") == "true"
    assert len(buyers.recorded("only").posts) == 1


async def test_a_resend_that_cannot_wait_for_the_lease_is_told_when_to_come_back(
    start: StartRouters, buyers: BuyerServer, redis_url: str
) -> None:
    # The first router has a long budget (and so a long lease); the resend's router waits only
    # its own budget + 5 s for the answer.
    buyers.set("only", bid=30, post_delay_s=7.0)
    (slow,) = await start(one_buyer(buyers, 10_000, post_timeout_ms=9000), redis_url)
    (quick,) = await start(one_buyer(buyers, 1000, post_timeout_ms=800), redis_url)
    lead = consumer(8)
    async with asyncio.timeout(40), seller() as client:
        sent_at = time.monotonic()
        first = asyncio.create_task(client.send(slow.base, lead))
        await posted(buyers)

        refused = await client.send(quick.base, lead)
        assert refused.status == 409, refused.body
        assert refused.body["error"] == "idempotency_conflict"
        retry_after = int(refused.headers["Retry-After"])
        lease_end = sent_at + 10.0 + LEASE_GRACE_S
        refused_at = refused.started + refused.seconds
        assert abs(refused_at + retry_after - lease_end) < 1.5, (retry_after, lease_end, refused_at)

        sold: Answer = await first
        assert sold.body["status"] == "sold"
        again = await client.send(quick.base, lead)
        assert again.body == sold.body and again.headers.get("Idempotent-Replayed") == "true"
    assert len(buyers.recorded("only").posts) == 1
