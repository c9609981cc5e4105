"""The HeldBids protocol (pingtree/store/held/base.py) as a contract every store's held bids keep:
memory, SQLite (the state file) and Redis (the session's redis-server, a one-node Cluster), each
reached the way the router reaches it, through its store's `held_bids()`. Time moves on the
stores' clock for memory and SQLite, and by waiting on Redis (which expires its keys itself)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from pingtree.store.held.base import HeldBids
from pingtree.store.redis_keys import StateKeys
from pingtree.store.state.base import Store
from pingtree.store.state.memory import MemoryStore
from pingtree.store.state.redis import RedisStore
from pingtree.store.state.sqlite import SqliteStore

KEEP_S = 0.3  # a hold's life in these tests: short to wait out on Redis


class Clock:
    """The wall clock, moved on by a test (memory and SQLite read it; Redis keeps its own)."""

    def __init__(self) -> None:
        self.ahead_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead_s


@dataclass
class Backend:
    store: Store
    clock: Clock
    redis: bool

    @property
    def held(self) -> HeldBids:
        return self.store.held_bids()

    async def lapse(self, seconds: float = KEEP_S + 0.1) -> None:
        if self.redis:
            await asyncio.sleep(seconds)
        else:
            self.clock.ahead_s += seconds


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    clock = Clock()
    if request.param == "memory":
        store: Store = MemoryStore(clock=clock)
    elif request.param == "sqlite":
        store = SqliteStore(tmp_path / "state.db", clock=clock)
    else:
        store = RedisStore(request.getfixturevalue("redis_url"), clock=clock)
    yield Backend(store, clock, request.param == "redis")
    await store.close()


async def test_a_hold_is_read_back_as_it_was_kept(backend: Backend) -> None:
    body = bytes(range(256)) + b"\n" + b'{"quote": "24.00"}'
    await backend.held.hold("acme-media", "pg_1", body, 60)
    assert await backend.held.get("acme-media", "pg_1") == body
    assert backend.store.held_bids() is backend.held  # the same one every call


async def test_a_hold_is_the_sellers_own(backend: Backend) -> None:
    await backend.held.hold("acme-media", "pg_1", b"acme's", 60)
    await backend.held.hold("other-media", "pg_1", b"other's", 60)
    assert await backend.held.get("acme-media", "pg_1") == b"acme's"
    assert await backend.held.get("other-media", "pg_1") == b"other's"
    assert await backend.held.get("third-media", "pg_1") is None
    assert await backend.held.get("acme-media", "pg_2") is None


async def test_a_hold_is_gone_once_kept_long_enough(backend: Backend) -> None:
    await backend.held.hold("acme-media", "pg_short", b"short", KEEP_S)
    await backend.held.hold("acme-media", "pg_long", b"long", 60)
    await backend.lapse()
    assert await backend.held.get("acme-media", "pg_short") is None
    assert await backend.held.get("acme-media", "pg_long") == b"long"


async def test_a_hold_kept_again_replaces_the_first(backend: Backend) -> None:
    await backend.held.hold("acme-media", "pg_1", b"first", KEEP_S)
    await backend.held.hold("acme-media", "pg_1", b"second", 60)
    await backend.lapse()
    assert await backend.held.get("acme-media", "pg_1") == b"second"


async def test_a_hold_on_the_state_file_outlives_its_store(tmp_path: Path) -> None:
    # A router restarted between a ping and its post still knows the ping.
    first = SqliteStore(tmp_path / "state.db")
    await first.held_bids().hold("acme-media", "pg_1", b"held", 60)
    await first.close()
    again = SqliteStore(tmp_path / "state.db")
    try:
        assert await again.held_bids().get("acme-media", "pg_1") == b"held"
    finally:
        await again.close()


async def test_a_hold_on_redis_is_one_key_with_its_own_slot_and_ttl(redis_url: str) -> None:
    # Shared by every router on the server: another store (another router) reads it.
    one, two = RedisStore(redis_url), RedisStore(redis_url)
    try:
        await one.held_bids().hold("acme-media", "pg_1", b"held", 60)
        assert await two.held_bids().get("acme-media", "pg_1") == b"held"
        key = StateKeys().held_ping("acme-media", "pg_1")
        assert key == "pingtree:{h:acme-media:pg_1}:held"
        raw = Redis.from_url(redis_url)
        try:
            assert 0 < await raw.pttl(key) <= 60_000
            assert key_slot(key.encode()) == key_slot(b"{h:acme-media:pg_1}")
        finally:
            await raw.aclose()
    finally:
        await one.close()
        await two.close()
