"""The delivery queue: sold leads on their way to buyers' CRMs and sellers' postbacks, durable.

Implementations: `sqlite.SqliteQueue` (embedded: a local file, stdlib sqlite3 off the event loop)
and `redis_queue.RedisQueue` (shared: a Stream with a consumer group plus a sorted set of delayed
jobs, so any router may deliver and a dead router's jobs are claimed by another).

Semantics every implementation keeps (tests/test_queue.py is the contract):
- `enqueue` is durable when it returns, and idempotent by `Job.id`: the same id twice is one job.
  `Job.id` is the Standard Webhooks `webhook-id`: one per (sale, destination), whatever the
  attempts, so a receiver drops repeats.
- `claim` leases due jobs to one consumer for `lease_s`; nobody else gets them until the lease
  runs out (the consumer died: they become claimable again, `attempt` unchanged) or they are
  settled. Jobs come out oldest first, and at most one job per destination is leased at a time,
  so a destination gets its leads in order of sale as far as retries allow (a job waiting for
  its retry does not hold back the ones behind it).
- `settle` records one attempt's result: `Delivered`, `RetryAt` (back to waiting, on the primary
  URL or the failover), `DeadLetter` (kept, listed, replayable) or `Disabled` (the destination
  answered 410; the job is kept like a dead letter, with that reason). A settlement counts only
  while the job is still leased under the `Job.lease` that `claim` gave: one from a consumer whose
  lease ran out and was claimed by another is ignored, so a stalled router can neither undo the
  new holder's result nor free the destination for its next job while the holder is sending.
- Finished jobs and dead letters are kept `keep_s`, then purged; their bodies hold PII.
- The sales ledger (`record_sale`, `sales`) backs the CSV export: every sale's row, queryable by
  buyer and time from any router.
- `erase` forgets a consumer (DESIGN §12 `forget`): every job of the leads loses its body and its
  URLs' queries (a GET destination carries the lead's fields there); headers are the config's,
  and are kept. A job not delivered yet (waiting, or leased: an attempt in flight cannot be
  called back, but its settlement no longer counts) ends as a dead letter with reason ERASED,
  and is never sent again: an erased job cannot be replayed. A finished job keeps its row and
  state (a dead or disabled one says ERASED as its last error, why it cannot be replayed). The
  leads' sale rows keep their facts and lose SALE_PII_COLUMNS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pingtree.core.lead import PII_FIELDS

JobState = Literal["waiting", "leased", "delivered", "dead", "disabled"]
Target = Literal["primary", "failover"]

ERASED = "erased: the consumer was forgotten"
# The sale row's columns that `erase` empties: the lead's PII fields (exports.py names its columns
# after them) and the attributes, which may repeat them or be marked PII by the vertical.
SALE_PII_COLUMNS: frozenset[str] = PII_FIELDS | {"attributes"}


@dataclass(frozen=True, slots=True)
class Job:
    id: str  # the webhook-id: f"{lead_id}.{owner}.{destination}"
    lead_id: str
    owner: str  # "buyer:<id>" or "seller:<id>"
    destination: str  # the destination's id within its owner ("crm", "postback")
    created_at: float  # the sale, Unix seconds: the order of delivery
    method: str
    url: str
    failover_url: str | None
    headers: tuple[tuple[str, str], ...]  # without the signature: it is made per attempt
    body: bytes
    attempt: int = 0  # attempts made so far (on the current target)
    due_at: float = 0.0  # Unix seconds; 0 = at once
    target: Target = "primary"
    state: JobState = "waiting"
    last_error: str | None = None  # the last attempt's outcome, for the operator
    history: tuple[str, ...] = field(default=())  # one line per attempt: "at status/error ms"
    lease: str | None = None  # set by `claim`: which lease a `settle` of this job speaks for

    @property
    def key(self) -> str:
        """The destination as a whole: what ordering, metrics and the CLI group by."""
        return f"{self.owner}/{self.destination}"


@dataclass(frozen=True, slots=True)
class Delivered:
    note: str  # e.g. "HTTP 200 in 41 ms"


@dataclass(frozen=True, slots=True)
class RetryAt:
    due_at: float
    target: Target
    attempt: int  # attempts made on `target` so far (0 when switching to the failover)
    note: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str


@dataclass(frozen=True, slots=True)
class Disabled:
    reason: str  # "HTTP 410 Gone"


Settlement = Delivered | RetryAt | DeadLetter | Disabled


@dataclass(frozen=True, slots=True)
class SaleRow:
    """One line of the CSV mirror and export: the record id first, ISO 8601 times."""

    lead_id: str
    buyer_id: str
    sold_at: float  # Unix seconds
    fields: tuple[tuple[str, str], ...]  # (column, value) in column order, after lead_id


class DeliveryQueue(Protocol):
    async def enqueue(self, jobs: Sequence[Job]) -> None: ...

    async def claim(self, now: float, limit: int, lease_s: float, consumer: str) -> list[Job]: ...

    async def settle(self, job: Job, result: Settlement, now: float) -> None: ...

    async def get(self, job_id: str) -> Job | None: ...

    async def jobs(
        self,
        *,
        state: JobState | None = None,
        key: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Newest first; `key` is a destination (`buyer:firm/crm`)."""

    async def replay(self, job_id: str, now: float) -> bool:
        """A dead or disabled job back to waiting, due now, attempts from 0; False if no such
        job or it is not finished badly."""

    async def retry_now(self, job_id: str, now: float) -> bool:
        """A waiting job due now (the operator does not want to wait for its backoff)."""

    async def purge(self, now: float, keep_s: float) -> int:
        """Forget delivered, dead and disabled jobs finished more than `keep_s` ago."""

    async def record_sale(self, row: SaleRow) -> None: ...

    async def sales(self, buyer_id: str | None, start: float, end: float) -> list[SaleRow]:
        """Rows sold in [start, end), oldest first; every buyer's when `buyer_id` is None."""

    async def purge_sales(self, before: float) -> int:
        """Forget ledger rows sold before `before` (they hold the lead's PII); how many."""

    async def erase(self, lead_ids: Sequence[str], now: float) -> int:
        """Forget the consumer of `lead_ids` in their jobs and sale rows (see the module's
        docstring); how many jobs were erased (a job erased before is not counted again)."""

    async def close(self) -> None: ...
