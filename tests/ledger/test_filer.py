"""The ledger's filing process (ledger/filer.py): batches filed by a child process on the same
database the router reads, on a SQLite file and on a real PostgreSQL; what happens when the child
dies, is signalled, or its router goes away."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pingtree.core.errors import LedgerUnavailable
from pingtree.core.record import encode_audit, encode_record
from pingtree.ledger.base import LeadQuery, Unreadable
from pingtree.ledger.sql import SqlLedger
from pingtree.store.outbox.base import Entry
from tests.ledger.records import make_audit, make_record
from tests.processes import ended, ends_within


def lead_entries(*numbers: int) -> list[Entry]:
    return [Entry("lead", f"ld_{n:08d}", encode_record(make_record(n))) for n in numbers]


@pytest.fixture(params=["sqlite-file", "postgresql"])
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlLedger]:
    if request.param == "sqlite-file":
        url = f"sqlite:///{tmp_path}/state-ledger.db"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    ledger = SqlLedger.open(url, filer=True)
    await ledger.migrate()
    try:
        yield ledger
    finally:
        await ledger.close()


async def test_batches_are_filed_by_another_process_and_read_back_here(
    ledger: SqlLedger,
) -> None:
    assert ledger.filer is not None and ledger.filer.pid is None  # started by the first batch
    audit = make_audit(1)
    entries = [*lead_entries(1, 2, 3), Entry("audit", audit.id, encode_audit(audit))]
    assert await ledger.file_entries(entries) == []
    child = ledger.filer.pid
    assert child is not None and child != os.getpid()
    page = await ledger.leads(LeadQuery())
    assert sorted(filed.record.id for filed in page.leads) == [f"ld_{n:08d}" for n in (1, 2, 3)]
    assert (await ledger.lead("ld_00000002")) is not None
    # Idempotent across processes too: the same batch again changes nothing.
    await ledger.file_entries(entries)
    assert len((await ledger.leads(LeadQuery())).leads) == 3
    assert ledger.filer.pid == child  # one child for the router's life
    await ledger.close()
    assert ends_within(child, 5)


async def test_an_entry_that_does_not_decode_is_named_and_the_rest_filed(
    ledger: SqlLedger,
) -> None:
    damaged = Entry("lead", "ld_damaged", b'{"outcome": "not an outcome"')
    unreadable = await ledger.file_entries([*lead_entries(1), damaged, *lead_entries(2)])
    assert unreadable == [Unreadable("lead", "ld_damaged", "JSONDecodeError")]
    assert len((await ledger.leads(LeadQuery())).leads) == 2


async def test_a_killed_child_costs_one_batch_and_the_next_starts_another(
    ledger: SqlLedger,
) -> None:
    await ledger.file_entries(lead_entries(1))
    assert ledger.filer is not None and ledger.filer.pid is not None
    first = ledger.filer.pid
    os.kill(first, signal.SIGKILL)
    with pytest.raises(LedgerUnavailable, match="filing process stopped"):
        await ledger.file_entries(lead_entries(2))
    await ledger.file_entries(lead_entries(2))  # the writer's retry
    assert ledger.filer.pid not in (None, first)
    assert len((await ledger.leads(LeadQuery())).leads) == 2


async def test_the_child_ignores_the_signals_a_terminal_sends_its_whole_group(
    ledger: SqlLedger,
) -> None:
    await ledger.file_entries(lead_entries(1))
    assert ledger.filer is not None and ledger.filer.pid is not None
    child = ledger.filer.pid
    os.kill(child, signal.SIGINT)
    os.kill(child, signal.SIGTERM)
    await asyncio.sleep(0.2)
    assert await ledger.file_entries(lead_entries(2)) == []
    assert ledger.filer.pid == child


async def test_a_database_that_is_down_is_ledger_unavailable_from_the_child() -> None:
    # Nothing listens on port 9 of loopback: the child's connection is refused at once.
    ledger = SqlLedger.open("postgresql://pingtree@127.0.0.1:9/ledger", filer=True)
    try:
        with pytest.raises(LedgerUnavailable, match="OperationalError"):
            await ledger.file_entries(lead_entries(1))
        assert ledger.filer is not None and ledger.filer.pid is not None  # the child lives on
    finally:
        await ledger.close()


def test_a_ledger_in_memory_files_on_its_thread() -> None:
    assert SqlLedger.open("sqlite://", filer=True).filer is None


ROUTER = """
import asyncio, os, sys
from pingtree.ledger.sql import SqlLedger
sys.path.insert(0, {root!r})
from tests.ledger.test_filer import lead_entries

async def main():
    ledger = SqlLedger.open({url!r}, filer=True)
    await ledger.migrate()
    await ledger.file_entries(lead_entries(1))
    print(ledger.filer.pid, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_the_child_stops_when_its_router_dies(tmp_path: Path) -> None:
    script = ROUTER.format(
        url=f"sqlite:///{tmp_path}/ledger.db", root=str(Path(__file__).parents[2])
    )
    router = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert router.stdout is not None
        child = int(router.stdout.readline())
        assert not ended(child)
        router.kill()  # SIGKILL: nothing of the router's runs, its pipes close
        router.wait(5)
        assert ends_within(child, 5), "the filing process outlived its router"
    finally:
        router.kill()
        router.wait(5)
