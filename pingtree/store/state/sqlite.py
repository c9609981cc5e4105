"""The embedded store, durable: MemoryStore's state written through to the state file, so a
restart neither passes a cap nor sells a consumer, or a resent lead, a second time.

**Memory decides, the file remembers.** Every read and every decision is MemoryStore's (memory.py):
in memory, atomic because no method awaits between reading and changing its state. What a call
changed is then written to the state file (sqlite_file.py: the SQLite file the delivery queue
lives in too, its one writer thread, group commit) and the call returns only once that write is
committed (DESIGN rule 7: no fire-and-forget). A cap slot, a dedup claim, an idempotency claim or
answer, a journal entry or seal and an outcome are on disk before the router acts on them. Opening
the store reads the live (unexpired) state back into memory.

**What one call writes**: the current value of each entry it changed (upserted), or its absence
(deleted), never a delta; one transaction per call, grouped with whatever else is queued.

    reserve               the buyer's hour and day usage (count, spend) and its dedup claims
    release               the same rows again (a slot freed, the claims dropped)
    confirm               nothing (a held reservation is not written: see below)
    claim_idempotency     the record, when the call claimed it (new key, or a takeover)
    complete_idempotency  the record, when it holds this outcome's answer
    abandon_idempotency   the record (deleted when abandoned)
    journal_post, seal    the lead's journal row (its buyers, its seal)
    record_outcome        the outcome, encoded (outcome.encode_outcome)
    pause, resume         the buyer's pause row (deleted on resume); never purged: kept until
                          resumed, across restarts
    breaker_*             nothing: the breaker is health statistics, restarted closed

Values are read when the change is made, and writes reach the one writer thread in the order of
the changes (nothing awaits in between), so the file's last write of an entry holds memory's
latest value. A write that fails (StoreUnavailable) leaves memory ahead of the file, and the
caller knows it failed: the router then does not post, or frees what it held (a release, an
abandon), or the guard writes the answer again (store/guard.py); each of those rewrites the
entry's current value, which brings the file back in line. Until then the file is behind on the
safe side: a reservation it lacks was never posted on.

**Held reservations** live in memory only. A reservation is released or confirmed by the process
that made it, in the same auction; after a crash, one that was neither stays counted (the slot is
lost, never oversold), as Redis's does once its held marker expires. Writing the mark would cost a
write per sale (confirm) and change nothing a restarted router can do.

**Bounds**, as MemoryStore's: every row has its entry's expiry; every `purge_every_s` one call's
write also deletes expired rows and trims outcomes, journals and idempotency records to the newest
`max_leads` (four times that for idempotency), as memory evicts them. Loading reads the same.

**Durability** is the file's: with `synchronous="NORMAL"` a returned call survives the process
being killed; `"FULL"` also survives a power loss, for an fsync per group commit.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pingtree.config import Retention
from pingtree.core import jsonenc
from pingtree.core.outcome import Outcome
from pingtree.store.held.base import HeldBids
from pingtree.store.held.sqlite import SqliteHeldBids
from pingtree.store.outbox.base import Entry, Outbox
from pingtree.store.outbox.sqlite import SqliteOutbox, put_statements
from pingtree.store.sqlite_file import SqliteFile
from pingtree.store.state.base import (
    AnswerWrite,
    CapRequest,
    Claimed,
    IdempotencyClaim,
    IdempotencyKey,
    Pause,
    Refused,
    Reservation,
)
from pingtree.store.state.memory import MemoryStore
from pingtree.store.state.memory_records import CapUsage, IdempotencyRecord
from pingtree.store.state.sqlite_tables import (
    DELETE_DEDUP,
    DELETE_IDEMPOTENCY,
    SCHEMA,
    TABLES,
    UPSERT_DEDUP,
    UPSERT_IDEMPOTENCY,
    UPSERT_JOURNAL,
    UPSERT_OUTCOME,
    UPSERT_PAUSE,
    UPSERT_USAGE,
    Statement,
)
from pingtree.store.suppression.base import SuppressionEntries
from pingtree.store.suppression.sqlite import SqliteSuppression
from pingtree.store.turns.sqlite import SqliteTurns

__all__ = ["SCHEMA", "SqliteStore"]


class SqliteStore(MemoryStore):
    """A Store on the state file. Given a path it opens (and on close, closes) its own file;
    given a `SqliteFile` it shares it (with the delivery queue) and leaves closing it to its
    owner. Opening reads the file's live state: it blocks, and belongs to start-up."""

    def __init__(
        self,
        file: str | Path | SqliteFile,
        retention: Retention | None = None,
        *,
        clock: Callable[[], float] = time.time,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        purge_every_s: float = 60.0,
    ) -> None:
        super().__init__(retention, clock=clock)
        self._owns_file = not isinstance(file, SqliteFile)
        self.file = (
            file if isinstance(file, SqliteFile) else SqliteFile(file, synchronous=synchronous)
        )
        self._purge_every_s = purge_every_s
        self._purge_at = clock() + purge_every_s
        self._max_leads = self._retention.max_leads
        self.file.migrate("store", SCHEMA)
        self.file.read_now(self._load)
        self._file_outbox: SqliteOutbox | None = None
        self._turns = SqliteTurns(self.file)
        self._file_suppression: SqliteSuppression | None = None

    # idempotency ------------------------------------------------------------------------------

    async def claim_idempotency(
        self,
        key: IdempotencyKey,
        ttl_s: float,
        *,
        lead_id: str | None = None,
        lease_s: float | None = None,
    ) -> IdempotencyClaim:
        claim = await super().claim_idempotency(key, ttl_s, lead_id=lead_id, lease_s=lease_s)
        if isinstance(claim, Claimed):  # a new record, a takeover, or the owner's own resend
            await self._write(self._idempotency_rows((key.seller_id, key.key)))
        return claim

    async def complete_idempotency(
        self, key: IdempotencyKey, outcome: Outcome, *, lead_id: str | None = None
    ) -> AnswerWrite:
        landed = await super().complete_idempotency(key, outcome, lead_id=lead_id)
        scope = (key.seller_id, key.key)
        # Written when the record holds this answer, also when it held it already: that is the
        # guard's retry of an answer whose first write failed.
        if landed == "answered":
            await self._write(self._idempotency_rows(scope))
        return landed

    async def abandon_idempotency(self, key: IdempotencyKey, *, lead_id: str | None = None) -> None:
        await super().abandon_idempotency(key, lead_id=lead_id)
        await self._write(self._idempotency_rows((key.seller_id, key.key)))

    def _idempotency_rows(self, scope: tuple[str, str]) -> list[Statement]:
        record = self._claim(scope)
        if record is None:
            return [(DELETE_IDEMPOTENCY, scope)]
        row = (
            *scope,
            record.fingerprint,
            record.owner,
            jsonenc.dumps(list(record.chain)).decode(),
            record.lease_until,
            record.answer,
            record.answered_by,
            int(record.verdict),
            self._idempotency.expires_at(scope),
        )
        return [(UPSERT_IDEMPOTENCY, row)]

    # caps and dedup ---------------------------------------------------------------------------

    async def reserve(self, request: CapRequest) -> Reservation | Refused:
        reserved = await super().reserve(request)
        if isinstance(reserved, Reservation):
            await self._write(self._cap_rows(request))
        return reserved

    async def release(self, reservation: Reservation) -> None:
        # Written even when memory had nothing to free: the guard's retry of a release whose
        # first write failed.
        await super().release(reservation)
        await self._write(self._cap_rows(reservation.request))

    def _cap_rows(self, request: CapRequest) -> list[Statement]:
        buyer = request.buyer_id
        rows: list[Statement] = []
        for period in ("h" + request.windows.hour, "d" + request.windows.day):
            usage = self._usage.get((buyer, period))
            if usage is not None:
                expires = self._usage.expires_at((buyer, period))
                rows.append((UPSERT_USAGE, (buyer, period, usage.count, str(usage.spend), expires)))
        for dedup_key in request.dedup_keys:
            owner = self._dedup.get((buyer, dedup_key))
            if owner is None:
                rows.append((DELETE_DEDUP, (buyer, dedup_key)))
            else:
                expires = self._dedup.expires_at((buyer, dedup_key))
                rows.append((UPSERT_DEDUP, (buyer, dedup_key, owner, expires)))
        return rows

    # journal and outcomes ---------------------------------------------------------------------

    async def journal_post(self, lead_id: str, buyer_id: str) -> bool:
        journaled = await super().journal_post(lead_id, buyer_id)
        if journaled:
            await self._write(self._journal_rows(lead_id))
        return journaled

    async def seal_journal(self, lead_id: str) -> tuple[str, ...]:
        posted = await super().seal_journal(lead_id)
        await self._write(self._journal_rows(lead_id))
        return posted

    def _journal_rows(self, lead_id: str) -> list[Statement]:
        buyers = self._journal.get(lead_id)
        sealed = self._sealed.get(lead_id)
        if buyers is None and not sealed:
            return [("DELETE FROM store_journal WHERE lead_id = ?", (lead_id,))]
        journal_until = self._journal.expires_at(lead_id) if buyers is not None else None
        sealed_until = self._sealed.expires_at(lead_id) if sealed else None
        expires = max(journal_until or 0.0, sealed_until or 0.0)
        listed = None if buyers is None else jsonenc.dumps(list(buyers)).decode()
        return [(UPSERT_JOURNAL, (lead_id, listed, journal_until, sealed_until, expires))]

    async def record_outcome(self, outcome: Outcome, ledger: Sequence[Entry] = ()) -> None:
        await super().record_outcome(outcome)
        statements: list[Statement] = []
        encoded = self._outcomes.get(outcome.id)  # as memory encoded it: once per outcome
        if encoded is not None:
            expires = self._outcomes.expires_at(outcome.id)
            statements.append((UPSERT_OUTCOME, (outcome.id, encoded, expires)))
        if ledger:
            self.outbox()  # its table, made at start-up by the ledger's wiring
            statements += put_statements(ledger, self._clock())
        if statements:
            await self._write(statements)  # one transaction: the record with its outcome

    def outbox(self) -> Outbox:
        """The outbox on this store's state file (made, with its table, at the first call)."""
        if self._file_outbox is None:
            self._file_outbox = SqliteOutbox(self.file, clock=self._clock)
        return self._file_outbox

    def held_bids(self) -> HeldBids:
        """Held bids in this store's state file (made, with their table, at the first call)."""
        if self._held_bids is None:
            self._held_bids = SqliteHeldBids(self.file, self._clock)
        return self._held_bids

    def suppression(self) -> SuppressionEntries:
        """The added suppression entries on this store's state file (its table made and read
        at the first call: the suppression gate makes it at start-up)."""
        if self._file_suppression is None:
            self._file_suppression = SqliteSuppression(self.file)
        return self._file_suppression

    # pauses -------------------------------------------------------------------------------------

    async def pause(self, buyer_id: str, by: str, at: str, reason: str | None) -> None:
        await super().pause(buyer_id, by, at, reason)
        await self._write([(UPSERT_PAUSE, (buyer_id, by, at, reason))])

    async def resume(self, buyer_id: str) -> None:
        await super().resume(buyer_id)
        await self._write([("DELETE FROM store_pauses WHERE buyer_id = ?", (buyer_id,))])

    # the file ---------------------------------------------------------------------------------

    async def ping(self) -> None:
        await self.file.read(lambda db: db.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        if self._owns_file:
            await self.file.close()

    async def _write(self, statements: list[Statement]) -> None:
        """The statements in one transaction, committed before this returns; the periodic purge
        rides along when it is due."""
        now = self._clock()
        if now >= self._purge_at:
            self._purge_at = now + self._purge_every_s
            statements = [*statements, *self._purge(now)]

        def run(db: sqlite3.Connection) -> None:
            for statement, args in statements:
                db.execute(statement, args)

        await self.file.write(run)

    def _purge(self, now: float) -> list[Statement]:
        """Expired rows deleted; outcomes, journals and idempotency records trimmed to the newest
        as many as memory keeps."""
        statements: list[Statement] = [
            (f"DELETE FROM {table} WHERE expires_at <= ?", (now,)) for table in TABLES
        ]
        for table, keep in self._kept():
            statements.append(
                (
                    f"DELETE FROM {table} WHERE expires_at < (SELECT expires_at FROM {table}"
                    " ORDER BY expires_at DESC LIMIT 1 OFFSET ?)",
                    (keep - 1,),  # the row at OFFSET keep - 1 is the oldest one kept
                )
            )
        return statements

    def _kept(self) -> tuple[tuple[str, int], ...]:
        """The tables memory caps by count (memory.py), and its caps."""
        return (
            ("store_outcomes", self._max_leads),
            ("store_journal", self._max_leads),
            ("store_idempotency", 4 * self._max_leads),
        )

    # loading ----------------------------------------------------------------------------------

    def _load(self, db: sqlite3.Connection) -> None:
        """The file's live rows into memory (on the file's thread, the opener blocked), each with
        the time it has left; oldest first, as memory would have inserted them."""
        now = self._clock()
        caps = dict(self._kept())

        def live(table: str, columns: str) -> list[Any]:
            limit = caps.get(table, -1)  # the newest `limit` rows; -1: all
            rows = db.execute(
                f"SELECT {columns}, expires_at FROM {table} WHERE expires_at > ?"
                " ORDER BY expires_at DESC LIMIT ?",
                (now, limit),
            ).fetchall()
            rows.reverse()
            return rows

        for buyer, period, count, spend, expires in live(
            "store_usage", "buyer_id, period, count, spend"
        ):
            self._usage.put((buyer, period), CapUsage(count, Decimal(spend)), expires - now)
        for buyer, dedup_key, lead_id, expires in live(
            "store_dedup", "buyer_id, dedup_key, lead_id"
        ):
            self._dedup.put((buyer, dedup_key), lead_id, expires - now)
        columns = (
            "seller_id, key, fingerprint, owner, chain, lease_until, answer, answered_by, verdict"
        )
        for seller, key, fingerprint, owner, chain, lease, answer, by, verdict, expires in live(
            "store_idempotency", columns
        ):
            record = IdempotencyRecord(
                fingerprint,
                owner,
                tuple(jsonenc.loads(chain)),
                lease,
                None if answer is None else bytes(answer),
                by,
                bool(verdict),
            )
            self._keep((seller, key), record, expires - now)
        columns = "lead_id, buyers, journal_until, sealed_until"
        for lead_id, buyers, journal_until, sealed_until, _ in live("store_journal", columns):
            if buyers is not None and journal_until is not None and journal_until > now:
                self._journal.put(lead_id, tuple(jsonenc.loads(buyers)), journal_until - now)
            if sealed_until is not None and sealed_until > now:
                self._sealed.put(lead_id, True, sealed_until - now)
        for lead_id, encoded, expires in live("store_outcomes", "lead_id, outcome"):
            self._outcomes.put(lead_id, bytes(encoded), expires - now)
        for buyer_id, by, at, reason in db.execute(
            "SELECT buyer_id, paused_by, paused_at, reason FROM store_pauses"
        ):
            self._pauses[buyer_id] = Pause(by, at, reason)
