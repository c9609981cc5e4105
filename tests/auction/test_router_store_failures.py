"""The router when its store fails mid-auction, and when it takes over the key of an auction whose
router died (pingtree/auction/router.py's docstring has the table): never a second sale, never
a post without its journal entry, the seller always told the truth, and what could not be
written then written once the store is back. In-process: a MemoryStore that fails on cue, a mock
transport."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from pingtree.auction.router import Router
from pingtree.config import Retention
from pingtree.core.errors import StoreUnavailable, TakenOver
from pingtree.core.lead import parse_lead
from pingtree.core.outcome import Outcome
from pingtree.metrics import Metrics
from pingtree.store.state.base import Claimed, Done, IdempotencyKey
from pingtree.store.state.guard import GuardedStore
from pingtree.store.state.memory import MemoryStore
from pingtree.transport.client import MockTransport
from tests.conftest import make_buyer, make_config, sample
from tests.store.test_store import FakeClock

BUDGET_S = 2.0
LEASE_S = BUDGET_S + 2.0  # router._LEASE_GRACE_S


class FailingStore(MemoryStore):
    """A MemoryStore whose next call of a method fails, as a Redis that died would: `before` it
    ran, or `after` (it ran; only its answer was lost). `skip` calls pass first. While `down`,
    every call fails (the guard's probe included) until the test brings it back."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(Retention(), clock=clock)
        self.plan: dict[str, tuple[str, int]] = {}
        self.down = False

    def fail(self, method: str, when: str = "before", skip: int = 0) -> None:
        self.plan[method] = (when, skip)

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if name.startswith("_") or name in ("fail", "close", "sizes") or not callable(attribute):
            return attribute

        async def call(*args: Any, **kw: Any) -> Any:
            plan = self.plan.get(name)
            if plan is not None and plan[1] > 0:
                self.plan[name] = (plan[0], plan[1] - 1)
                plan = None
            if plan is not None:
                del self.plan[name]
                self.down = True
            if self.down and (plan is None or plan[0] == "before"):
                raise StoreUnavailable("the store did not answer (ConnectionError)")
            result = await attribute(*args, **kw)
            if plan is not None:
                raise StoreUnavailable("the store did not answer (TimeoutError)")
            return result

        return call


@dataclass
class Buyers:
    """The mock transport's buyers: a (priority 1, daily cap 1) bids 30, b (priority 2) bids 20;
    both accept posts unless told otherwise. Every post is kept."""

    accept: dict[str, bool] = field(default_factory=lambda: {"a": True, "b": True})
    ping_delay_s: float = 0.0
    posts: list[str] = field(default_factory=list)
    pings: list[str] = field(default_factory=list)

    async def __call__(self, url: str, body: bytes) -> tuple[int, bytes]:
        buyer = url.split("/")[-2]
        if url.endswith("/ping"):
            self.pings.append(buyer)
            await asyncio.sleep(self.ping_delay_s)
            return 200, orjson.dumps({"accepted": True, "bid": 30 if buyer == "a" else 20})
        self.posts.append(buyer)
        return 200, orjson.dumps({"accepted": self.accept[buyer], "buyer_lead_id": "x"})


@dataclass
class World:
    router: Router
    store: FailingStore
    guard: GuardedStore
    buyers: Buyers
    clock: FakeClock
    metrics: Metrics

    async def send(self, n: int = 1, key: str | None = None) -> tuple[Outcome, bool]:
        seller = self.router.tree.sellers["acme-media"]
        lead = parse_lead({**sample("mva-legal"), "phone": f"+1305555{1000 + n:04d}"})
        idempotency = IdempotencyKey(seller.id, key or f"k{n}", f"fp{n}")
        return await self.router.submit(seller, lead, idempotency)

    async def back(self) -> None:
        """The store answers again; wait until the guard's probe has flushed and marked it up."""
        self.store.down = False
        async with asyncio.timeout(2):
            while True:
                if self.guard.up:
                    return
                await asyncio.sleep(0.005)


def _urls(buyer: str) -> dict[str, dict[str, str]]:
    return {step: {"url": f"http://{buyer}.test/{buyer}/{step}"} for step in ("ping", "post")}


def _world(clock: FakeClock | None = None, store: FailingStore | None = None) -> World:
    clock = clock or FakeClock()
    store = store or FailingStore(clock)
    guard = GuardedStore(store, probe_every_s=0.01)
    buyers = Buyers()
    config = make_config(
        [
            make_buyer("a", caps={"daily": 1}, **_urls("a")),
            make_buyer("b", priority=2, **_urls("b")),
        ],
        router={"budget_ms": int(BUDGET_S * 1000), "post_reserve_ms": 500, "mode": "parallel"},
    )
    metrics = Metrics()
    router = Router(config, guard, MockTransport(buyers), metrics)
    return World(router, store, guard, buyers, clock, metrics)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    made = _world()
    yield made
    await made.guard.close()


# a failure before any post: 503, nothing sold, nothing held ---------------------------------------


@pytest.mark.parametrize(
    ("method", "when"),
    [
        ("claim_idempotency", "after"),  # the claim was written, its answer lost
        ("check", "before"),
        ("breaker_admit", "before"),
        ("reserve", "after"),  # the slot was taken, the answer lost
        ("journal_post", "before"),
        ("journal_post", "after"),  # journaled, but the post must not go out unjournaled...
    ],
)
async def test_a_failure_before_any_post_is_a_503_that_leaves_nothing_behind(
    world: World, method: str, when: str
) -> None:
    world.store.fail(method, when)
    with pytest.raises(StoreUnavailable):
        await world.send(1)
    assert world.buyers.posts == []
    with pytest.raises(StoreUnavailable):  # refused at the door while the store is down
        await world.send(2)
    await world.back()
    # The resend runs afresh (its claim was freed) and a's daily slot is still free: it sells to a.
    outcome, replayed = await world.send(1)
    assert (outcome.status, outcome.buyer_id, replayed) == ("sold", "a", False)
    assert world.buyers.posts == ["a"]


# a failure after the sale: the seller is told the truth, the store learns it later -------------


@pytest.mark.parametrize(
    ("method", "skip"),
    [
        ("breaker_record", 2),  # the post's (the two pings' came first)
        ("confirm", 0),
        ("record_outcome", 0),
        ("complete_idempotency", 0),
    ],
)
async def test_a_failure_after_the_sale_still_answers_sold_and_records_it_later(
    world: World, method: str, skip: int
) -> None:
    world.store.fail(method, "before", skip=skip)
    outcome, _ = await world.send(1)
    assert (outcome.status, outcome.buyer_id) == ("sold", "a")
    assert not world.guard.up
    await world.back()
    recorded = await world.store.get_outcome(outcome.id)
    assert recorded is not None and recorded.status == "sold"
    again, replayed = await world.send(1)
    assert replayed and again.id == outcome.id
    # a's one daily slot stays taken by the sale, confirmed or not: the next lead goes to b.
    other, _ = await world.send(2)
    assert other.buyer_id == "b"
    assert world.buyers.posts == ["a", "b"]


async def test_a_failure_after_a_refused_post_ends_unsold_and_frees_the_slot_later(
    world: World,
) -> None:
    world.buyers.accept["a"] = False
    world.store.fail("release", "before")  # a's refused post: its slot cannot be freed now
    outcome, _ = await world.send(1)
    # b's post needs a journal entry the store cannot write: it never goes out.
    assert (outcome.status, outcome.reason) == ("unsold", "store_unavailable")
    assert world.buyers.posts == ["a"]
    await world.back()
    assert (await world.store.get_outcome(outcome.id)).status == "unsold"  # type: ignore[union-attr]
    world.buyers.accept["a"] = True
    sold, _ = await world.send(2)
    assert sold.buyer_id == "a"  # the slot was freed once the store came back


# takeovers: the router that ran the auction died --------------------------------------------------


async def died_mid_auction(world: World, posted_to: tuple[str, ...]) -> str:
    """What a router that died leaves behind: a claim for its auction and its journal."""
    key = IdempotencyKey("acme-media", "k1", "fp1")
    claim = await world.store.claim_idempotency(key, 86400, lead_id="ld_dead", lease_s=LEASE_S)
    assert claim == Claimed()
    for buyer in posted_to:
        assert await world.store.journal_post("ld_dead", buyer)
    return "ld_dead"


async def test_a_resend_within_the_lease_waits_for_the_first_auction(world: World) -> None:
    await died_mid_auction(world, ("a",))
    world.clock.advance(LEASE_S - 1)
    resend = asyncio.create_task(world.send(1))
    await asyncio.sleep(0.05)
    assert not resend.done() and world.buyers.pings == []
    resend.cancel()


async def test_a_resend_after_the_lease_of_an_auction_that_posted_is_pending(world: World) -> None:
    dead = await died_mid_auction(world, ("b", "a"))
    world.clock.advance(LEASE_S)
    outcome, replayed = await world.send(1)
    assert replayed
    assert (outcome.id, outcome.status, outcome.reason) == (dead, "pending", "router_died")
    assert outcome.buyer_id == "a"  # the last buyer it posted to
    assert world.buyers.pings == [] and world.buyers.posts == []  # no second auction
    recorded = await world.store.get_outcome(dead)
    assert recorded is not None and recorded.status == "pending"
    assert [(e.buyer_id, e.step, e.reason) for e in recorded.trace] == [
        ("a", "post", "router_died")
    ]
    # The journal is sealed (a stalled router could not post any more) and the key answered.
    assert await world.store.journal_post(dead, "b") is False
    again, replayed = await world.send(1)
    assert replayed and (again.id, again.status) == (dead, "pending")
    assert world.metrics.registry.get_sample_value(
        "pingtree_leads_total", {"seller": "acme-media", "status": "pending"}
    )


async def test_a_resend_after_the_lease_of_an_auction_that_never_posted_runs_anew(
    world: World,
) -> None:
    dead = await died_mid_auction(world, ())
    world.clock.advance(LEASE_S)
    outcome, replayed = await world.send(1)
    assert not replayed and outcome.id != dead
    assert (outcome.status, outcome.buyer_id) == ("sold", "a")
    assert world.buyers.posts == ["a"]
    assert await world.store.journal_post(dead, "a") is False


async def test_an_auction_that_recorded_but_never_answered_gives_its_own_outcome(
    world: World,
) -> None:
    dead = await died_mid_auction(world, ("a",))
    sold = Outcome(
        id=dead, seller_id="acme-media", status="sold", received_at="x", auction_ms=5, buyer_id="a"
    )
    await world.store.record_outcome(sold)
    world.clock.advance(LEASE_S)
    outcome, replayed = await world.send(1)
    assert replayed and (outcome.id, outcome.status, outcome.buyer_id) == (dead, "sold", "a")
    answered = await world.store.claim_idempotency(
        IdempotencyKey("acme-media", "k1", "fp1"), 86400, lead_id="ld_x", lease_s=1
    )
    assert isinstance(answered, Done) and answered.outcome.status == "sold"


async def test_two_dead_auctions_in_a_row_are_both_read(world: World) -> None:
    """The first died after posting; the one that took it over died before it read the journal."""
    dead = await died_mid_auction(world, ("a",))
    world.clock.advance(LEASE_S)
    key = IdempotencyKey("acme-media", "k1", "fp1")
    taken = await world.store.claim_idempotency(key, 86400, lead_id="ld_dead2", lease_s=LEASE_S)
    assert taken == Claimed((dead,))
    world.clock.advance(LEASE_S)
    outcome, replayed = await world.send(1)
    assert replayed and (outcome.id, outcome.status, outcome.buyer_id) == (dead, "pending", "a")
    assert world.buyers.posts == []


async def test_a_stalled_router_taken_over_cannot_post_any_more(world: World) -> None:
    """Two routers on one store: the first outlives its lease mid-ping (a long GC pause, a VM
    stolen away); a resend through the second takes the lead over. The first's post is refused
    by its sealed journal, so only the second's auction sells."""
    second = Router(world.router.tree.config, world.guard, MockTransport(world.buyers), Metrics())
    world.buyers.ping_delay_s = 0.3
    stalled = asyncio.create_task(world.send(1))
    await asyncio.sleep(0.1)  # the first is pinging
    world.clock.advance(LEASE_S)
    world.buyers.ping_delay_s = 0.0
    seller = second.tree.sellers["acme-media"]
    lead = parse_lead({**sample("mva-legal"), "phone": "+13055551001"})
    outcome, replayed = await second.submit(seller, lead, IdempotencyKey("acme-media", "k1", "fp1"))
    assert (outcome.status, outcome.buyer_id, replayed) == ("sold", "a", False)
    with pytest.raises(TakenOver):
        await stalled
    assert world.buyers.posts == ["a"]
    # The stalled auction freed what it reserved: a's one daily slot is the second's sale.
    assert (await world.send(2))[0].buyer_id == "b"
