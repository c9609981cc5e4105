"""Tie groups' turns (store/turns/, `Store.turns()`), as a contract every store keeps: memory,
SQLite and a real Redis (the `store` fixture of test_store.py). Then what only one store has: on
the state file the count survives a reopen; on Redis every router shares one counter per group,
one key in its own Cluster slot, that expires when the tie stops happening."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.asyncio import Redis

from pingtree.core.errors import StoreUnavailable
from pingtree.store.redis_keys import StateKeys
from pingtree.store.state.base import Store
from pingtree.store.state.guard import GuardedStore
from pingtree.store.state.redis import RedisStore
from pingtree.store.state.sqlite import SqliteStore
from pingtree.store.turns.base import TURN_TTL_S
from tests.redis_server import free_port
from tests.store.test_store import RETENTION, FakeClock, clock, store

__all__ = ["clock", "store"]  # the fixtures, shared with test_store.py

GROUP = "lawfirm-a,lawfirm-b,lawfirm-c"


async def test_a_groups_turns_count_from_one(store: Store) -> None:
    turns = store.turns()
    assert [await turns.next(GROUP) for _ in range(4)] == [1, 2, 3, 4]


async def test_each_group_counts_its_own_turns(store: Store) -> None:
    turns = store.turns()
    await turns.next(GROUP)
    await turns.next(GROUP)
    assert await turns.next("lawfirm-a,lawfirm-b") == 1
    assert await turns.next(GROUP) == 3


async def test_turns_asked_at_once_are_all_different(store: Store) -> None:
    turns = store.turns()
    given = await asyncio.gather(*(turns.next(GROUP) for _ in range(60)))
    assert sorted(given) == list(range(1, 61))


async def test_the_guarded_store_gives_the_same_turns(store: Store) -> None:
    guarded = GuardedStore(store)
    assert await guarded.turns().next(GROUP) == 1
    assert await store.turns().next(GROUP) == 2


async def test_turns_go_on_after_a_reopen_of_the_state_file(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "state.db"
    first = SqliteStore(path, RETENTION, clock=clock)
    assert [await first.turns().next(GROUP) for _ in range(3)] == [1, 2, 3]
    assert await first.turns().next("other") == 1
    await first.close()
    again = SqliteStore(path, RETENTION, clock=clock)
    assert await again.turns().next(GROUP) == 4
    assert await again.turns().next("other") == 2
    await again.close()


async def test_on_redis_every_router_shares_a_groups_counter(
    redis_url: str, clock: FakeClock
) -> None:
    routers = [RedisStore(redis_url, RETENTION, clock=clock, prefix="pt") for _ in range(3)]
    given = await asyncio.gather(
        *(router.turns().next(GROUP) for _ in range(40) for router in routers)
    )
    assert sorted(given) == list(range(1, 121))
    raw = Redis.from_url(redis_url)
    key = StateKeys("pt").turn(GROUP)
    assert key == "pt:{t:lawfirm-a,lawfirm-b,lawfirm-c}:turn"
    assert await raw.keys("pt:*turn*") == [key.encode()]
    assert 0 < await raw.ttl(key) <= TURN_TTL_S  # a tie that stops happening is forgotten
    await raw.aclose()
    for router in routers:
        await router.close()


async def test_a_redis_that_does_not_answer_is_store_unavailable(clock: FakeClock) -> None:
    gone = RedisStore(f"redis://127.0.0.1:{free_port()}", RETENTION, clock=clock)
    with pytest.raises(StoreUnavailable):
        await gone.turns().next(GROUP)
    await gone.close()
