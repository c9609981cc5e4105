"""One buyer's exchange (pingtree/auction/bidder.py): a bid read into the offer it makes, a
buyer's words traced without the lead's PII or the buyer's secrets, a post's answer traced as
what it means, and a timeout while this router's loop ran late kept out of the buyer's breaker.
In-process: a MemoryStore, a mock transport, a loop lag told what to say."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import orjson
import pytest

from pingtree.auction.bidder import Bidder
from pingtree.auction.live import LiveAuction, loop_time
from pingtree.auction.loop_lag import LoopLag
from pingtree.auction.wire import Wire
from pingtree.config import BuyerConfig
from pingtree.config.tree import Tree
from pingtree.core.codec import Accepted, Decline, Failure, Unknown
from pingtree.core.lead import parse_lead
from pingtree.core.ranking import Offer
from pingtree.core.rules import BidLimits
from pingtree.metrics import Metrics
from pingtree.transport.client import MockTransport
from tests.conftest import make_buyer, make_config, sample

PHONE, EMAIL = "+13055551234", "maria.gonzalez@example.com"  # the sample lead's
KEY = "buyer-key-5678"  # in the buyer's URLs: a secret the trace must not quote back
LIMITS = BidLimits(Decimal(1), Decimal(1000), None)


def breaker_calls(rig: Rig) -> list[tuple[str, bool]]:
    """What the auction will count in the breakers with its last writes (Store.finish)."""
    return [(call.buyer_id, call.ok) for call in rig.auction.breaker_calls]


class LateLoop(LoopLag):
    """A loop that ran `late_s` behind over any span asked about."""

    def __init__(self, late_s: float) -> None:
        super().__init__()
        self.late_s = late_s

    def worst_since(self, since: float) -> float:
        return self.late_s


class Rig:
    def __init__(self, answer: Any, late_s: float = 0.0) -> None:
        self.answer = answer  # (status, body), or seconds to hang
        self.metrics = Metrics()
        transport = MockTransport(self._buyer)
        self.bidder = Bidder(transport, LateLoop(late_s), self.metrics)
        urls = {
            "ping": {"url": f"http://firm.test/ping?key={KEY}"},
            "post": {"url": f"http://firm.test/post?key={KEY}"},
        }
        config = make_config([make_buyer("firm", **urls)])
        tree = Tree(config, fallback_secret=b"s" * 32)
        lead = parse_lead(sample("mva-legal"))
        self.auction = LiveAuction.open(tree, tree.sellers["acme-media"], lead, loop_time())
        self.wire = Wire(self.auction)
        self.buyer: BuyerConfig = tree.buyers["firm"]
        self.sent: list[dict[str, Any]] = []

    async def _buyer(self, url: str, body: bytes) -> tuple[int, bytes]:
        self.sent.append(orjson.loads(body))
        if isinstance(self.answer, float):
            await asyncio.sleep(self.answer)
        status, answer = self.answer
        return status, orjson.dumps(answer)

    async def ping(self, timeout_s: float = 0.5) -> Offer | None:
        return await self.bidder.ping(self.auction, self.wire, self.buyer, timeout_s, LIMITS, 4)

    async def post(self, timeout_s: float = 0.5) -> object:
        offer = Offer(buyer_id="firm", price=Decimal(30), priority=1, answered_ms=5, order=4)
        built = self.wire.post(self.buyer, offer)
        assert isinstance(built, tuple)
        return await self.bidder.post(self.auction, self.buyer, offer, built, timeout_s)

    def excused(self) -> float:
        value = self.metrics.registry.get_sample_value(
            "pingtree_breaker_excused_timeouts_total", {"buyer": "firm"}
        )
        return value or 0.0


async def test_a_bid_is_read_into_the_offer_it_makes() -> None:
    answer = {"accepted": True, "bid": 31.5, "bid_id": "b-9", "expires_in_ms": 400}
    firm = Rig((200, answer))
    offer = await firm.ping()
    assert offer is not None
    (event,) = firm.auction.trace
    assert (event.step, event.result, event.bid) == ("ping", "bid", Decimal("31.50"))
    assert offer == Offer(
        buyer_id="firm",
        price=Decimal("31.50"),
        priority=1,
        answered_ms=event.at_ms,
        order=4,
        ping_id=firm.sent[0]["ping_id"],
        bid_id="b-9",
        expires_at_ms=event.at_ms + 400,
    )
    assert breaker_calls(firm) == [("firm", True)]


async def test_a_buyers_words_are_traced_without_pii_or_its_secrets() -> None:
    said = f"dup {PHONE} / {EMAIL}, key={KEY}"
    firm = Rig((200, {"accepted": False, "reason": said}))
    assert await firm.ping() is None
    (event,) = firm.auction.trace
    assert (event.result, event.reason) == ("declined", "declined")
    assert event.detail is not None and event.detail.startswith("dup ")
    for secret in (PHONE, EMAIL, KEY):
        assert secret not in event.detail


@pytest.mark.parametrize(
    ("answer", "meaning", "result", "reason"),
    [
        pytest.param((200, {"accepted": True}), Accepted, "accepted", None, id="yes"),
        pytest.param(
            (200, {"accepted": False, "reason": f"no {KEY}"}),
            Decline,
            "rejected",
            "post_rejected",
            id="no",
        ),
        pytest.param((500, {}), Failure, "failed", "http_error", id="a 500"),
        pytest.param(1.0, Unknown, "unknown", "post_unknown", id="no answer in time"),
    ],
)
async def test_a_posts_answer_is_traced_as_what_it_means(
    answer: Any, meaning: type, result: str, reason: str | None
) -> None:
    firm = Rig(answer)
    assert isinstance(await firm.post(timeout_s=0.2), meaning)
    (event,) = firm.auction.trace
    assert (event.step, event.result, event.reason, event.bid) == (
        "post",
        result,
        reason,
        Decimal(30),
    )
    assert KEY not in (event.detail or "")


@pytest.mark.parametrize(("late_s", "counted"), [(0.0, True), (0.5, False)])
async def test_a_timeout_while_this_routers_loop_ran_late_is_not_held_against_the_buyer(
    late_s: float, counted: bool
) -> None:
    firm = Rig(1.0, late_s=late_s)
    assert await firm.ping(timeout_s=0.05) is None
    (event,) = firm.auction.trace
    assert (event.result, event.reason) == ("failed", "timeout")
    assert breaker_calls(firm) == ([("firm", False)] if counted else [])
    assert ("not counted against the buyer's breaker" in (event.detail or "")) is not counted
    assert firm.excused() == (0 if counted else 1)
