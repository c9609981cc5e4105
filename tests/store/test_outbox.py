"""The Outbox protocol (pingtree/store/outbox/base.py) as a contract every outbox must keep.

The suite speaks only through the protocol's methods and runs unchanged on every outbox named in
the `outbox` fixture: SQLite in memory and in a file, and Redis (the session's redis-server, a
one-node Cluster, see tests/redis_server.py). Leases are real time (Redis's own clock keeps them),
kept short. The last sections are about one outbox each: the SQLite file (a killed process,
reopening, the file shared with the delivery queue) and Redis (the group, the key, a dead server).
"""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from pingtree.core.errors import StoreUnavailable
from pingtree.store.outbox.base import Backlog, Entry, Outbox, Taken
from pingtree.store.outbox.memory import MemoryOutbox
from pingtree.store.outbox.redis import RedisOutbox
from pingtree.store.outbox.sqlite import SqliteOutbox
from pingtree.store.queue.sqlite import SqliteQueue
from pingtree.store.redis_keys import OutboxKeys
from pingtree.store.sqlite_file import SqliteFile
from tests.redis_server import free_port

LEASE_S = 0.5  # long enough for a few calls in a row on a busy machine, short to wait out
REPO = Path(__file__).resolve().parents[2]


class Clock:
    """The SQLite outboxes' clock: the wall clock, moved on by a test to run a lease out."""

    def __init__(self) -> None:
        self.ahead_s = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead_s


@dataclass
class Backend:
    """`make()` → an outbox (SQLite: one per file, so always the same one; Redis: a new client on
    the same server each call, as each router has). `lapse()` runs out every lease taken so far:
    on SQLite's clock, or by waiting on Redis's."""

    make: Callable[[], Outbox]
    clock: Clock | None

    async def lapse(self) -> None:
        if self.clock is None:
            await asyncio.sleep(LEASE_S + 0.1)
        else:
            self.clock.ahead_s += LEASE_S + 0.1


@pytest.fixture(params=["memory", "sqlite-memory", "sqlite-file", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    made: list[Outbox] = []
    memory = SqliteFile(":memory:") if request.param == "sqlite-memory" else None
    clock = None if request.param == "redis" else Clock()

    def make() -> Outbox:
        if request.param == "redis":
            made.append(RedisOutbox(request.getfixturevalue("redis_url")))
        elif request.param == "memory" and not made:
            assert clock is not None
            made.append(MemoryOutbox(clock=clock))
        elif not made:
            assert clock is not None
            made.append(SqliteOutbox(memory or str(tmp_path / "state.db"), clock=clock))
        return made[-1]

    yield Backend(make, clock)
    for outbox in made:
        await outbox.close()
    if memory is not None:
        await memory.close()


@pytest.fixture
def outbox(backend: Backend) -> Outbox:
    return backend.make()


def lead(n: int, body: bytes | None = None) -> Entry:
    return Entry("lead", f"ld_{n}", body if body is not None else f'{{"n": {n}}}'.encode())


def ids(taken: list[Taken]) -> list[str]:
    return [item.entry.id for item in taken]


async def take(outbox: Outbox, limit: int = 10, consumer: str = "writer-1") -> list[Taken]:
    return await outbox.take(limit, LEASE_S, consumer)


async def lapse() -> None:
    """Past every lease a Redis outbox gave so far (its leases are kept on Redis's clock)."""
    await asyncio.sleep(LEASE_S + 0.1)


# put, take, done --------------------------------------------------------------------------------


async def test_an_entry_put_is_taken_as_it_was_put(outbox: Outbox) -> None:
    before = time.time()
    entries = [lead(1, bytes(range(256))), Entry("audit", "au_1", b'{"action": "pause"}')]
    await outbox.put(entries)
    taken = await take(outbox)
    assert [item.entry for item in taken] == entries
    assert all(before - 1 <= item.put_at <= time.time() + 1 for item in taken)
    assert len({item.token for item in taken}) == 2


async def test_done_entries_are_gone(backend: Backend) -> None:
    outbox = backend.make()
    await outbox.put([lead(1), lead(2), lead(3)])
    taken = await take(outbox)
    await outbox.done(taken[:2])
    await backend.lapse()
    assert ids(await take(outbox, consumer="writer-2")) == ["ld_3"]
    await outbox.done([])
    await outbox.put([])


async def test_entries_come_out_oldest_first_a_limit_at_a_time(outbox: Outbox) -> None:
    await outbox.put([lead(1), lead(2)])
    await outbox.put([lead(3)])
    await outbox.put([lead(4), lead(5)])
    assert ids(await take(outbox, limit=2)) == ["ld_1", "ld_2"]
    assert ids(await take(outbox, limit=2)) == ["ld_3", "ld_4"]
    assert ids(await take(outbox, limit=2)) == ["ld_5"]
    assert await take(outbox) == []
    assert await take(outbox, limit=0) == []


async def test_the_same_id_put_twice_may_be_kept_twice(outbox: Outbox) -> None:
    await outbox.put([lead(1, b"first")])
    await outbox.put([lead(1, b"again")])
    taken = await take(outbox)
    assert [item.entry.body for item in taken] == [b"first", b"again"]  # the ledger files one


async def test_concurrent_takes_hand_each_entry_out_once(backend: Backend) -> None:
    outboxes = [backend.make() for _ in range(4)]
    await outboxes[0].put([lead(n) for n in range(30)])
    batches = await asyncio.gather(
        *(take(outboxes[n % 4], limit=4, consumer=f"writer-{n}") for n in range(10))
    )
    handed = [item for batch in batches for item in batch]
    assert sorted(ids(handed)) == sorted(f"ld_{n}" for n in range(30))


# leases ----------------------------------------------------------------------------------------


async def test_a_lease_hides_entries_until_it_runs_out(backend: Backend) -> None:
    first, second = backend.make(), backend.make()
    await first.put([lead(1), lead(2)])
    held = await take(first, consumer="writer-1")
    await second.put([lead(3)])
    assert ids(await take(second, consumer="writer-2")) == ["ld_3"]
    assert await take(second, consumer="writer-2") == []
    # writer-1 died: its lease runs out, and writer-2 gets its entries, oldest first.
    await backend.lapse()
    again = await take(second, consumer="writer-2")
    assert ids(again) == ["ld_1", "ld_2", "ld_3"]
    assert [item.entry for item in again[:2]] == [item.entry for item in held]
    assert {item.token for item in again}.isdisjoint(item.token for item in held)


async def test_done_after_a_lost_lease_leaves_the_new_holders_entries(
    backend: Backend,
) -> None:
    stalled_side, holder_side = backend.make(), backend.make()
    await stalled_side.put([lead(1), lead(2)])
    stalled = await take(stalled_side, consumer="writer-1")
    await backend.lapse()
    holder = await take(holder_side, consumer="writer-2")
    assert ids(holder) == ["ld_1", "ld_2"]
    # writer-1 comes back and says it filed them: writer-2's lease still stands.
    await stalled_side.done(stalled)
    assert (await holder_side.backlog()).entries == 2
    assert await take(stalled_side, consumer="writer-3") == []
    await holder_side.done(holder)
    assert (await holder_side.backlog()).entries == 0


async def test_done_under_an_older_lease_of_the_same_consumer_counts_for_nothing(
    backend: Backend,
) -> None:
    outbox = backend.make()
    await outbox.put([lead(1)])
    old = await take(outbox, consumer="writer-1")
    await backend.lapse()
    new = await take(outbox, consumer="writer-1")  # the same name, a new lease
    assert ids(new) == ["ld_1"] and new[0].token != old[0].token
    await outbox.done(old)
    assert (await outbox.backlog()).entries == 1
    await outbox.done(new)
    assert (await outbox.backlog()).entries == 0


async def test_a_lapsed_lease_nobody_took_over_is_still_done(backend: Backend) -> None:
    outbox = backend.make()
    await outbox.put([lead(1)])
    taken = await take(outbox)
    await backend.lapse()
    await outbox.done(taken)
    assert await outbox.backlog() == Backlog(0, None)
    assert await take(outbox, consumer="writer-2") == []


# backlog ---------------------------------------------------------------------------------------


async def test_the_backlog_counts_every_entry_waiting_and_the_oldest(outbox: Outbox) -> None:
    assert await outbox.backlog() == Backlog(0, None)
    before = time.time()
    await outbox.put([lead(1), lead(2)])
    await asyncio.sleep(0.05)
    await outbox.put([lead(3)])
    backlog = await outbox.backlog()
    assert backlog.entries == 3 and backlog.oldest_put_at is not None
    assert before - 1 <= backlog.oldest_put_at <= time.time()
    taken = await take(outbox, limit=2)
    assert await outbox.backlog() == backlog  # taken is still waiting for the ledger
    await outbox.done(taken)
    after = await outbox.backlog()
    assert after.entries == 1
    assert after.oldest_put_at is not None and after.oldest_put_at > backlog.oldest_put_at
    await outbox.done(taken)  # twice: nothing more
    assert (await outbox.backlog()).entries == 1


# the SQLite file -------------------------------------------------------------------------------


async def test_entries_survive_a_reopen_and_a_lease_does_not(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    outbox = SqliteOutbox(path)
    await outbox.put([lead(1), lead(2), lead(3)])
    taken = await take(outbox, limit=1)
    await outbox.done(taken)
    await take(outbox, limit=1)  # ld_2 is leased when the process ends
    await outbox.close()

    reopened = SqliteOutbox(path)
    # Nobody else has the file open: the lease was a process's that is gone, so not waited out.
    assert ids(await take(reopened)) == ["ld_2", "ld_3"]
    assert (await reopened.backlog()).entries == 2
    await reopened.close()


_CRASHING = """
import asyncio, sys
from pingtree.store.outbox.base import Entry
from pingtree.store.outbox.sqlite import SqliteOutbox

async def main():
    outbox = SqliteOutbox(sys.argv[1])
    await outbox.put([Entry("lead", f"ld_{n}", b"{}") for n in range(3)])
    await outbox.take(1, 30.0, "doomed")
    print("put", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def run_and_kill(path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _CRASHING, str(path)], cwd=REPO, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"put\n"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


async def test_a_killed_process_loses_no_entry_it_put(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    await asyncio.to_thread(run_and_kill, path)
    outbox = SqliteOutbox(str(path))
    assert ids(await take(outbox)) == ["ld_0", "ld_1", "ld_2"]  # ld_0's 30 s lease released
    await outbox.close()


async def test_the_outbox_shares_the_state_file_with_the_delivery_queue(tmp_path: Path) -> None:
    file = SqliteFile(tmp_path / "state.db")
    queue, outbox = SqliteQueue(file), SqliteOutbox(file)
    await outbox.put([lead(1)])
    await queue.close()
    await outbox.close()  # shared: the file's owner closes it
    assert (await outbox.backlog()).entries == 1
    await file.close()
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert dict(db.execute("SELECT * FROM schema_version")) == {"deliveries": 2, "outbox": 1}
    db.close()


async def test_a_put_is_one_statement_per_entry_in_the_files_group_commit(tmp_path: Path) -> None:
    file = SqliteFile(tmp_path / "state.db")
    outbox = SqliteOutbox(file)
    statements: list[str] = []
    await file.read(lambda db: db.set_trace_callback(statements.append))
    # The writer thread is held while five routers' answers put their records: one commit.
    gate = threading.Event()
    held = asyncio.ensure_future(file.read(lambda db: gate.wait(5)))
    puts = [asyncio.ensure_future(outbox.put([lead(n)])) for n in range(5)]
    await asyncio.sleep(0.05)
    gate.set()
    await asyncio.gather(held, *puts)
    await file.read(lambda db: db.set_trace_callback(None))
    assert statements.count("BEGIN IMMEDIATE") == 1 and statements.count("COMMIT") == 1
    assert len([s for s in statements if s.startswith("INSERT INTO ledger_outbox")]) == 5
    await file.close()


# Redis -----------------------------------------------------------------------------------------


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    """A plain client on the tests' server, to look at what the outbox wrote."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_entries_survive_the_router_that_put_them(redis_url: str) -> None:
    gone = RedisOutbox(redis_url)
    await gone.put([lead(1), lead(2)])
    await take(gone, limit=1, consumer="writer-gone")
    await gone.close()
    survivor = RedisOutbox(redis_url)
    assert ids(await take(survivor, consumer="writer-2")) == ["ld_2"]
    await lapse()
    assert ids(await take(survivor, consumer="writer-2")) == ["ld_1", "ld_2"]
    await survivor.close()


async def test_a_consumer_holding_nothing_leaves_the_group(redis_url: str, raw: Redis) -> None:
    outbox = RedisOutbox(redis_url, prefix="pt-test")
    stream = OutboxKeys("pt-test").stream()

    async def consumers() -> list[tuple[bytes, int]]:
        found = await raw.xinfo_consumers(stream, "ledger")
        return [(c["name"], c["pending"]) for c in found]

    await outbox.put([lead(1)])
    dead = await take(outbox, consumer="writer-dead")
    assert await take(outbox, consumer="writer-2") == []  # read nothing: not kept
    assert await consumers() == [(b"writer-dead", 1)]
    await outbox.put([lead(2)])
    await lapse()
    taken = await take(outbox, consumer="writer-2")
    assert ids(taken) == ["ld_1", "ld_2"]
    assert await consumers() == [(b"writer-2", 2)]  # writer-dead left with its last entry
    await outbox.done(dead)
    await outbox.done(taken)
    assert await consumers() == []
    assert await raw.xlen(stream) == 0  # done entries are deleted, not only acknowledged
    await outbox.close()


async def test_the_outbox_is_one_stream_under_the_prefix_without_a_ttl(
    redis_url: str, raw: Redis
) -> None:
    outbox = RedisOutbox(redis_url, prefix="pt-test")
    await outbox.put([lead(1)])
    await outbox.done(await take(outbox, limit=1))
    await outbox.put([lead(2)])
    await take(outbox)
    names = [name.decode() async for name in raw.scan_iter()]
    assert names == ["pt-test:{l}:outbox"] == [OutboxKeys("pt-test").stream()]
    assert re.fullmatch(r"pt-test:\{l\}:outbox", names[0])
    assert await raw.pttl(names[0]) == -1
    assert key_slot(names[0].encode()) == key_slot(b"{l}")
    await outbox.close()


REDIS_CALLS: dict[str, Callable[[Outbox], Awaitable[Any]]] = {
    "put": lambda o: o.put([lead(1)]),
    "take": lambda o: take(o),
    "done": lambda o: o.done([Taken(lead(1), "1-0 1 writer-1", 0.0)]),
    "backlog": lambda o: o.backlog(),
}


@pytest.mark.parametrize("call", REDIS_CALLS)
async def test_a_dead_redis_is_unavailable_at_once(call: str) -> None:
    outbox = RedisOutbox(f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as raised:
        await REDIS_CALLS[call](outbox)
    assert time.monotonic() - started < 2
    assert "s3cret-pw" not in f"{raised.value!r} {raised.value} {raised.value.__cause__}"
    await outbox.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await REDIS_CALLS[call](outbox)


async def test_connect_checks_the_server_answers(redis_url: str) -> None:
    with pytest.raises(StoreUnavailable):
        await RedisOutbox.connect(f"redis://127.0.0.1:{free_port()}/0")
    outbox = await RedisOutbox.connect(redis_url)
    await outbox.close()


async def test_a_shared_client_is_left_open_and_must_answer_bytes(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    outbox = RedisOutbox(client, prefix="shared")
    await outbox.put([lead(1)])
    await outbox.close()
    assert await client.xlen(OutboxKeys("shared").stream()) == 1
    await client.aclose()
    with pytest.raises(ValueError, match="braces"):
        RedisOutbox(redis_url, prefix="pt{1}")
    decoding = Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses"):
        RedisOutbox(decoding)
    await decoding.aclose()
