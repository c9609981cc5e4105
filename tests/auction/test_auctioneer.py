"""What an auction hands back (pingtree/auction/result.py): an `AuctionResult` with the outcome
and the offer that won, or, when the store fails midway, `StoreFailedMidAuction` with what the
auction knew; and one wall clock reading per auction. In-process: a MemoryStore (one that fails
on cue from test_router_store_failures.py), a mock transport."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from pingtree.auction.auctioneer import Auctioneer
from pingtree.auction.bidder import Bidder
from pingtree.auction.live import LiveAuction, loop_time
from pingtree.auction.result import AuctionResult, StoreFailedMidAuction
from pingtree.config import Config, Retention
from pingtree.config.tree import Tree
from pingtree.core.lead import parse_lead
from pingtree.core.rules import cap_windows
from pingtree.store.state.base import CapRequest, Refused
from pingtree.store.state.guard import GuardedStore
from pingtree.store.state.memory import MemoryStore
from pingtree.transport.client import MockTransport
from tests.auction.test_router_store_failures import FailingStore
from tests.conftest import make_buyer, make_config, sample
from tests.store.test_store import FakeClock

Handler = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]


def _urls(buyer: str, post_timeout_ms: int = 1000) -> dict[str, dict[str, Any]]:
    return {
        "ping": {"url": f"http://{buyer}.test/{buyer}/ping"},
        "post": {"url": f"http://{buyer}.test/{buyer}/post", "timeout_ms": post_timeout_ms},
    }


def _config(**a: Any) -> Config:
    """a (priority 1) and b (priority 2, at most 5 a day), tiered: a is asked first."""
    return make_config(
        [
            make_buyer("a", **{**_urls("a"), **a}),
            make_buyer("b", priority=2, caps={"daily": 5}, **_urls("b")),
        ],
        router={"timezone": "America/New_York"},
    )


class Market:
    """Bids: a 30 (bid id bid-a), b 20. `posts` says how each buyer answers a post: "yes",
    "no" or "hang" (past its post timeout). Every ping body and post is kept."""

    def __init__(self, **posts: str) -> None:
        self.posts = {"a": "yes", "b": "yes", **posts}
        self.pings: dict[str, dict[str, Any]] = {}
        self.posted: list[str] = []

    async def __call__(self, url: str, body: bytes) -> tuple[int, bytes]:
        buyer = url.split("/")[-2]
        if url.endswith("/ping"):
            self.pings[buyer] = orjson.loads(body)
            bid = {"a": 30, "b": 20}[buyer]
            return 200, orjson.dumps({"accepted": True, "bid": bid, "bid_id": f"bid-{buyer}"})
        self.posted.append(buyer)
        if self.posts[buyer] == "hang":
            await asyncio.sleep(1)
        return 200, orjson.dumps({"accepted": self.posts[buyer] == "yes"})


@pytest.fixture
async def guard() -> AsyncIterator[GuardedStore]:
    store = GuardedStore(MemoryStore(Retention()), probe_every_s=0.01)
    yield store
    await store.close()


def _open(config: Config, **changes: Any) -> LiveAuction:
    tree = Tree(config, fallback_secret=b"s" * 32)
    lead = parse_lead(sample("mva-legal"))
    auction = LiveAuction.open(tree, tree.sellers["acme-media"], lead, loop_time())
    return dataclasses.replace(auction, **changes)


async def _run(guard: GuardedStore, market: Handler, auction: LiveAuction) -> AuctionResult:
    return await Auctioneer(guard, Bidder(MockTransport(market))).run(auction)


async def test_a_sale_comes_back_with_the_offer_that_won(guard: GuardedStore) -> None:
    market = Market()
    result = await _run(guard, market, _open(_config()))
    outcome, won = result.outcome, result.won
    assert (outcome.status, outcome.buyer_id, outcome.price) == ("sold", "a", Decimal(30))
    assert won is not None and (won.buyer_id, won.price) == ("a", Decimal(30))
    # What the deliveries carry on: the ids of the ping that won.
    assert (won.ping_id, won.bid_id) == (market.pings["a"]["ping_id"], "bid-a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.won = None  # type: ignore[misc]


@pytest.mark.parametrize(
    ("posts", "status", "reason"),
    [
        pytest.param({"a": "no", "b": "no"}, "unsold", "no_buyer_accepted", id="both said no"),
        pytest.param({"a": "hang"}, "pending", "post_unknown", id="a's post timed out: stop"),
    ],
)
async def test_no_sale_no_offer_won(
    guard: GuardedStore, posts: dict[str, str], status: str, reason: str
) -> None:
    config = _config(post={"url": "http://a.test/a/post", "timeout_ms": 150})
    result = await _run(guard, Market(**posts), _open(config))
    assert (result.outcome.status, result.outcome.reason, result.won) == (status, reason, None)


@pytest.mark.parametrize(
    ("a", "posts", "fail", "posted", "unknown_post"),
    [
        pytest.param({}, {}, ("check", 0), False, None, id="b's cap check, before any ping"),
        pytest.param(
            {}, {"a": "no"}, ("reserve", 0), True, None, id="b's reserve, after a said no"
        ),
        pytest.param(
            {"on_post_timeout": "next"},
            {"a": "hang"},
            ("journal_post", 1),
            True,
            "a",
            id="b's journal, after a's post timed out and the lead went on",
        ),
    ],
)
async def test_a_store_failing_midway_says_what_the_auction_knew(
    a: dict[str, Any],
    posts: dict[str, str],
    fail: tuple[str, int],
    posted: bool,
    unknown_post: str | None,
) -> None:
    store = FailingStore(FakeClock())
    guard = GuardedStore(store, probe_every_s=0.01)
    config = _config(post={"url": "http://a.test/a/post", "timeout_ms": 150}, **a)
    store.fail(fail[0], skip=fail[1])
    try:
        with pytest.raises(StoreFailedMidAuction) as failed:
            await _run(guard, Market(**posts), _open(config))
    finally:
        await guard.close()
    assert (failed.value.posted, failed.value.unknown_post) == (posted, unknown_post)
    assert (failed.value.status, failed.value.code) == (503, "unavailable")  # to the seller


async def test_caps_count_a_sale_in_the_hour_the_lead_was_received(guard: GuardedStore) -> None:
    """One wall clock reading per auction: the cap's hour is the one the lead came in, whatever
    the clock says when the post goes out."""
    config = make_config([make_buyer("a", caps={"hourly": 1}, **_urls("a"))])
    received_at = datetime.now(UTC) - timedelta(hours=3)
    result = await _run(guard, Market(), _open(config, received_at=received_at))
    assert result.outcome.status == "sold"

    def one_more(at: datetime) -> CapRequest:
        buyer = config.buyers[0]
        windows = cap_windows(at, config.buyer_timezone(buyer))
        return CapRequest("a", "next-lead", buyer.caps, windows, Decimal(30))

    assert await guard.check(one_more(received_at)) == Refused("cap:hourly")
    assert await guard.check(one_more(datetime.now(UTC))) is None
