"""The orchestrator's own guarantees, with an in-process transport: what happens when the router
itself fails midway (never a second sale), and that a replay never runs a second auction."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from pingtree.auction.router import Router
from pingtree.core.lead import parse_lead
from pingtree.metrics import Metrics
from pingtree.store.state.base import IdempotencyKey
from pingtree.store.state.memory import MemoryStore
from pingtree.transport.client import MockTransport
from tests.conftest import make_buyer, make_config, sample


def _router(handler, metrics: Metrics | None = None, **settings) -> tuple[Router, MemoryStore]:
    config = make_config([make_buyer("a"), make_buyer("b", priority=2)], router=settings)
    store = MemoryStore(config.router.retention)
    return Router(config, store, MockTransport(handler), metrics or Metrics()), store


def _bid(price: float) -> tuple[int, bytes]:
    return 200, orjson.dumps({"accepted": True, "bid": price})


async def test_a_crash_after_a_post_went_out_leaves_the_lead_pending_never_resold() -> None:
    posts: list[str] = []

    async def handler(url: str, body: bytes) -> tuple[int, bytes]:
        if url.endswith("/ping"):
            return _bid(30)
        posts.append(url)
        raise RuntimeError("the router broke while posting")

    router, store = _router(handler)
    seller = router.tree.sellers["acme-media"]
    lead = parse_lead(sample("mva-legal"))
    key = IdempotencyKey(seller.id, "k1", "f1")
    outcome, replayed = await router.submit(seller, lead, key)
    assert (outcome.status, outcome.reason, replayed) == ("pending", "router_error", False)
    assert await store.journal(outcome.id) == (outcome.buyer_id,)
    again, replayed = await router.submit(seller, lead, key)
    assert replayed and again.id == outcome.id and again.status == "pending"
    assert len(posts) == 1


async def test_a_crash_before_any_post_frees_the_key_for_a_resend() -> None:
    calls = 0

    async def handler(url: str, body: bytes) -> tuple[int, bytes]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the router broke while pinging")
        return _bid(30) if url.endswith("/ping") else (200, b'{"accepted": true}')

    router, _ = _router(handler, mode="parallel")
    seller = router.tree.sellers["acme-media"]
    lead = parse_lead(sample("mva-legal"))
    key = IdempotencyKey(seller.id, "k2", "f2")
    with pytest.raises(RuntimeError):
        await router.submit(seller, lead, key)
    outcome, replayed = await router.submit(seller, lead, key)
    assert outcome.status == "sold" and not replayed


async def test_a_cancelled_request_does_not_cancel_its_auction() -> None:
    posted = asyncio.Event()

    async def handler(url: str, body: bytes) -> tuple[int, bytes]:
        if url.endswith("/ping"):
            await asyncio.sleep(0.2)
            return _bid(30)
        posted.set()
        return 200, b'{"accepted": true, "buyer_lead_id": "x"}'

    metrics = Metrics()
    router, _ = _router(handler, metrics)
    seller = router.tree.sellers["acme-media"]
    request = asyncio.create_task(router.submit(seller, parse_lead(sample("mva-legal")), None))
    await asyncio.sleep(0.05)
    request.cancel()
    await asyncio.wait_for(posted.wait(), 2)
    for _ in range(50):  # the outcome is recorded just after the post's answer
        sold = metrics.registry.get_sample_value(
            "pingtree_leads_total", {"seller": "acme-media", "status": "sold"}
        )
        if sold:
            break
        await asyncio.sleep(0.01)
    assert sold == 1
