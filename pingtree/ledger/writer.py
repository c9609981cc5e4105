"""The ledger's writer: the outbox drained into the ledger, off the hot path (DESIGN §12).

One per router. It takes up to `batch` entries at a time under a lease, files them in one
transaction and marks them done. What it guarantees, and how:

- **None lost.** An entry leaves the outbox only after the ledger committed it (`done` after
  `file`). A router killed between the two leaves the entry leased; the lease runs out and a
  writer (this router restarted, or another on the same Redis) takes and files it again. On the
  state file that is at once (opening it releases a dead process's leases); on Redis, nobody can
  tell a dead writer from a slow one, so its batch waits out the lease: `lease_s` is short (a
  batch files in well under a second) because it is what a SIGKILL costs the ledger's rows.
- **None twice.** Filing is idempotent by id (ledger/base.py), so a second filing of an entry
  changes nothing.
- **A database that is down delays rows, never an auction.** The router only ever waits for the
  outbox's `put`; the writer retries the batch it holds with a backoff (0.2 s doubling to 10 s)
  while `pingtree_ledger_up` reads 0, and the backlog grows in the outbox, on the state file or
  in Redis, until the database is back. Holding a batch past its lease only means another
  writer may take it and file it too, which costs a repeat, never a second row.
- **A database that did not answer at start** (`migrated=False`: the app's migration failed) is
  down until the writer has migrated it, with the same backoff, before it files anything.
- **Figures.** Every `status_every_s` it reads the outbox's backlog into the
  `pingtree_ledger_backlog` and `pingtree_ledger_lag_seconds` gauges, and while it waits for the
  database too (the backlog is what grows then); /healthz reports them.
- **Retention.** Every `purge_every_s` it asks the ledger to erase PII past `retention.pii_days`
  and drop rows past `retention.ledger_days`.

An entry the writer cannot decode (written by a newer pingtree, or damaged) would come back
forever: it is logged with its id, counted in `pingtree_ledger_unreadable` and dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from pingtree.config import Retention
from pingtree.core.errors import LedgerUnavailable, StoreUnavailable
from pingtree.ledger.base import Ledger, Unreadable
from pingtree.metrics import Metrics
from pingtree.store.outbox.base import Backlog, Outbox, Taken

log = logging.getLogger(__name__)

_BACKOFF_FIRST_S = 0.2
_BACKOFF_MAX_S = 10.0


@dataclass(frozen=True, slots=True)
class WriterSettings:
    batch: int = 500
    lease_s: float = 10.0  # past it, another writer may take a batch this one still holds
    # How long the writer leaves the outbox before looking again when its last batch was not
    # full. Puts do not wake it: a writer woken by every lead files them one at a time, and the
    # answers paid for it (p50 5 → 60 ms at 150 leads/s, benchmarks/ab.py); a tenth of a second
    # gathers them into batches. An operator's audit entry and `drain` do wake it.
    idle_s: float = 0.1
    status_every_s: float = 1.0
    purge_every_s: float = 3600.0

    @classmethod
    def for_filing_process(cls) -> WriterSettings:
        """With a filing process (ledger/filer.py), half a second between looks: a batch costs
        the router a pipe write whatever its size, and the process about half as much a lead at
        150 leads as at 20 (a statement per rollup key). On a thread of the router, a tenth: a
        bigger batch holds the GIL longer."""
        return cls(idle_s=0.5)


@dataclass(frozen=True, slots=True)
class LedgerStatus:
    """What /healthz says of the ledger."""

    up: bool
    backlog: int
    lag_s: float


class LedgerWriter:
    def __init__(
        self,
        outbox: Outbox,
        ledger: Ledger,
        metrics: Metrics,
        retention: Retention,
        *,
        consumer: str,
        settings: WriterSettings | None = None,
        clock: Callable[[], float] = time.time,
        migrated: bool = True,
    ) -> None:
        self._outbox = outbox
        self._ledger = ledger
        self._metrics = metrics
        self._retention = retention
        self._consumer = consumer
        self._settings = settings or WriterSettings()
        self._clock = clock
        self._wake = asyncio.Event()
        self._stopped = asyncio.Event()  # backoffs wait on this: a put must not cut them short
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._migrated = migrated
        self._up = migrated
        self._backlog = Backlog(0, None)
        metrics.ledger_up.set_function(lambda: float(self._up))

    async def current_status(self) -> LedgerStatus:
        """The status with the backlog read now (/healthz): the one read every `status_every_s`
        is as old as the batch in hand, which may be long (a database that is slow, a filing
        process starting), and would say 0 while records wait. The last one read if the outbox
        does not answer."""
        await self._read_backlog()
        return self.status

    @property
    def status(self) -> LedgerStatus:
        oldest = self._backlog.oldest_put_at
        lag = 0.0 if oldest is None else max(self._clock() - oldest, 0.0)
        return LedgerStatus(self._up, self._backlog.entries, round(lag, 3))

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._stopped.clear()
            self._task = asyncio.create_task(self._run(), name="pingtree-ledger")

    async def stop(self) -> None:
        """Stop after the batch in hand is filed (or, if the ledger is down, left leased: it
        comes back to whichever writer runs next)."""
        self._stopping = True
        self._stopped.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    def wake(self) -> None:
        """Something was put: look now rather than after `idle_s`."""
        self._wake.set()

    async def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until the outbox is empty (tests, `pingtree forget`); False at the timeout."""
        give_up = self._clock() + timeout_s
        while self._clock() < give_up:
            self._backlog = await self._outbox.backlog()
            if self._backlog.entries == 0:
                return True
            self.wake()
            await asyncio.sleep(0.02)
        return False

    async def _run(self) -> None:
        settings = self._settings
        if not self._migrated:
            await self._migrate()
        next_status = next_purge = self._clock()
        while not self._stopping:
            self._wake.clear()  # before taking: a wake() during the take is not lost
            now = self._clock()
            if now >= next_status:
                next_status = now + settings.status_every_s
                await self._read_backlog()
            if now >= next_purge:
                next_purge = now + settings.purge_every_s
                await self._purge()
            full = await self._file_a_batch()
            if not full and not self._stopping:
                wait_s = min(settings.idle_s, max(next_status - self._clock(), 0.0))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait_s)

    async def _migrate(self) -> None:
        """The schema, once the database answers: filing into a database not migrated would
        fail for as long as it ran."""
        delay = _BACKOFF_FIRST_S
        while not self._stopping:
            try:
                await self._ledger.migrate()
            except LedgerUnavailable:
                await self._pause(delay)
                delay = min(delay * 2, _BACKOFF_MAX_S)
                continue
            log.info("ledger: the database answers: migrated, filing rows")
            self._migrated = self._up = True
            return

    async def _file_a_batch(self) -> bool:
        """Take a batch and file it, retrying while the ledger is down; True if the batch was
        full (there may be more: take again at once)."""
        try:
            taken = await self._outbox.take(
                self._settings.batch, self._settings.lease_s, self._consumer
            )
        except StoreUnavailable:
            await self._pause(_BACKOFF_MAX_S / 4)  # the state store's guard reports the outage
            return False
        if not taken:
            return False
        delay = _BACKOFF_FIRST_S
        while True:
            try:
                unreadable = await self._ledger.file_entries([item.entry for item in taken])
            except LedgerUnavailable as exc:
                if self._up:
                    log.warning("ledger: the database did not take a batch (%s); retrying", exc)
                self._up = False
                if self._stopping:
                    return False  # leased: the next writer files it
                await self._pause(delay)
                delay = min(delay * 2, _BACKOFF_MAX_S)
                continue
            break
        if not self._up:
            log.info("ledger: the database takes rows again")
        self._up = True
        await self._done(taken)
        self._count(taken, unreadable)
        return len(taken) == self._settings.batch

    def _count(self, taken: Sequence[Taken], unreadable: Sequence[Unreadable]) -> None:
        for entry in unreadable:
            log.error(
                "ledger: outbox entry %s %s unreadable (%s): dropped",
                entry.kind,
                entry.id,
                entry.error,
            )
        self._metrics.ledger_unreadable.inc(len(unreadable))
        lost = {(entry.kind, entry.id) for entry in unreadable}
        filed = Counter(
            item.entry.kind for item in taken if (item.entry.kind, item.entry.id) not in lost
        )
        for kind, count in filed.items():
            self._metrics.ledger_filed.labels(kind).inc(count)

    async def _done(self, taken: Sequence[Taken]) -> None:
        """Filed: out of the outbox. If the outbox fails now, the entries come back after their
        lease and are filed again, which changes nothing."""
        try:
            await self._outbox.done(taken)
        except StoreUnavailable:
            log.warning("ledger: %d filed entries stay in the outbox until it is back", len(taken))

    async def _read_backlog(self) -> None:
        try:
            self._backlog = await self._outbox.backlog()
        except StoreUnavailable:
            return
        self._metrics.ledger_backlog.set(self._backlog.entries)
        self._metrics.ledger_lag_seconds.set(self.status.lag_s)

    async def _purge(self) -> None:
        retention = self._retention
        now = datetime.fromtimestamp(self._clock(), UTC)
        try:
            erased, deleted = await self._ledger.purge(
                now, retention.pii_days, retention.ledger_days
            )
        except LedgerUnavailable:
            return  # next time
        if erased or deleted:
            log.info("ledger retention: PII erased from %d leads, %d deleted", erased, deleted)

    async def _pause(self, seconds: float) -> None:
        """Wait `seconds` (less when stopping), reading the backlog every `status_every_s`
        meanwhile: while the writer waits for the database, the backlog is what grows."""
        until, every = self._clock() + seconds, self._settings.status_every_s
        while not self._stopping and (left := until - self._clock()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), min(left, every))
            if not self._stopping:
                await self._read_backlog()


__all__ = ["LedgerStatus", "LedgerWriter", "WriterSettings"]
