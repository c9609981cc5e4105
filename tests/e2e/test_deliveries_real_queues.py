"""Deliveries on the real queues (SqliteQueue in memory and in a file, RedisQueue on the tests'
redis-server, where two routers share the work): a CRM down then back, a webhook gone (410),
real receivers verifying every signature, the ledger behind the CSV export, and a consumer
forgotten (erased) before the CRM came back."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from pingtree.config.models import DeliverySettings
from pingtree.deliveries.exports import HEADER
from pingtree.deliveries.service import Deliveries
from pingtree.metrics import Metrics
from pingtree.store.queue.base import ERASED, DeliveryQueue, Job
from pingtree.store.queue.redis import RedisQueue
from pingtree.store.queue.sqlite import SqliteQueue
from pingtree.transport.client import HttpTransport
from tests.e2e.test_deliveries_worker import (
    Receiver,
    Rig,
    TreeHolder,
    config_with,
    destination,
    wait_for,
)

SCHEDULE = [0, 0.05, 0.05, 0.1, 0.1, 0.1, 0.2, 0.2, 0.3, 0.3]
MakeQueue = Callable[[], DeliveryQueue]


@pytest.fixture(params=["sqlite-memory", "sqlite-file", "redis"])
async def make_queue(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, MakeQueue]]:
    """(kind, make): SQLite gives one queue (one router per state file); Redis a new client on
    the same server each call (one per router)."""
    made: list[DeliveryQueue] = []
    shared: DeliveryQueue | None = None

    def make() -> DeliveryQueue:
        nonlocal shared
        if request.param == "redis":
            made.append(RedisQueue(request.getfixturevalue("redis_url")))
            return made[-1]
        if shared is None:
            path = ":memory:" if request.param == "sqlite-memory" else tmp_path / "state.db"
            shared = SqliteQueue(path)
            made.append(shared)
        return shared

    yield request.param, make
    for queue in made:
        await queue.close()


async def every_job(queue: DeliveryQueue) -> list[Job]:
    return await queue.jobs(limit=1000)


async def until_finished(queue: DeliveryQueue, count: int, timeout_s: float = 8.0) -> None:
    finished: list[Job] = []
    for _ in range(int(timeout_s / 0.02)):
        finished = [j for j in await every_job(queue) if j.state not in ("waiting", "leased")]
        if len(finished) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{len(finished)} of {count} finished")


async def test_down_then_back_and_a_webhook_gone(
    make_queue: tuple[str, MakeQueue], tmp_path: Path
) -> None:
    kind, make = make_queue
    receiver = Receiver()
    config = config_with(
        [destination(receiver, retry_s=SCHEDULE), destination(receiver, "gone", retry_s=SCHEDULE)]
    )
    routers = 2 if kind == "redis" else 1
    rigs: list[Rig] = []
    transports: list[HttpTransport] = []
    sold: list[str] = []  # one count of sales across the routers: lead ids stay unique
    for number in range(routers):
        queue, holder, transport = make(), TreeHolder(config), HttpTransport()
        deliveries = Deliveries(
            queue,
            transport,
            Metrics(),
            lambda holder=holder: holder.tree,
            DeliverySettings(concurrency=4, poll_ms=20, ledger_days=30),
            exports_dir=tmp_path / f"exports-{number}",
            consumer=f"router-{number}",
        )
        await deliveries.start()
        rigs.append(Rig(deliveries, queue, holder, Metrics(), sold))
        transports.append(transport)
    try:
        receiver.answer("gone", 410, 410)
        for number in range(6):  # sales through either router
            await rigs[number % routers].sell(1)
        await asyncio.sleep(0.15)  # the CRM refuses connections meanwhile
        receiver.answer("crm", 500, 500)
        await receiver.start()
        queue = rigs[0].queue
        await until_finished(queue, 12)

        jobs = await every_job(queue)
        crm = sorted(j.id for j in jobs if j.destination == "crm" and j.state == "delivered")
        assert len(crm) == 6 and set(receiver.ids("crm")) == set(crm)
        assert {j.state for j in jobs if j.destination == "gone"} == {"disabled"}
        assert 1 <= len(receiver.at("gone")) <= routers  # each router asks once, then sets aside
        assert receiver.seen and all(seen.signed_ok for seen in receiver.seen)
        sold = await queue.sales(None, 0, 2e9)
        assert len({row.lead_id for row in sold}) == 6

        gone = next(j for j in jobs if j.destination == "gone")
        assert await rigs[0].deliveries.replay(gone.id)  # the operator tries it again
        before = len(receiver.at("gone"))
        await wait_for(lambda: len(receiver.at("gone")) == before + 1)
        assert receiver.ids("gone")[-1] == gone.id
    finally:
        for rig in rigs:
            await rig.deliveries.stop()
        for transport in transports:
            await transport.close()
        await receiver.close()


async def test_a_forgotten_consumer_is_never_delivered_and_leaves_no_pii(
    make_queue: tuple[str, MakeQueue], tmp_path: Path
) -> None:
    _, make = make_queue
    receiver = Receiver()
    queue, holder = make(), TreeHolder(config_with([destination(receiver, retry_s=SCHEDULE)]))
    transport = HttpTransport()
    deliveries = Deliveries(
        queue,
        transport,
        Metrics(),
        lambda: holder.tree,
        DeliverySettings(concurrency=4, poll_ms=20, ledger_days=30),
        exports_dir=tmp_path / "exports",
        consumer="router-0",
    )
    rig = Rig(deliveries, queue, holder, Metrics())  # type: ignore[arg-type]
    await deliveries.start()
    try:
        # The CRM is down: both leads' jobs wait for their retries when the consumer of the
        # first asks to be forgotten.
        forgotten, kept = await rig.sell(2)
        await asyncio.sleep(0.1)
        assert await deliveries.erase([forgotten]) == 1
        await receiver.start()
        await until_finished(queue, 2)
        await asyncio.sleep(0.2)  # time enough for a wrongly revived job to go out

        assert receiver.ids("crm") == [f"{kept}.buyer:firm.crm"]
        erased = await queue.get(f"{forgotten}.buyer:firm.crm")
        assert erased is not None
        assert (erased.state, erased.last_error, erased.body) == ("dead", ERASED, b"")
        assert await deliveries.replay(erased.id) is False
        rows = {row.lead_id: dict(row.fields) for row in await queue.sales(None, 0, 2e9)}
        assert (rows[forgotten]["phone"], rows[forgotten]["first_name"]) == ("", "")
        assert rows[forgotten]["price"] == rows[kept]["price"] == "42.50"
        assert rows[kept]["phone"] == "+13055551234"
        [mirror_file] = (tmp_path / "exports").rglob("*.csv")
        lines = {line[0]: line for line in csv.reader(mirror_file.open(newline=""))}
        phone = HEADER.index("phone")
        assert (lines[forgotten][phone], lines[kept][phone]) == ("", "+13055551234")
    finally:
        await deliveries.stop()
        await transport.close()
        await receiver.close()
