"""`SqlLedger`: the Ledger (base.py) on SQLite or PostgreSQL.

    ledger = SqlLedger.open("sqlite:///var/pingtree/state-ledger.db")   # or postgresql://…
    await ledger.migrate()
    await ledger.file(records, audit_entries)
    page = await ledger.leads(LeadQuery(filters=Filters(seller="acme")))
    await ledger.close()

Each method is one transaction on the ledger's own thread (database.py); every database error
leaves it as LedgerUnavailable. What each does lives in its module: filing.py, queries.py,
reports.py, erasure.py; the schema in schema.py and migrations/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from functools import partial

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pingtree.core.exchange import Quote
from pingtree.core.record import AuditEntry, LeadRecord
from pingtree.ledger import erasure, filing, migrate, queries, reports
from pingtree.ledger.base import (
    AuditPage,
    AuditQuery,
    Erased,
    FiledLead,
    LeadPage,
    LeadQuery,
    Ledger,
    Report,
    ReportQuery,
    Unreadable,
    decoded,
)
from pingtree.ledger.database import (
    CONNECT_TIMEOUT_S,
    Database,
    database_url,
    is_memory,
    unavailable,
)
from pingtree.ledger.filer import FilingProcess
from pingtree.ledger.quotes import Quotes, decoded_quotes
from pingtree.store.outbox.base import Entry


class SqlLedger(Ledger):  # checked against the protocol by mypy
    def __init__(self, database: Database, filer: FilingProcess | None = None) -> None:
        self._database = database
        self._filer = filer

    @classmethod
    def open(
        cls, url: str, *, connect_timeout_s: int = CONNECT_TIMEOUT_S, filer: bool = False
    ) -> SqlLedger:
        """A ledger on `url` (database.py lists the URLs). Opening connects to nothing: the first
        call does (`ping`, `migrate`). ConfigError for a URL that is not a ledger's.

        `filer`: the writer's batches (`file_entries`) are filed by a process of their own
        (ledger/filer.py), not on a thread of this one; not for a ledger in memory, which no
        other process can reach (its filing stays on its thread)."""
        parsed = database_url(url)
        database = Database(parsed, connect_timeout_s=connect_timeout_s)
        if not filer or is_memory(parsed):
            return cls(database)
        return cls(database, FilingProcess(url, connect_timeout_s=connect_timeout_s))

    @property
    def dialect(self) -> str:
        """Its database: "sqlite" or "postgresql"."""
        return self._database.dialect

    @property
    def database(self) -> Database:
        return self._database

    async def migrate(self) -> None:
        await self._database.run_blocking(self._migrate_now)

    def _migrate_now(self) -> None:
        with unavailable():
            migrate.upgrade(self._database.engine)

    async def file(
        self,
        leads: Sequence[LeadRecord],
        audits: Sequence[AuditEntry],
        quoted: Sequence[Quote] = (),
    ) -> None:
        if leads or audits or quoted:
            work = partial(filing.file_batch, records=leads, entries=audits, quoted=quoted)
            await self._database.run(work)

    async def file_entries(self, entries: Sequence[Entry]) -> list[Unreadable]:
        if self._filer is not None:
            return await self._filer.file(entries)
        leads, audits, unreadable = decoded(entries)
        quoted, unread_quotes = decoded_quotes(entries)
        await self.file(leads, audits, quoted)
        return unreadable + unread_quotes

    @property
    def filer(self) -> FilingProcess | None:
        return self._filer

    async def lead(self, lead_id: str) -> FiledLead | None:
        return await self._database.run(partial(queries.lead, lead_id=lead_id))

    def quotes(self) -> Quotes:
        return Quotes(self._database)

    async def leads(self, query: LeadQuery) -> LeadPage:
        return await self._database.run(partial(queries.leads_page, query=query))

    async def report(self, query: ReportQuery) -> Report:
        return await self._database.run(partial(reports.report, query=query))

    async def audit(self, query: AuditQuery) -> AuditPage:
        return await self._database.run(partial(queries.audit_page, query=query))

    async def sold(self, buyer_id: str | None, start: datetime, end: datetime) -> list[FiledLead]:
        return await self._database.run(
            partial(queries.sold, buyer_id=buyer_id, start=start, end=end)
        )

    async def forget(self, hashes: Sequence[str], at: datetime) -> Erased:
        return await self._database.run(partial(erasure.forget, hashes=hashes, at=at))

    async def purge(self, now: datetime, pii_days: float, ledger_days: float) -> tuple[int, int]:
        work = partial(erasure.purge, now=now, pii_days=pii_days, ledger_days=ledger_days)
        return await self._database.run(work)

    async def ping(self) -> None:
        await self._database.run(_select_one)

    async def close(self) -> None:
        if self._filer is not None:
            await self._filer.close()
        # Not on a ledger thread: closing waits for them.
        await asyncio.to_thread(self._database.close)


def _select_one(connection: Connection) -> None:
    connection.execute(sa.select(1))
