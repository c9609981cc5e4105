"""The DeliveryQueue protocol (pingtree/store/queue/base.py) as a contract every queue must keep.

The suite speaks only through the protocol's methods and runs unchanged on every queue named in the
`queue` fixture: SQLite in memory and in a file, and Redis (the session's redis-server, a one-node
Cluster, see tests/redis_server.py). Time is only ever the `now` the calls are given. The last two
sections are about one queue each: the SQLite file (a killed process, reopening, its schema, the
writer thread shared with other tables) and Redis (two routers sharing the work, a dead router's
jobs taken over, the key layout, a dead server).
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from pingtree.core.errors import StoreUnavailable
from pingtree.store.queue import sqlite as sqlite_queue
from pingtree.store.queue.base import (
    ERASED,
    DeadLetter,
    Delivered,
    DeliveryQueue,
    Disabled,
    Job,
    RetryAt,
    SaleRow,
)
from pingtree.store.queue.redis import RedisQueue
from pingtree.store.queue.sqlite import SqliteFile, SqliteQueue
from pingtree.store.redis_keys import QueueKeys
from tests.redis_server import free_port

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
LEASE_S = 30.0
CRM, DIALER = "buyer:firm/crm", "buyer:firm/dialer"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite-memory", "sqlite-file", "redis"])
async def queue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DeliveryQueue]:
    if request.param == "sqlite-memory":
        made: DeliveryQueue = SqliteQueue(":memory:")
    elif request.param == "sqlite-file":
        made = SqliteQueue(tmp_path / "state.db")
    elif request.param == "redis":
        made = RedisQueue(request.getfixturevalue("redis_url"))
    else:  # pragma: no cover - a new queue adds its branch here
        raise AssertionError(request.param)
    yield made
    await made.close()


def make_job(
    lead: str = "ld_1",
    destination: str = "crm",
    *,
    owner: str = "buyer:firm",
    at: float = NOW,
    **fields: Any,
) -> Job:
    """One sold lead on its way to `owner`'s `destination`, sold `at`."""
    given: dict[str, Any] = {
        "method": "POST",
        "url": f"https://{destination}.example/hook",
        "failover_url": None,
        "headers": (("Content-Type", "application/json"), ("X-Source", "pingtree")),
        "body": b'{"phone": "+13055550100"}',
        **fields,
    }
    id_ = f"{lead}.{owner}.{destination}"
    return Job(id_, lead, owner, destination, at, **given)


async def take(
    queue: DeliveryQueue, at: float = NOW, limit: int = 10, consumer: str = "router-1"
) -> list[Job]:
    return await queue.claim(at, limit, LEASE_S, consumer)


async def take_one(queue: DeliveryQueue, at: float = NOW, consumer: str = "router-1") -> Job:
    [job] = await take(queue, at, consumer=consumer)
    return job


def ids(jobs: list[Job]) -> list[str]:
    return [job.lead_id + "/" + job.destination for job in jobs]


async def state_of(queue: DeliveryQueue, job: Job) -> str | None:
    stored = await queue.get(job.id)
    return None if stored is None else stored.state


# enqueue ---------------------------------------------------------------------------------------


async def test_an_enqueued_job_is_kept_as_given(queue: DeliveryQueue) -> None:
    job = make_job(
        failover_url="https://backup.example/hook",
        body=bytes(range(256)),
        due_at=NOW + 5,
        attempt=2,
        target="failover",
        last_error="HTTP 503 in 12 ms",
        history=("2025-12-31T23:59:00.000Z primary HTTP 503 in 12 ms",),
    )
    await queue.enqueue([job])
    assert await queue.get(job.id) == job
    assert await queue.get("ld_2.buyer:firm.crm") is None


async def test_a_job_is_enqueued_waiting_whatever_state_it_carries(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job(state="dead", lease="not-a-lease")])
    assert await queue.get(make_job().id) == make_job()
    assert ids(await take(queue)) == ["ld_1/crm"]


async def test_the_same_webhook_id_twice_is_one_job(queue: DeliveryQueue) -> None:
    first = make_job()
    await queue.enqueue([first])
    await queue.enqueue([dataclasses.replace(first, body=b"another body"), first])
    assert await queue.get(first.id) == first
    assert len(await queue.jobs()) == 1
    job = await take_one(queue)
    await queue.settle(job, Delivered("HTTP 200 in 41 ms"), NOW + 1)
    await queue.enqueue([first])  # a sale recorded again after its delivery: still delivered
    assert await state_of(queue, first) == "delivered"
    assert await take(queue, NOW + 3600) == []


async def test_concurrent_enqueues_all_land(queue: DeliveryQueue) -> None:
    one_by_one = [make_job(f"ld_{n}", f"d{n % 5}", at=NOW + n) for n in range(40)]
    together = [make_job(f"ld_{n}", "crm", at=NOW + n) for n in range(40, 60)]
    await asyncio.gather(queue.enqueue(together), *(queue.enqueue([j]) for j in one_by_one))
    assert len(await queue.jobs(limit=100)) == 60
    await queue.enqueue([])


# claim: due, oldest first, leases, one per destination ------------------------------------------


async def test_only_due_jobs_are_claimed(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job(due_at=NOW + 60)])
    assert await take(queue, NOW) == []
    assert await take(queue, NOW + 59.999) == []
    assert ids(await take(queue, NOW + 60)) == ["ld_1/crm"]


async def test_jobs_come_out_oldest_first(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job("ld_c", "c", at=NOW + 2), make_job("ld_a", "a", at=NOW)])
    await queue.enqueue([make_job("ld_b", "b", at=NOW + 1)])
    assert ids(await take(queue, NOW + 3, limit=2)) == ["ld_a/a", "ld_b/b"]
    assert ids(await take(queue, NOW + 3, limit=2)) == ["ld_c/c"]


async def test_a_claim_of_nothing_is_empty(queue: DeliveryQueue) -> None:
    assert await take(queue) == []
    await queue.enqueue([make_job()])
    assert await take(queue, limit=0) == []
    assert ids(await take(queue)) == ["ld_1/crm"]


async def test_a_claimed_job_is_leased(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job()])
    job = await take_one(queue)
    assert job.state == "leased" and job.lease and job.attempt == 0
    assert job == dataclasses.replace(make_job(), state="leased", lease=job.lease)
    assert await queue.get(job.id) == job
    assert await queue.jobs(state="leased") == [job]


async def test_a_lease_hides_the_job_until_it_runs_out(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job()])
    first = await take_one(queue, NOW, consumer="router-1")
    assert await take(queue, NOW + LEASE_S - 0.001, consumer="router-2") == []
    # router-1 died: its lease runs out, and router-2 gets the job, attempt unchanged.
    second = await take_one(queue, NOW + LEASE_S, consumer="router-2")
    assert second.id == first.id and second.attempt == first.attempt == 0
    assert second.lease != first.lease
    assert await take(queue, NOW + LEASE_S + 1, consumer="router-1") == []


async def test_one_job_per_destination_is_leased_at_a_time(queue: DeliveryQueue) -> None:
    crm = [make_job(f"ld_{n}", "crm", at=NOW + n) for n in range(3)]
    await queue.enqueue([*crm, make_job("ld_9", "dialer", at=NOW + 9)])
    first = await take(queue, NOW + 10)
    assert ids(first) == ["ld_0/crm", "ld_9/dialer"]
    assert await take(queue, NOW + 10, consumer="router-2") == []
    # ...while other destinations proceed; a new job of a busy one waits its turn.
    await queue.enqueue([make_job("ld_5", "postback", owner="seller:acme", at=NOW + 5)])
    await queue.enqueue([make_job("ld_6", "crm", at=NOW + 6), make_job("ld_7", "crm", at=NOW - 1)])
    assert ids(await take(queue, NOW + 10)) == ["ld_5/postback"]
    await queue.settle(first[0], Delivered("HTTP 200 in 41 ms"), NOW + 11)
    assert ids(await take(queue, NOW + 11)) == ["ld_7/crm"]  # sold first, enqueued late


async def test_a_lapsed_lease_is_taken_over_before_anything_else_of_its_destination(
    queue: DeliveryQueue,
) -> None:
    await queue.enqueue([make_job("ld_1", at=NOW), make_job("ld_2", at=NOW + 1)])
    first = await take_one(queue, NOW + 2)
    await queue.settle(first, RetryAt(NOW + 60, "primary", 1, "timeout"), NOW + 2)
    second = await take_one(queue, NOW + 10, consumer="router-1")  # and router-1 dies
    # At NOW + 60 ld_1 is due again and ld_2's lease has run out: ld_2 is taken over first, so
    # the destination never has two leased jobs.
    assert ids(await take(queue, NOW + 60, consumer="router-2")) == [ids([second])[0]]
    assert ids(await queue.jobs(state="leased")) == ["ld_2/crm"]


async def test_concurrent_claims_hand_each_job_out_once(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job(f"ld_{n}", f"d{n % 10}", at=NOW + n) for n in range(30)])
    batches = await asyncio.gather(
        *(take(queue, NOW + 60, limit=3, consumer=f"router-{n}") for n in range(10))
    )
    handed = [job for batch in batches for job in batch]
    assert sorted(ids(handed)) == sorted(f"ld_{n}/d{n}" for n in range(10))


async def test_a_job_waiting_for_its_retry_does_not_hold_back_the_next(
    queue: DeliveryQueue,
) -> None:
    await queue.enqueue([make_job("ld_1", at=NOW), make_job("ld_2", at=NOW + 1)])
    first = await take_one(queue, NOW + 2)
    await queue.settle(first, RetryAt(NOW + 60, "primary", 1, "HTTP 503 in 9 ms"), NOW + 2)
    second = await take_one(queue, NOW + 2)
    assert second.lead_id == "ld_2"
    await queue.settle(second, Delivered("HTTP 200 in 41 ms"), NOW + 3)
    assert await take(queue, NOW + 59) == []
    again = await take_one(queue, NOW + 60)
    assert (again.lead_id, again.attempt) == ("ld_1", 1)


async def test_a_retry_come_due_goes_before_newer_jobs_of_its_destination(
    queue: DeliveryQueue,
) -> None:
    await queue.enqueue([make_job(f"ld_{n}", at=NOW + n) for n in range(1, 4)])
    first = await take_one(queue, NOW + 10)
    await queue.settle(first, RetryAt(NOW + 60, "primary", 1, "timeout"), NOW + 10)
    second = await take_one(queue, NOW + 10)
    await queue.settle(second, Delivered("HTTP 200 in 41 ms"), NOW + 20)
    assert ids(await take(queue, NOW + 60)) == ["ld_1/crm"]  # not ld_3, sold after it


async def test_a_retry_due_at_once_goes_before_newer_jobs(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job("ld_1", at=NOW), make_job("ld_2", at=NOW + 1)])
    first = await take_one(queue, NOW + 2)
    await queue.settle(first, RetryAt(NOW + 2, "failover", 0, "HTTP 500 in 3 ms"), NOW + 2)
    again = await take_one(queue, NOW + 2)
    assert (again.lead_id, again.target) == ("ld_1", "failover")


# settle ----------------------------------------------------------------------------------------


async def test_a_delivered_job_is_done(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job()])
    await queue.settle(await take_one(queue), Delivered("HTTP 200 in 41 ms"), NOW + 1)
    done = await queue.get(make_job().id)
    assert done == dataclasses.replace(
        make_job(),
        state="delivered",
        attempt=1,
        history=("2026-01-01T00:00:01.000Z primary HTTP 200 in 41 ms",),
    )
    assert await take(queue, NOW + 86400) == []


async def test_a_retry_moves_to_the_failover_and_keeps_the_history(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job(failover_url="https://backup.example/hook")])
    job = await take_one(queue)
    await queue.settle(job, RetryAt(NOW + 10, "primary", 1, "HTTP 503 in 12 ms"), NOW + 0.5)
    waiting = await queue.get(job.id)
    assert waiting is not None
    assert (waiting.state, waiting.attempt, waiting.target) == ("waiting", 1, "primary")
    assert (waiting.due_at, waiting.last_error, waiting.lease) == (
        NOW + 10,
        "HTTP 503 in 12 ms",
        None,
    )
    job = await take_one(queue, NOW + 10)
    await queue.settle(job, RetryAt(NOW + 40, "failover", 0, "timeout after 5000 ms"), NOW + 15)
    job = await take_one(queue, NOW + 40)
    assert (job.target, job.attempt, job.last_error) == ("failover", 0, "timeout after 5000 ms")
    await queue.settle(job, Delivered("HTTP 202 in 80 ms"), NOW + 41)
    done = await queue.get(job.id)
    assert done is not None
    assert (done.state, done.attempt, done.target, done.last_error) == (
        *("delivered", 1, "failover", None),
    )
    assert done.history == (
        "2026-01-01T00:00:00.500Z primary HTTP 503 in 12 ms",
        "2026-01-01T00:00:15.000Z primary timeout after 5000 ms",
        "2026-01-01T00:00:41.000Z failover HTTP 202 in 80 ms",
    )


@pytest.mark.parametrize(
    ("result", "state"),
    [
        (DeadLetter("HTTP 400 in 20 ms: invalid phone"), "dead"),
        (DeadLetter("8 attempts failed"), "dead"),
        (Disabled("HTTP 410 Gone"), "disabled"),
    ],
)
async def test_a_job_finished_badly_is_kept_with_its_reason(
    queue: DeliveryQueue, result: DeadLetter | Disabled, state: str
) -> None:
    await queue.enqueue([make_job()])
    await queue.settle(await take_one(queue), result, NOW + 1)
    kept = await queue.get(make_job().id)
    assert kept is not None
    assert (kept.state, kept.attempt, kept.last_error) == (state, 1, result.reason)
    assert kept.history == (f"2026-01-01T00:00:01.000Z primary {result.reason}",)
    assert await queue.jobs(state=kept.state) == [kept]  # type: ignore[arg-type]
    assert await take(queue, NOW + 86400) == []


async def test_a_note_is_one_history_line(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job()])
    note = "HTTP 500 in 3 ms:\n<html>\r\n  oops\n</html>"
    await queue.settle(await take_one(queue), RetryAt(NOW, "primary", 1, note), NOW)
    kept = await queue.get(make_job().id)
    assert kept is not None
    assert kept.history == (
        "2026-01-01T00:00:00.000Z primary HTTP 500 in 3 ms: <html> oops </html>",
    )


async def test_a_settle_counts_only_under_its_lease(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job("ld_1", at=NOW), make_job("ld_2", at=NOW + 1)])
    stalled = await take_one(queue, NOW + 2, consumer="router-1")
    holder = await take_one(queue, NOW + 2 + LEASE_S, consumer="router-2")
    # router-1 comes back: its result does not undo router-2's lease, nor free the destination.
    await queue.settle(stalled, DeadLetter("HTTP 400 in 20 ms"), NOW + 33)
    assert await queue.get(holder.id) == holder
    assert await take(queue, NOW + 33, consumer="router-3") == []
    await queue.settle(holder, Delivered("HTTP 200 in 41 ms"), NOW + 34)
    await queue.settle(stalled, RetryAt(NOW + 40, "primary", 1, "timeout"), NOW + 35)
    done = await queue.get(holder.id)
    assert done is not None and done.state == "delivered" and len(done.history) == 1
    assert ids(await take(queue, NOW + 40)) == ["ld_2/crm"]


async def test_a_lapsed_lease_nobody_took_over_still_settles(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job()])
    job = await take_one(queue)
    await queue.settle(job, Delivered("HTTP 200 in 41 ms"), NOW + 10 * LEASE_S)
    assert await state_of(queue, job) == "delivered"
    assert await take(queue, NOW + 20 * LEASE_S) == []


async def test_a_job_never_claimed_cannot_be_settled(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job()])
    await queue.settle(make_job(), Delivered("HTTP 200 in 41 ms"), NOW)
    assert await state_of(queue, make_job()) == "waiting"


# listing, replay, retry_now, purge ---------------------------------------------------------------


async def finish(queue: DeliveryQueue, job: Job, result: Any, at: float) -> None:
    """Enqueues `job`, claims it and settles it with `result` at `at`."""
    await queue.enqueue([job])
    claimed = await take(queue, at)
    [mine] = [c for c in claimed if c.id == job.id]
    await queue.settle(mine, result, at)


async def test_jobs_lists_newest_first_by_state_and_destination(queue: DeliveryQueue) -> None:
    await finish(queue, make_job("ld_1", "crm", at=NOW + 1), Delivered("HTTP 200"), NOW + 10)
    await finish(queue, make_job("ld_2", "dialer", at=NOW + 2), DeadLetter("HTTP 400"), NOW + 10)
    await queue.enqueue(
        [
            make_job("ld_3", "crm", at=NOW + 3),
            make_job("ld_4", "dialer", at=NOW + 4),
            make_job("ld_5", "crm", at=NOW + 4),  # same second: enqueued later, listed first
        ]
    )
    assert ids(await queue.jobs()) == [
        "ld_5/crm",
        "ld_4/dialer",
        "ld_3/crm",
        "ld_2/dialer",
        "ld_1/crm",
    ]
    assert ids(await queue.jobs(state="waiting")) == ["ld_5/crm", "ld_4/dialer", "ld_3/crm"]
    assert ids(await queue.jobs(key=CRM)) == ["ld_5/crm", "ld_3/crm", "ld_1/crm"]
    assert ids(await queue.jobs(state="dead", key=DIALER)) == ["ld_2/dialer"]
    assert await queue.jobs(state="dead", key=CRM) == []
    assert ids(await queue.jobs(limit=2)) == ["ld_5/crm", "ld_4/dialer"]
    await take(queue, NOW + 20)
    assert ids(await queue.jobs(state="leased")) == ["ld_4/dialer", "ld_3/crm"]
    assert ids(await queue.jobs(state="waiting")) == ["ld_5/crm"]


@pytest.mark.parametrize("result", [DeadLetter("HTTP 400 in 20 ms"), Disabled("HTTP 410 Gone")])
async def test_a_dead_or_disabled_job_can_be_replayed(
    queue: DeliveryQueue, result: DeadLetter | Disabled
) -> None:
    job = make_job(failover_url="https://backup.example/hook")
    await queue.enqueue([job])
    leased = await take_one(queue)
    await queue.settle(leased, RetryAt(NOW + 10, "failover", 0, "HTTP 503"), NOW + 1)
    await queue.settle(await take_one(queue, NOW + 10), result, NOW + 11)
    assert await queue.replay(job.id, NOW + 100) is True
    replayed = await queue.get(job.id)
    assert replayed is not None
    assert (replayed.state, replayed.due_at, replayed.attempt, replayed.target) == (
        *("waiting", NOW + 100, 0, "primary"),
    )
    assert len(replayed.history) == 2 and replayed.last_error == result.reason
    assert await queue.jobs(state="waiting") == [replayed]
    assert await take(queue, NOW + 99) == []
    assert ids(await take(queue, NOW + 100)) == ["ld_1/crm"]
    assert await queue.replay(job.id, NOW + 100) is False  # leased now


async def test_only_a_job_finished_badly_can_be_replayed(queue: DeliveryQueue) -> None:
    waiting, leased, delivered = (make_job(f"ld_{n}", f"d{n}") for n in range(3))
    await queue.enqueue([waiting, leased])
    await finish(queue, delivered, Delivered("HTTP 200"), NOW)
    await take(queue, NOW)
    for job in (waiting, leased, delivered, make_job("ld_missing")):
        assert await queue.replay(job.id, NOW) is False
    assert await state_of(queue, delivered) == "delivered"


async def test_retry_now_makes_a_waiting_job_due(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job()])
    job = await take_one(queue)
    await queue.settle(job, RetryAt(NOW + 3600, "primary", 1, "HTTP 503"), NOW + 1)
    assert await queue.retry_now(job.id, NOW + 5) is True
    again = await take_one(queue, NOW + 5)
    assert (again.id, again.attempt, again.due_at) == (job.id, 1, NOW + 5)


async def test_retry_now_of_a_job_already_due_keeps_its_place(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job("ld_1", at=NOW), make_job("ld_2", at=NOW + 1)])
    assert await queue.retry_now(make_job("ld_2").id, NOW + 5) is True
    assert (await queue.get(make_job("ld_2").id)) == make_job("ld_2", at=NOW + 1)
    assert ids(await take(queue, NOW + 5)) == ["ld_1/crm"]


async def test_retry_now_is_for_waiting_jobs_only(queue: DeliveryQueue) -> None:
    leased, delivered = make_job("ld_1", "a"), make_job("ld_2", "b")
    await queue.enqueue([leased])
    await take(queue)
    await finish(queue, delivered, Delivered("HTTP 200"), NOW)
    for job in (leased, delivered, make_job("ld_missing")):
        assert await queue.retry_now(job.id, NOW) is False


async def test_purge_forgets_jobs_finished_longer_ago_than_kept(queue: DeliveryQueue) -> None:
    await finish(queue, make_job("ld_1", "a"), Delivered("HTTP 200"), NOW + 1)
    await finish(queue, make_job("ld_2", "b"), Disabled("HTTP 410 Gone"), NOW + 1)
    await finish(queue, make_job("ld_3", "c"), DeadLetter("HTTP 400"), NOW + 50)
    await queue.enqueue([make_job("ld_4", "d")])
    assert await queue.purge(NOW + 101, keep_s=100) == 0  # finished exactly keep_s ago: kept
    assert await queue.purge(NOW + 102, keep_s=100) == 2
    assert await queue.get(make_job("ld_1", "a").id) is None
    assert ids(await queue.jobs()) == ["ld_4/d", "ld_3/c"]
    assert ids(await queue.jobs(key="buyer:firm/a")) == []
    assert await queue.purge(NOW + 102, keep_s=100) == 0
    # Forgotten: the same webhook-id is a new job now.
    await queue.enqueue([make_job("ld_1", "a")])
    assert await state_of(queue, make_job("ld_1", "a")) == "waiting"


async def test_purge_takes_every_job_due_to_go(queue: DeliveryQueue) -> None:
    for n in range(12):
        await finish(queue, make_job(f"ld_{n}", f"d{n}"), Delivered("HTTP 200"), NOW)
    assert await queue.purge(NOW + 10, keep_s=5) == 12
    assert await queue.jobs() == []


# the sales ledger ------------------------------------------------------------------------------


def sale(lead: str, buyer: str, at: float, **columns: str) -> SaleRow:
    fields = columns or {"sold_at": "2026-01-01T00:00:00Z", "price": "35.00", "state": "FL"}
    return SaleRow(lead, buyer, at, tuple(fields.items()))


async def test_the_ledger_answers_by_buyer_and_time(queue: DeliveryQueue) -> None:
    rows = [
        sale("ld_1", "firm-a", NOW + 10),
        sale("ld_2", "firm-b", NOW + 5),
        sale("ld_3", "firm-a", NOW + 20),
        sale("ld_4", "firm-a", NOW + 30),
        sale("ld_5", "firm-b", NOW + 20),
    ]
    for row in rows:
        await queue.record_sale(row)
    assert await queue.sales("firm-a", NOW, NOW + 30) == [rows[0], rows[2]]  # the end is out
    assert await queue.sales("firm-a", NOW + 20, NOW + 31) == [rows[2], rows[3]]
    assert await queue.sales(None, NOW, NOW + 100) == [rows[1], rows[0], rows[2], rows[4], rows[3]]
    assert await queue.sales(None, -math.inf, math.inf) == await queue.sales(None, NOW, NOW + 31)
    assert await queue.sales("firm-c", NOW, NOW + 100) == []
    assert await queue.sales(None, NOW + 100, NOW + 200) == []


async def test_a_sale_is_recorded_once_with_its_columns_in_order(queue: DeliveryQueue) -> None:
    row = sale("ld_1", "firm-a", NOW, zip="33101", name="Ana Díaz", email="ana@example.com")
    await queue.record_sale(row)
    await queue.record_sale(dataclasses.replace(row, sold_at=NOW + 1))
    await queue.record_sale(sale("ld_1", "firm-b", NOW))  # another buyer's sale of the lead
    assert await queue.sales("firm-a", NOW, NOW + 10) == [row]
    assert [r.buyer_id for r in await queue.sales(None, NOW, NOW + 10)] == ["firm-a", "firm-b"]


async def test_ledger_rows_past_their_retention_are_forgotten(queue: DeliveryQueue) -> None:
    rows = [sale(f"ld_{n}", "firm-a" if n % 2 else "firm-b", NOW + n) for n in range(1203)]
    for row in rows:
        await queue.record_sale(row)
    # Everything sold before NOW + 1200 goes, by the batch, from every index.
    assert await queue.purge_sales(NOW + 1200) == 1200
    assert await queue.sales(None, -math.inf, math.inf) == rows[1200:]
    assert await queue.sales("firm-a", -math.inf, math.inf) == [rows[1201]]
    assert await queue.sales("firm-b", -math.inf, math.inf) == [rows[1200], rows[1202]]
    assert await queue.purge_sales(NOW + 1200) == 0


# erase (forget a consumer) ---------------------------------------------------------------------

GET_URL = "https://crm.example/hook?key=k1&phone=%2B13055550100&email=ana%40example.com"
BACKUP_URL = "https://backup.example/hook?key=k1&phone=%2B13055550100#top"
PII_SALE = {
    "sold_at": "2026-01-01T00:00:00Z", "price": "35.00", "state": "FL", "zip": "33101",
    "first_name": "Ana", "last_name": "Díaz", "phone": "+13055550100",
    "email": "ana@example.com", "address": "1 Main St", "city": "Miami", "dob": "1990-01-02",
    "ip_address": "203.0.113.7", "trustedform_url": "https://cert.trustedform.com/abc",
    "jornaya_leadid": "LL-1", "attributes": '{"mobile": "3055550100", "injury": true}',
}  # fmt: skip


async def test_erase_ends_the_leads_undelivered_jobs_for_good(queue: DeliveryQueue) -> None:
    waiting = make_job("ld_1", "crm", url=GET_URL, failover_url=BACKUP_URL, due_at=NOW + 60)
    leased = make_job("ld_1", "dialer")
    other = make_job("ld_2", "crm", at=NOW + 1, due_at=NOW + 60)
    await queue.enqueue([waiting, leased, other])
    [in_flight] = await take(queue, NOW)  # ld_1's dialer: its attempt is under way
    assert in_flight.id == leased.id

    assert await queue.erase(["ld_1"], NOW + 5) == 2
    for job in (waiting, leased):
        erased = await queue.get(job.id)
        assert erased is not None
        assert (erased.state, erased.last_error, erased.lease) == ("dead", ERASED, None)
        assert erased.body == b"" and erased.headers == job.headers  # headers are config
    erased_crm = await queue.get(waiting.id)
    assert erased_crm is not None
    assert (erased_crm.url, erased_crm.failover_url) == (
        "https://crm.example/hook",
        "https://backup.example/hook",
    )
    assert await queue.get(other.id) == other
    # The attempt in flight comes back: its result no longer counts.
    await queue.settle(in_flight, RetryAt(NOW + 6, "primary", 1, "HTTP 503"), NOW + 6)
    await queue.settle(in_flight, Delivered("HTTP 200 in 41 ms"), NOW + 6)
    assert await state_of(queue, leased) == "dead"
    assert ids(await take(queue, NOW + 3600)) == ["ld_2/crm"]  # never ld_1's again
    assert await queue.replay(waiting.id, NOW + 3600) is False
    assert await queue.replay(leased.id, NOW + 3600) is False
    assert ids(await queue.jobs(state="dead")) == ["ld_1/dialer", "ld_1/crm"]
    assert await queue.erase(["ld_1"], NOW + 7) == 0  # once erased, erased
    assert await queue.erase(["ld_missing"], NOW + 7) == 0
    assert await queue.erase([], NOW + 7) == 0


async def test_erase_keeps_finished_jobs_without_their_pii(queue: DeliveryQueue) -> None:
    await finish(queue, make_job("ld_1", "a", url=GET_URL), Delivered("HTTP 200"), NOW + 1)
    await finish(queue, make_job("ld_1", "b"), DeadLetter("HTTP 400"), NOW + 2)
    await finish(queue, make_job("ld_1", "c"), Disabled("HTTP 410 Gone"), NOW + 3)
    before = {job.destination: job for job in await queue.jobs()}
    assert await queue.erase(["ld_1"], NOW + 10) == 3
    after = {job.destination: job for job in await queue.jobs()}
    assert after["a"] == dataclasses.replace(before["a"], body=b"", url="https://crm.example/hook")
    assert after["b"] == dataclasses.replace(before["b"], body=b"", last_error=ERASED)
    assert after["c"] == dataclasses.replace(before["c"], body=b"", last_error=ERASED)
    for job in after.values():  # finished badly, yet not replayable: there is nothing to send
        assert await queue.replay(job.id, NOW + 11) is False
    # Purged in their time, as they would have been.
    assert await queue.purge(NOW + 103.5, keep_s=100) == 3


async def test_erase_hands_the_destination_to_its_next_job(queue: DeliveryQueue) -> None:
    older = make_job("ld_0", "dialer", at=NOW - 1)
    first, second = make_job("ld_1", at=NOW), make_job("ld_2", at=NOW + 1)
    await queue.enqueue([older, first, second])
    # One at a time: ld_0's dialer goes out, ld_1 is next in line for the crm.
    assert ids(await take(queue, NOW + 2, limit=1)) == ["ld_0/dialer"]
    await queue.erase(["ld_1"], NOW + 3)
    crm = await take_one(queue, NOW + 3)
    assert crm.id == second.id
    await queue.settle(crm, Delivered("HTTP 200 in 41 ms"), NOW + 4)
    # router-1 died with the dialer's job: router-2 takes it over, then it is erased.
    leased = await take_one(queue, NOW + 2 + LEASE_S, consumer="router-2")
    assert leased.id == older.id
    await queue.erase(["ld_0"], NOW + 40)
    await queue.enqueue([make_job("ld_3", "dialer", at=NOW + 41)])
    assert ids(await take(queue, NOW + 41)) == ["ld_3/dialer"]


async def test_erase_empties_the_pii_of_the_leads_sale_rows(queue: DeliveryQueue) -> None:
    mine = [sale("ld_1", buyer, NOW + n, **PII_SALE) for n, buyer in enumerate(("a", "b"))]
    theirs = sale("ld_2", "a", NOW + 5, **PII_SALE)
    for row in (*mine, theirs):
        await queue.record_sale(row)
    assert await queue.erase(["ld_1"], NOW + 10) == 0  # no job: its sale rows all the same
    kept = {"sold_at", "price", "state", "zip"}
    erased = [
        dataclasses.replace(row, fields=tuple((n, v if n in kept else "") for n, v in row.fields))
        for row in mine
    ]
    assert await queue.sales(None, NOW, NOW + 10) == [*erased, theirs]
    assert [name for name, _ in erased[0].fields] == list(PII_SALE)  # columns stay in order
    await queue.erase(["ld_1"], NOW + 11)
    assert await queue.sales("a", NOW, NOW + 10) == [erased[0], theirs]


# close -----------------------------------------------------------------------------------------


async def test_a_closed_queue_is_unavailable(queue: DeliveryQueue) -> None:
    await queue.enqueue([make_job()])
    await queue.close()
    with pytest.raises(StoreUnavailable):
        await queue.get(make_job().id)
    with pytest.raises(StoreUnavailable):
        await queue.enqueue([make_job("ld_2")])
    with pytest.raises(StoreUnavailable):
        await take(queue)
    await queue.close()


# the SQLite file -------------------------------------------------------------------------------

# Enqueues and leases in a process that is then killed (SIGKILL: no close, no atexit).
_CRASHING = """
import asyncio, sys
from pingtree.store.queue.base import Job
from pingtree.store.queue.sqlite import SqliteQueue

async def main():
    queue = SqliteQueue(sys.argv[1])
    jobs = [
        Job(id=f"ld_{n}.buyer:firm.crm", lead_id=f"ld_{n}", owner="buyer:firm", destination="crm",
            created_at=1767225600.0 + n, method="POST", url="https://crm.example/hook",
            failover_url=None, headers=(), body=b"{}")
        for n in range(3)
    ]
    await queue.enqueue(jobs)
    await queue.claim(1767225610.0, 10, 30.0, "doomed")
    print("enqueued", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def run_and_kill(path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", _CRASHING, str(path)], cwd=REPO, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"enqueued\n"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


async def test_a_killed_process_loses_nothing_it_was_told_was_written(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    await asyncio.to_thread(run_and_kill, path)
    assert (tmp_path / "state.db-wal").exists()  # not checkpointed: nobody closed it
    queue = SqliteQueue(path)
    jobs = await queue.jobs()
    # The file's lock says the process that leased ld_0 is gone: its lease is released when the
    # file is opened again, not waited out (30 s here, 90 s in a router).
    assert [(j.lead_id, j.state, j.lease) for j in jobs] == [
        *(("ld_2", "waiting", None), ("ld_1", "waiting", None), ("ld_0", "waiting", None)),
    ]
    taken = await take_one(queue, NOW + 11, consumer="survivor")
    assert (taken.lead_id, taken.attempt) == ("ld_0", 0)  # the attempt cut off never counted
    await queue.close()


async def test_every_job_and_its_state_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    queue = SqliteQueue(path)
    await finish(queue, make_job("ld_1", "a"), Delivered("HTTP 200"), NOW)
    await finish(queue, make_job("ld_2", "b"), DeadLetter("HTTP 400"), NOW)
    await queue.enqueue([make_job("ld_3", "c"), make_job("ld_4", "d", due_at=NOW + 60)])
    await take(queue, NOW)
    await queue.record_sale(sale("ld_1", "firm-a", NOW))
    before = await queue.jobs()
    await queue.close()
    assert not (tmp_path / "state.db-wal").exists()  # checkpointed into the file on close

    reopened = SqliteQueue(path)
    # As they were, but for the lease: nobody else has the file open, so nobody holds it.
    released = [
        dataclasses.replace(j, state="waiting", lease=None) if j.state == "leased" else j
        for j in before
    ]
    assert await reopened.jobs() == released
    assert [j.state for j in before] == ["waiting", "leased", "dead", "delivered"]
    assert await reopened.sales(None, NOW, NOW + 1) == [sale("ld_1", "firm-a", NOW)]
    assert ids(await take(reopened, NOW + 1)) == ["ld_3/c"]  # due since NOW, at once again
    assert ids(await take(reopened, NOW + 60)) == ["ld_3/c", "ld_4/d"]
    await reopened.close()


async def test_the_file_is_wal_with_a_versioned_schema(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    queue = SqliteQueue(path)
    assert await queue.file.read(lambda db: db.execute("PRAGMA synchronous").fetchone()[0]) == 1
    await queue.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT * FROM schema_version").fetchall() == [("deliveries", 2)]
    db.close()
    durable = SqliteQueue(path, synchronous="FULL")
    assert await durable.file.read(lambda db: db.execute("PRAGMA synchronous").fetchone()[0]) == 2
    await durable.close()


async def test_a_file_from_a_newer_pingtree_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    await SqliteQueue(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    db.close()
    with pytest.raises(StoreUnavailable, match="deliveries tables are version 99, newer"):
        SqliteQueue(path)


async def test_a_file_of_the_first_schema_is_brought_up_to_erasure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "state.db"
    with monkeypatch.context() as before_erasure:
        before_erasure.setattr(sqlite_queue, "SCHEMA", sqlite_queue.SCHEMA[:1])
        old = SqliteQueue(path)
        await old.enqueue([make_job("ld_1"), make_job("ld_2", at=NOW + 1)])
        await old.close()
    queue = SqliteQueue(path)
    assert await queue.erase(["ld_1"], NOW) == 1
    assert [(j.lead_id, j.state) for j in await queue.jobs()] == [
        *(("ld_2", "waiting"), ("ld_1", "dead")),
    ]
    assert await queue.file.read(
        lambda db: db.execute(
            "SELECT version FROM schema_version WHERE component = 'deliveries'"
        ).fetchone()
    ) == (2,)
    await queue.close()


@pytest.mark.parametrize("kind", ["missing directory", "not a database"])
async def test_a_file_that_cannot_be_opened_is_unavailable(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "nowhere" / "state.db"
    if kind == "not a database":
        path = tmp_path / "state.db"
        path.write_bytes(b"this is not an SQLite file, it is a shopping list" * 100)
    with pytest.raises(StoreUnavailable, match="state file failed"):
        SqliteQueue(path)


async def test_other_tables_join_the_file_and_its_writer(tmp_path: Path) -> None:
    file = SqliteFile(tmp_path / "state.db")
    queue = SqliteQueue(file)
    file.migrate("store", [("CREATE TABLE caps (name TEXT PRIMARY KEY, n INTEGER NOT NULL)",)])
    await file.write(lambda db: db.execute("INSERT INTO caps VALUES ('firm-a', 1)"))
    await queue.enqueue([make_job()])
    await queue.close()  # the file is shared: its owner closes it
    assert await file.read(lambda db: db.execute("SELECT n FROM caps").fetchone()) == (1,)
    threads = await file.read(lambda db: threading.current_thread().name)
    assert threads == "pingtree-sqlite"  # never the event loop's
    await file.close()
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert dict(db.execute("SELECT * FROM schema_version")) == {"deliveries": 2, "store": 1}
    db.close()


async def test_a_failing_write_spoils_none_of_those_committed_with_it(tmp_path: Path) -> None:
    file = SqliteFile(tmp_path / "state.db")
    file.migrate("test", [("CREATE TABLE t (n INTEGER PRIMARY KEY)",)])

    def insert(n: int) -> Callable[[sqlite3.Connection], None]:
        def work(db: sqlite3.Connection) -> None:
            db.execute("INSERT INTO t VALUES (?)", (n,))
            if n == 3:
                raise ValueError("the caller's own failure")

        return work

    # Queued together, so committed as one transaction: each call in its own savepoint.
    results = await asyncio.gather(
        *(file.write(insert(n)) for n in range(6)), return_exceptions=True
    )
    assert [type(r).__name__ for r in results] == [
        *["NoneType"] * 3,
        "ValueError",
        *["NoneType"] * 2,
    ]
    rows = await file.read(lambda db: db.execute("SELECT n FROM t ORDER BY n").fetchall())
    assert rows == [(0,), (1,), (2,), (4,), (5,)]
    with pytest.raises(sqlite3.IntegrityError):  # a bug is raised as it is
        await file.write(insert(0))
    await file.close()


# Redis -----------------------------------------------------------------------------------------

MakeRedisQueue = Callable[..., RedisQueue]


@pytest.fixture
async def make_redis_queue(redis_url: str) -> AsyncIterator[MakeRedisQueue]:
    """`make_redis_queue(**options)` → a RedisQueue on the tests' server; all closed at the end."""
    made: list[RedisQueue] = []

    def make(**options: Any) -> RedisQueue:
        made.append(RedisQueue(redis_url, **options))
        return made[-1]

    yield make
    for queue in made:
        await queue.close()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    """A plain client on the tests' server, to look at what the queues wrote."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_two_routers_share_the_work_and_deliver_each_job_once(
    make_redis_queue: MakeRedisQueue, raw: Redis
) -> None:
    routers = (make_redis_queue(), make_redis_queue())
    jobs = [make_job(f"ld_{n:02}", f"d{n % 6}", at=NOW + n) for n in range(36)]
    await routers[0].enqueue(jobs)
    delivered: list[Job] = []
    in_flight: set[str] = set()

    async def deliver(queue: RedisQueue, name: str) -> None:
        for step in range(200):
            claimed = await queue.claim(NOW + 100 + step, 2, LEASE_S, name)
            for job in claimed:
                assert job.key not in in_flight, f"two jobs of {job.key} at once"
                in_flight.add(job.key)
            await asyncio.sleep(0)  # the other router claims meanwhile
            for job in claimed:
                delivered.append(job)
                in_flight.discard(job.key)
                await queue.settle(job, Delivered("HTTP 200"), NOW + 100 + step)
            if len(delivered) == len(jobs):
                return

    await asyncio.gather(deliver(routers[0], "router-1"), deliver(routers[1], "router-2"))
    assert sorted(ids(delivered)) == sorted(ids(jobs))
    for n in range(6):  # each destination got its leads in order of sale
        theirs = [job.lead_id for job in delivered if job.destination == f"d{n}"]
        assert theirs == sorted(theirs)
    assert await raw.xlen(routers[0].keys.script_keys()[0]) == 0  # settled entries are deleted


async def test_a_dead_routers_jobs_are_taken_over_after_its_lease(
    make_redis_queue: MakeRedisQueue, raw: Redis
) -> None:
    dead, alive = make_redis_queue(), make_redis_queue()
    await dead.enqueue([make_job(f"ld_{n}", f"d{n}", at=NOW + n) for n in range(3)])
    await dead.enqueue([make_job("ld_9", "d0", at=NOW + 9)])
    assert len(await dead.claim(NOW + 10, 10, LEASE_S, "router-dead")) == 3
    await dead.close()  # it never settles
    stream = alive.keys.script_keys()[0]
    assert await alive.claim(NOW + 39, 10, LEASE_S, "router-alive") == []
    taken = await alive.claim(NOW + 40, 10, LEASE_S, "router-alive")
    assert ids(taken) == ["ld_0/d0", "ld_1/d1", "ld_2/d2"]
    assert {job.attempt for job in taken} == {0}
    pending = await raw.xpending(stream, "deliveries")
    assert pending["pending"] == 3
    assert pending["consumers"] == [{"name": b"router-alive", "pending": 3}]
    for job in taken:
        await alive.settle(job, Delivered("HTTP 200"), NOW + 41)
    assert ids(await alive.claim(NOW + 41, 10, LEASE_S, "router-alive")) == ["ld_9/d0"]
    assert (await raw.xpending(stream, "deliveries"))["pending"] == 1
    # The dead router left the group with its last entry; one with nothing pending does too.
    consumers = await raw.xinfo_consumers(stream, "deliveries")
    assert [(c["name"], c["pending"]) for c in consumers] == [(b"router-alive", 1)]
    await alive.settle((await alive.jobs(state="leased"))[0], Delivered("HTTP 200"), NOW + 42)
    assert await raw.xinfo_consumers(stream, "deliveries") == []


async def workout(queue: DeliveryQueue) -> None:
    """Every method that writes, so that every kind of key exists."""
    await queue.enqueue([make_job(f"ld_{n}", "a", at=NOW + n) for n in (1, 2, 7)])
    await queue.enqueue([make_job("ld_3", "b", due_at=NOW + 60), make_job("ld_4", "c")])
    await queue.enqueue([make_job("ld_5", "d"), make_job("ld_6", "e")])
    claimed = {job.lead_id: job for job in await take(queue, NOW)}
    await queue.settle(claimed["ld_1"], Delivered("HTTP 200"), NOW)
    await queue.settle(claimed["ld_4"], DeadLetter("HTTP 400"), NOW)
    await queue.settle(claimed["ld_5"], RetryAt(NOW + 30, "failover", 0, "HTTP 503"), NOW)
    await queue.replay(claimed["ld_4"].id, NOW + 1)
    await queue.retry_now(claimed["ld_5"].id, NOW + 1)
    await queue.record_sale(sale("ld_1", "firm-a", NOW))
    await queue.erase(["ld_4", "ld_1"], NOW + 1)
    await queue.purge(NOW, keep_s=3600)


async def test_every_key_has_the_prefix_and_a_hash_tag_and_no_ttl(
    make_redis_queue: MakeRedisQueue, raw: Redis
) -> None:
    await workout(make_redis_queue(prefix="pt-test"))
    kinds, slots = set(), set()
    async for name in raw.scan_iter():
        shape = re.fullmatch(r"pt-test:\{([qs])\}:([a-z]+)(:.+)?", name.decode())
        assert shape is not None, name
        kinds.add(f"{shape.group(1)}:{shape.group(2)}")
        if shape.group(1) == "q":
            slots.add(key_slot(name))
        assert await raw.pttl(name) == -1, name  # kept until settled and purged, not by Redis
    assert kinds == {
        *("q:stream", "q:delayed", "q:turns", "q:leases", "q:finished", "q:seq", "q:job"),
        *("q:ready", "q:jobs", "s:sales"),
    }
    assert len(slots) == 1  # the whole queue on one Cluster node: every script may touch it all


def test_the_listings_the_scripts_build_are_the_keys_python_names() -> None:
    keys = QueueKeys("pt")
    _, job_prefix, ready_prefix, index_prefix = keys.script_args("deliveries")
    assert job_prefix + "ld_1.buyer:firm.crm" == keys.job("ld_1.buyer:firm.crm")
    assert ready_prefix + CRM == keys.ready(CRM)
    assert index_prefix + "any" == keys.listing(None, None)
    assert index_prefix + "dead:" + CRM == keys.listing("dead", CRM)
    assert len({key_slot(k.encode()) for k in [*keys.script_keys(), keys.job("x")]}) == 1
    assert key_slot(keys.sales(None).encode()) == key_slot(keys.sales("firm-a").encode())


REDIS_CALLS: dict[str, Callable[[DeliveryQueue], Awaitable[object]]] = {
    "enqueue": lambda q: q.enqueue([make_job()]),
    "claim": lambda q: take(q),
    "settle": lambda q: q.settle(make_job(lease="l"), Delivered("HTTP 200"), NOW),
    "get": lambda q: q.get("ld_1"),
    "jobs": lambda q: q.jobs(),
    "replay": lambda q: q.replay("ld_1", NOW),
    "retry_now": lambda q: q.retry_now("ld_1", NOW),
    "purge": lambda q: q.purge(NOW, 60),
    "record_sale": lambda q: q.record_sale(sale("ld_1", "firm-a", NOW)),
    "sales": lambda q: q.sales(None, NOW, NOW + 1),
    "erase": lambda q: q.erase(["ld_1"], NOW),
}


@pytest.mark.parametrize("call", REDIS_CALLS)
async def test_a_dead_redis_is_unavailable_at_once(call: str) -> None:
    queue = RedisQueue(f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as raised:
        await REDIS_CALLS[call](queue)
    assert time.monotonic() - started < 2
    said = []
    error: BaseException | None = raised.value
    while error is not None:
        said.append(f"{error!r} {error}")
        error = error.__cause__ or error.__context__
    assert "s3cret-pw" not in " ".join(said)
    await queue.close()


async def test_connect_checks_the_server_answers(redis_url: str) -> None:
    with pytest.raises(StoreUnavailable):
        await RedisQueue.connect(f"redis://127.0.0.1:{free_port()}/0")
    queue = await RedisQueue.connect(redis_url)
    await queue.close()


async def test_a_shared_client_is_left_open(redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    queue = RedisQueue(client, prefix="shared")
    await queue.enqueue([make_job()])
    await queue.close()
    assert await client.exists(QueueKeys("shared").job(make_job().id)) == 1
    await client.aclose()


async def test_a_queue_needs_bytes_and_a_prefix_without_braces(redis_url: str) -> None:
    with pytest.raises(ValueError, match="braces"):
        RedisQueue(redis_url, prefix="pt{1}")
    decoding = Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses"):
        RedisQueue(decoding)
    await decoding.aclose()
