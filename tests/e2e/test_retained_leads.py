"""What the embedded store keeps per lead costs the garbage collector nothing.

A router keeps every lead's outcome, idempotency record and journal for hours. Were any of it held
in objects the collector tracks, each full collection would walk all of them: a pause that grows
with the leads retained (30-60 ms at 20-40k leads), which showed in scenario 2's answer-time tail
(docs/benchmarks.md). The store keeps atomic values (bytes, str, plain tuples of them) instead.
"""

from __future__ import annotations

import gc
import re
from collections import OrderedDict
from typing import Any

from pingtree.web.keys import LEDGER_WRITER, STORE
from tests.conftest import RouterClient, make_buyer, make_config, sample

CONTAINERS = (dict, OrderedDict, list, tuple, set, frozenset)


def collect() -> None:
    # A tuple is untracked once none of its items is tracked; a full collection walks the young
    # generation before the older one, so a second pass finds the tuples whose items the first
    # pass untracked (the router's frequent young collections see them in the other order).
    gc.collect()
    gc.collect()


def tracked_in_store(router: RouterClient) -> int:
    """How many objects the collector tracks among those the store holds: containers and the
    store's own objects, followed from the store the API uses."""
    seen: set[int] = set()
    todo: list[Any] = [router.app[STORE]]
    tracked = 0
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        tracked += gc.is_tracked(item)
        for inner in gc.get_referents(item):
            kind = type(inner)
            if kind in CONTAINERS or kind.__module__.startswith("pingtree.store"):
                todo.append(inner)
    return tracked


async def sell(router: RouterClient, first: int, count: int) -> None:
    for number in range(first, first + count):
        status, body, _ = await router.send(sample("mva-legal") | {"lead_id": f"kept-{number}"})
        assert status == 200 and body["status"] == "sold", body


async def test_retained_leads_add_nothing_for_the_collector_to_walk(buyers, start_router):
    buyers.set("a", bid=20)
    router = await start_router(make_config([make_buyer("a", buyers)]))
    # The store's outbox holds each lead's record until the ledger's writer files it (a tenth of
    # a second): drained, so what is counted is what the store keeps, not what is on its way.
    writer = router.app[LEDGER_WRITER]
    await sell(router, 0, 100)
    assert await writer.drain()
    collect()
    before = tracked_in_store(router)
    await sell(router, 100, 300)
    assert await writer.drain()
    collect()
    after = tracked_in_store(router)

    sizes = router.app[STORE].inner.sizes()
    assert sizes["outcomes"] == 400 and sizes["idempotency"] == 400, sizes
    # Was 2 per lead (a record object and its entry): 600 more here.
    assert after - before < 30, (before, after)


async def test_garbage_collections_are_timed_on_the_metrics_page(buyers, start_router):
    router = await start_router(make_config([make_buyer("a", buyers)]))
    gc.collect()  # a full collection, timed like any other
    async with router.session.get(router.url("/metrics")) as response:
        page = await response.text()
    full = re.search(r'^pingtree_gc_pause_seconds_count\{generation="2"\} (\S+)$', page, re.M)
    assert full is not None and float(full.group(1)) >= 1, page[-2000:]
    slowest = re.search(r'^pingtree_gc_pause_seconds_bucket\{generation="2",le="1.0"\}', page, re.M)
    assert slowest is not None
