"""The added suppression entries (pingtree/store/suppression/base.py) as a contract every store
keeps, through `Store.suppression()`: memory, the state file, and Redis (the session's server, a
one-node Cluster). Then what is each one's own: the state file keeps them across a restart, Redis
shares them between routers, in one slot, as 8-byte digests; a Redis that does not answer is
StoreUnavailable (the gate refuses the lead), and through the guarded store it marks the store
down, so the next lookup is refused at once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from pingtree.core.errors import StoreUnavailable
from pingtree.store.redis_keys import SuppressionKeys
from pingtree.store.state.base import Store
from pingtree.store.state.guard import GuardedStore
from pingtree.store.state.memory import MemoryStore
from pingtree.store.state.redis import RedisStore
from pingtree.store.state.sqlite import SqliteStore
from tests.redis_server import free_port

A, B, C = 2**64 - 1, 7, 2**40 + 3  # digests: the whole unsigned 64-bit range


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "redis":
        made: Store = RedisStore(request.getfixturevalue("redis_url"))
    elif request.param == "sqlite":
        made = SqliteStore(str(tmp_path / "state.db"))
    else:
        made = MemoryStore()
    yield made
    await made.close()


async def test_added_entries_are_kept_once_and_found_in_one_call(store: Store) -> None:
    entries = store.suppression()
    assert await entries.add("dnc", [A, B, A]) == 2
    assert await entries.add("dnc", [B, C]) == 1
    assert await entries.add("optouts", [C]) == 1
    assert await entries.sizes(["dnc", "optouts", "never"]) == {"dnc": 3, "optouts": 1, "never": 0}
    assert await entries.matching({"dnc": [A], "optouts": [A]}) == {"dnc"}
    assert await entries.matching({"dnc": [99, C], "optouts": [C], "never": [C]}) == {
        "dnc",
        "optouts",
    }
    assert await entries.matching({"dnc": [99]}) == frozenset()
    assert await entries.matching({}) == frozenset()


async def test_the_state_file_keeps_them_across_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    first = SqliteStore(path)
    await first.suppression().add("dnc", [A, B])
    await first.close()
    again = SqliteStore(path)
    try:
        assert await again.suppression().matching({"dnc": [A]}) == {"dnc"}
        assert await again.suppression().sizes(["dnc"]) == {"dnc": 2}
    finally:
        await again.close()


async def test_redis_shares_them_in_one_slot_as_eight_byte_digests(redis_url: str) -> None:
    one, other = RedisStore(redis_url, prefix="pt-test"), RedisStore(redis_url, prefix="pt-test")
    raw = Redis.from_url(redis_url)
    try:
        await one.suppression().add("dnc", [A])
        await one.suppression().add("optouts", [B])
        assert await other.suppression().matching({"dnc": [A], "optouts": [B]}) == {
            "dnc",
            "optouts",
        }
        keys = SuppressionKeys("pt-test")
        assert {key_slot(keys.entries("dnc").encode()), key_slot(keys.entries("x").encode())} == {
            key_slot(b"{x}")
        }
        assert await raw.smembers(keys.entries("dnc")) == {A.to_bytes(8)}
    finally:
        await raw.aclose()
        await one.close()
        await other.close()


async def test_a_redis_that_does_not_answer_is_store_unavailable() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", connect_timeout_s=0.2)
    try:
        with pytest.raises(StoreUnavailable):
            await store.suppression().matching({"dnc": [A]})
        with pytest.raises(StoreUnavailable):
            await store.suppression().add("dnc", [A])
    finally:
        await store.close()


async def test_through_the_guard_a_failed_lookup_marks_the_store_down_then_refuses() -> None:
    guarded = GuardedStore(RedisStore(f"redis://127.0.0.1:{free_port()}/0", connect_timeout_s=0.2))
    try:
        with pytest.raises(StoreUnavailable):
            await guarded.suppression().matching({"dnc": [A]})
        assert not guarded.up
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await guarded.suppression().matching({"dnc": [A]})
        assert time.monotonic() - started < 0.05  # no connection tried: refused
    finally:
        await guarded.close()
