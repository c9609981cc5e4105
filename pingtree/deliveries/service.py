"""Deliveries: the one object the router and the app hold for what happens after a sale. A sale
is handed to `sold()`, which makes it durable (jobs enqueued, then the ledger row when the ledger
is on; the CSV mirror line is best effort) before the router records the outcome and answers the
seller (router.py, `_deliver`); the worker it owns delivers the jobs in the background.

Built by web/app.py, the wiring (the queue: SQLite on the state file or in memory, or Redis
with `serve --redis-url`; this object; its worker started after the transport, stopped before
it); its admin routes are web/deliveries_admin.py's, `pingtree deliveries …` cli/deliveries.py.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from pingtree.config.models import DeliverySettings
from pingtree.config.tree import Tree
from pingtree.core.lead import Lead
from pingtree.core.outcome import Outcome
from pingtree.core.ranking import Offer
from pingtree.deliveries.exports import CsvMirror, sale_row
from pingtree.deliveries.jobs import plan_sale
from pingtree.deliveries.worker import LEASE_S, DeliveryWorker
from pingtree.metrics import Metrics
from pingtree.store.queue.base import DeliveryQueue, SaleRow
from pingtree.transport.client import Transport

log = logging.getLogger(__name__)


def default_consumer() -> str:
    """This router's name on the queue's leases: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Deliveries:
    def __init__(
        self,
        queue: DeliveryQueue,
        transport: Transport,
        metrics: Metrics,
        tree: Callable[[], Tree],
        settings: DeliverySettings,
        *,
        exports_dir: str | Path | None,
        consumer: str,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        lease_s: float = LEASE_S,
        stop_grace_s: float = 10.0,
    ) -> None:
        self.queue = queue
        self._metrics = metrics.deliveries
        self._clock = clock
        self.mirror = CsvMirror(exports_dir) if exports_dir is not None else None
        # The ledger (the CSV download) is opt-in: it keeps each sale's PII, at a write a sale.
        self.ledger_s = None if settings.ledger_days is None else settings.ledger_days * 86400
        self.worker = DeliveryWorker(
            queue,
            transport,
            metrics.deliveries,
            tree,
            consumer=consumer,
            concurrency=settings.concurrency,
            poll_s=settings.poll_ms / 1000,
            lease_s=lease_s,
            keep_s=settings.keep_days * 86400,
            ledger_keep_s=self.ledger_s,
            stop_grace_s=stop_grace_s,
            clock=clock,
            rng=rng,
        )

    def now(self) -> float:
        return self._clock()

    async def sold(
        self, tree: Tree, outcome: Outcome, lead: Lead, won: Offer, shares: Sequence[Offer] = ()
    ) -> None:
        """Make a sale's deliveries durable (`won`: the offer that bought it, whose ping's ids,
        price and carried values the requests may read; `shares`, every offer that bought a
        share of a lead sold shared): its jobs enqueued (one per destination of each buyer, one
        for the seller's postback) and the worker woken, its ledger row (one per sale)
        recorded (the CSV download) when the ledger is on, its line appended to the local CSV
        mirror when `exports_dir` is set. Returns once all of it is written; raises if the queue
        cannot take the jobs or the ledger row. A mirror that fails is logged, never raised: a
        convenience copy, not the record, and the jobs are queued whatever it does. Nothing for
        a lead not sold."""
        if outcome.status != "sold" or outcome.buyer_id is None:
            return
        now = self._clock()
        plan = plan_sale(tree, outcome, lead, won, now=now, shares=shares)
        for unbuildable in plan.unbuildable:
            # Nothing could ever be sent: counted as a dead letter, said in the log.
            self._metrics.dead_letters.labels(unbuildable.key).inc()
            log.error(
                "deliveries: %s to %s cannot be built, not queued: %s",
                outcome.id,
                unbuildable.key,
                unbuildable.reason,
            )
        if plan.jobs:
            await self.queue.enqueue(plan.jobs)
            self.worker.wake()  # queued: whatever follows, they need not wait for the next poll
        if self.ledger_s is not None or self.mirror is not None:
            for line in outcome.sale_lines():
                row = sale_row(outcome, lead, sold_at=now, line=line)
                if self.ledger_s is not None:
                    await self.queue.record_sale(row)
                if self.mirror is not None:
                    await self._mirror(self.mirror, row)

    async def _mirror(self, mirror: CsvMirror, row: SaleRow) -> None:
        """The sale's line in the CSV mirror, or an error in the log (a full disk, a folder not
        writable): the mirror is a convenience copy, not the record; the sale and its jobs stand
        without it."""
        try:
            await mirror.append(row)
        except Exception as exc:
            # The file's name (buyer and day) and the OS's reason: never the row, it is PII.
            why = getattr(exc, "strerror", None) or type(exc).__name__
            log.error(
                "deliveries: the CSV mirror missed the sale of %s (the sale and its deliveries"
                " stand): %s: %s",
                row.lead_id,
                mirror.path_for(row.buyer_id, row.sold_at),
                why,
            )

    async def retry_now(self, job_id: str) -> bool:
        """A waiting job due now (the operator will not wait for its backoff)."""
        done = await self.queue.retry_now(job_id, self._clock())
        if done:
            self.worker.wake()
        return done

    async def replay(self, job_id: str) -> bool:
        """A dead or disabled job sent again from its first attempt. Replaying a job of a
        destination this router set aside after a 410 tries that destination again."""
        job = await self.queue.get(job_id)
        done = await self.queue.replay(job_id, self._clock())
        if done and job is not None:
            self.worker.enable(job.key)
            self.worker.wake()
        return done

    async def erase(self, lead_ids: Sequence[str]) -> int:
        """Forget the consumer of `lead_ids` in everything deliveries keep (DESIGN §12 `forget`):
        their jobs and sale rows (`DeliveryQueue.erase`: bodies gone, jobs not delivered yet
        ended and never sent again) and their lines in the CSV mirror. How many jobs were
        erased. Raises StoreUnavailable if the queue fails, OSError if a mirror file cannot be
        rewritten: the PII may then still be there, and erasing again is safe."""
        erased = await self.queue.erase(lead_ids, self._clock())
        self.worker.wake()  # a destination whose next job waited behind an erased one
        if self.mirror is not None:
            lines = await self.mirror.erase(lead_ids)
            log.info("deliveries: erased %d job(s) and %d CSV mirror line(s)", erased, lines)
        return erased

    async def start(self) -> None:
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()


__all__ = ["Deliveries", "default_consumer"]
