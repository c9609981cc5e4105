"""Round trips to Redis, counted (store/redis_client.py): one per request a pool of pingtree's
writes, whatever the request carries. Proved against the session's real redis-server with a known
number of commands, pipelines and script calls, and against the server's own count of what it
ran (INFO commandstats): a pipeline of ten commands is ten commands to Redis and one round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from redis.asyncio import Redis
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection

from pingtree.store.outbox.base import Entry
from pingtree.store.outbox.redis import RedisOutbox
from pingtree.store.queue.redis import RedisQueue
from pingtree.store.redis_client import client_for, round_trips
from pingtree.store.state.redis import RedisStore
from tests.redis_server import RedisServer

POOL = {"connect_timeout_s": 1.0, "timeout_s": 1.0, "max_connections": 4, "pool_timeout_s": 2.0}


class Counted:
    """What one part's count grew by since `start()`."""

    def __init__(self, part: str) -> None:
        self.part = part
        self.start()

    def start(self) -> None:
        self._before = round_trips()[self.part]

    def grew(self) -> int:
        return round_trips()[self.part] - self._before


def commands_run(server: RedisServer) -> dict[str, int]:
    """The server's own count: each command it ran, by name (a script's own commands apart)."""
    with redis.Redis(host="127.0.0.1", port=server.port, socket_timeout=1) as plain:
        stats: dict[str, Any] = plain.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(stat["calls"]) for name, stat in stats.items()}


def ran_since(server: RedisServer, before: dict[str, int], *names: str) -> int:
    after = commands_run(server)
    return sum(after.get(name, 0) - before.get(name, 0) for name in names)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    """A pool as the store makes one (counted as `state`), with no connection open yet."""
    made = client_for(redis_url, "RedisStore", **POOL)
    yield made
    await made.aclose()


async def test_a_command_a_pipeline_and_a_script_call_are_one_round_trip_each(
    client: Redis, redis_server: RedisServer
) -> None:
    state = Counted("state")
    await client.ping()  # the pool's first connection: its handshake is not counted
    assert state.grew() == 1

    state.start()
    for n in range(5):
        await client.set(f"rt:{{t}}:{n}", n)
    assert state.grew() == 5

    for times, transaction in enumerate((False, True), start=1):
        before = commands_run(redis_server)
        state.start()
        async with client.pipeline(transaction=transaction) as pipe:
            for n in range(10):
                pipe.incr(f"rt:{{t}}:{n}")
            answers = await pipe.execute()
        assert answers == [n + times if n < 5 else times for n in range(10)]
        assert state.grew() == 1, transaction  # ten commands in one write, answers read together
        # redis-py sends INCR as INCRBY 1
        assert ran_since(redis_server, before, "incr", "incrby") == 10


async def test_a_script_is_one_round_trip_and_its_reload_two_more(
    client: Redis, redis_server: RedisServer
) -> None:
    script = client.register_script("return redis.call('INCR', KEYS[1])")
    with redis.Redis(host="127.0.0.1", port=redis_server.port, socket_timeout=1) as plain:
        plain.script_flush()  # as after a restart of Redis: the script is unknown to it
    state = Counted("state")
    before = commands_run(redis_server)
    assert await script(keys=["rt:{t}:s"]) == 1  # EVALSHA: NOSCRIPT; SCRIPT LOAD; EVALSHA
    assert state.grew() == 3
    state.start()
    for n in range(2, 5):
        assert await script(keys=["rt:{t}:s"]) == n
    assert state.grew() == 3
    assert ran_since(redis_server, before, "evalsha") == 5  # the one refused is counted too


async def test_a_script_queued_on_a_pipeline_costs_a_script_exists_first(
    client: Redis, redis_server: RedisServer
) -> None:
    """redis-py asks SCRIPT EXISTS before a pipeline holding a Script object, every time (then
    SCRIPT LOAD for what is missing): a round trip more than the pipeline. EVALSHA queued by
    its sha alone goes in the one write."""
    script = client.register_script("return redis.call('INCR', KEYS[1])")
    await script(keys=["rt:{t}:p"])  # known to Redis from here on
    state = Counted("state")
    before = commands_run(redis_server)
    async with client.pipeline(transaction=False) as pipe:
        for _ in range(3):
            await script(keys=["rt:{t}:p"], client=pipe)
        assert await pipe.execute() == [2, 3, 4]
    assert state.grew() == 2
    assert ran_since(redis_server, before, "script|exists") == 1
    state.start()
    async with client.pipeline(transaction=False) as pipe:
        for _ in range(3):
            pipe.evalsha(script.sha, 1, "rt:{t}:p")
        assert await pipe.execute() == [5, 6, 7]
    assert state.grew() == 1


async def test_calls_at_once_on_several_connections_count_one_each(client: Redis) -> None:
    state = Counted("state")
    # More calls than the pool has connections (4): each new connection's handshake is left out.
    answers = await asyncio.gather(*(client.incr("rt:{t}:many") for _ in range(20)))
    assert sorted(answers) == list(range(1, 21))
    assert state.grew() == 20


async def test_each_part_of_pingtree_is_counted_on_its_own_pool(redis_url: str) -> None:
    """The store's client is shared by what the store hands out (its outbox here): `state`. The
    delivery queue and an outbox built from a URL have pools, and counts, of their own."""
    store = RedisStore(redis_url)
    queue = RedisQueue(redis_url)
    outbox = RedisOutbox(redis_url)
    entries = [Entry("lead", f"lead-{n}", b"{}") for n in range(3)]

    async def calls() -> None:
        await store.ping()
        await store.pauses()
        await store.outbox().put(entries)  # one pipeline of three XADDs
        await queue.claim(0.0, 10, 1.0, "test")  # one script
        await outbox.put(entries)

    try:
        await calls()  # the first: Redis may not know the queue's script yet (two more calls)
        parts = {part: Counted(part) for part in ("state", "queue", "outbox")}
        await calls()
        assert {part: counted.grew() for part, counted in parts.items()} == {
            "state": 3,
            "queue": 1,
            "outbox": 1,
        }
    finally:
        await asyncio.gather(store.close(), queue.close(), outbox.close())


async def test_a_client_the_caller_made_is_not_counted(redis_url: str) -> None:
    given = Redis.from_url(redis_url)
    state = Counted("state")
    try:
        await client_for(given, "RedisStore", **POOL).ping()
        assert state.grew() == 0
    finally:
        await given.aclose()


@pytest.mark.parametrize(
    ("url", "socket_class"),
    [
        ("redis://127.0.0.1:6379/0", Connection),
        ("rediss://127.0.0.1:6380/0", SSLConnection),
        ("unix:///run/redis.sock", UnixDomainSocketConnection),
    ],
)
async def test_the_counting_connection_keeps_the_socket_the_url_asks_for(
    url: str, socket_class: type[Any]
) -> None:
    made = client_for(url, "RedisQueue", **POOL)
    counting = made.connection_pool.connection_class
    assert issubclass(counting, socket_class) and counting.part == "queue"
    await made.aclose()
