"""Fixtures of the tests that run `pingtree serve` processes (router_processes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.buyers import BuyerServer, BuyerThread
from tests.e2e.router_processes import StartRouters, routers


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[StartRouters]:
    """Start routers (`await start(config, redis_url, count=3)`); stopped with the test."""
    async with routers(tmp_path) as start_routers:
        yield start_routers


@pytest.fixture
async def own_loop_buyers() -> AsyncIterator[BuyerServer]:
    """Buyers answering from their own loop and thread (tests/buyers.py, BuyerThread), not from
    behind the test's own sends, which keep its loop busy."""
    thread = BuyerThread()
    yield await thread.start()
    await thread.close()
