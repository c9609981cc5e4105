"""loop_lag.py against a real event loop made to stand still (time.sleep): how late it ran over a
call's span, counting the tick overdue now."""

from __future__ import annotations

import asyncio
import time

import pytest

from pingtree.auction.loop_lag import LoopLag

EVERY_S = 0.01


async def test_a_loop_on_time_is_not_late() -> None:
    lag = LoopLag(every_s=EVERY_S)
    lag.start()
    since = asyncio.get_running_loop().time()
    await asyncio.sleep(0.1)
    assert lag.worst_since(since) < 0.05
    await lag.stop()


async def test_a_loop_that_stood_still_was_late_over_the_span_that_saw_it() -> None:
    ticks: list[float] = []
    lag = LoopLag(every_s=EVERY_S, on_tick=ticks.append)
    lag.start()
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0.05)
    since = loop.time()
    time.sleep(0.3)  # noqa: ASYNC251 - the loop stands still
    assert lag.worst_since(since) >= 0.29  # the tick overdue now
    await asyncio.sleep(0.02)
    assert lag.worst_since(since) >= 0.29  # the tick that fired late
    assert max(ticks) >= 0.29
    assert lag.worst_since(loop.time()) < 0.05  # a span after it saw none of it
    await lag.stop()


async def test_not_running_it_knows_of_no_lag() -> None:
    lag = LoopLag(every_s=EVERY_S)
    assert lag.worst_since(0.0) == 0.0
    lag.start()
    await lag.stop()
    time.sleep(0.05)  # noqa: ASYNC251
    assert lag.worst_since(0.0) == 0.0


@pytest.mark.parametrize("every_s", [0.005, 0.025])
async def test_only_the_kept_span_is_kept(every_s: float) -> None:
    lag = LoopLag(every_s=every_s, keep_s=0.05)
    lag.start()
    await asyncio.sleep(0.2)
    assert len(lag._ticks) <= 0.05 / every_s + 2
    await lag.stop()
