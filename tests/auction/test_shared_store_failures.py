"""A lead sold shared when the store fails between its shares (core/shares.py, auction/
shared_sale.py): the shares already sold stand (sold, recorded once the store is back), and no
further share is posted without its reservation and journal entry. The in-process world of
test_router_store_failures.py: a MemoryStore that fails on cue, a mock transport."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pingtree.auction.router import Router
from pingtree.core.errors import StoreUnavailable
from pingtree.metrics import Metrics
from pingtree.store.state.guard import GuardedStore
from pingtree.transport.client import MockTransport
from tests.auction.test_router_store_failures import (
    LEASE_S,
    Buyers,
    FailingStore,
    World,
    died_mid_auction,
)
from tests.conftest import SELLER_KEY, make_buyer, make_config
from tests.store.test_store import FakeClock

SHARED_SELLER = {
    "id": "acme-media",
    "api_key": SELLER_KEY,
    "revshare": 0.8,
    "sell": "shared",
    "max_buyers": 2,
}


def urls(buyer: str) -> dict[str, dict[str, str]]:
    return {step: {"url": f"http://{buyer}.test/{buyer}/{step}"} for step in ("ping", "post")}


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = FakeClock()
    store = FailingStore(clock)
    guard = GuardedStore(store, probe_every_s=0.01)
    buyers = Buyers()
    config = make_config(
        [make_buyer(b, shared=True, caps={"daily": 5}, **urls(b)) for b in ("a", "b")],
        router={"budget_ms": 2000, "post_reserve_ms": 500, "mode": "parallel"},
        sellers=[SHARED_SELLER],
    )
    router = Router(config, guard, MockTransport(buyers), Metrics())
    made = World(router, store, guard, buyers, clock, Metrics())
    yield made
    await guard.close()


@pytest.mark.parametrize(("method", "when"), [("reserve", "after"), ("journal_post", "before")])
async def test_a_store_failure_after_a_share_keeps_the_shares_sold(
    world: World, method: str, when: str
) -> None:
    world.store.fail(method, when, skip=1)  # a's passes; b's fails
    outcome, _ = await world.send(1)
    assert (outcome.status, [line.buyer_id for line in outcome.sales]) == ("sold", ["a"])
    assert world.buyers.posts == ["a"]  # b's share never went out
    await world.back()
    recorded = await world.store.get_outcome(outcome.id)
    assert recorded is not None and recorded.status == "sold" and recorded.shared


async def test_a_store_failure_before_any_share_is_a_503(world: World) -> None:
    world.store.fail("journal_post", "before")
    with pytest.raises(StoreUnavailable):
        await world.send(1)
    assert world.buyers.posts == []


async def test_a_resend_after_a_router_died_mid_shared_sale_posts_to_no_one_again(
    world: World,
) -> None:
    dead = await died_mid_auction(world, ("a", "b"))
    world.clock.advance(LEASE_S)
    outcome, replayed = await world.send(1)
    assert replayed and (outcome.id, outcome.status, outcome.reason) == (
        dead,
        "pending",
        "router_died",
    )
    assert world.buyers.pings == [] and world.buyers.posts == []  # no second auction
    # either may hold a share: the operator is shown both, in the order they were posted to
    assert [(e.buyer_id, e.result, e.reason) for e in outcome.trace] == [
        ("a", "unknown", "router_died"),
        ("b", "unknown", "router_died"),
    ]
    assert await world.store.journal_post(dead, "a") is False  # sealed: no post any more
