"""An in-memory DeliveryQueue for the deliveries' tests, keeping the semantics store/queue.py
states (the real SqliteQueue and RedisQueue have their own contract suite), and a few tests that
it does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pingtree.store.queue.base import (
    ERASED,
    DeadLetter,
    Delivered,
    DeliveryQueue,
    Disabled,
    Job,
    JobState,
    RetryAt,
    SaleRow,
    Settlement,
)
from pingtree.store.queue.settle import erased_sale, without_query


class FakeQueue:
    def __init__(self) -> None:
        self.by_id: dict[str, Job] = {}
        self.lease_until: dict[str, float] = {}
        self.finished_at: dict[str, float] = {}
        self.rows: list[SaleRow] = []
        self.settlements: list[tuple[str, Settlement]] = []
        self.fail_next: Exception | None = None  # raised by the next call, then cleared
        self.leases = 0
        self.erased: set[str] = set()

    def _maybe_fail(self) -> None:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc

    async def enqueue(self, jobs: Sequence[Job]) -> None:
        self._maybe_fail()
        for job in jobs:
            self.by_id.setdefault(job.id, job)

    async def claim(self, now: float, limit: int, lease_s: float, consumer: str) -> list[Job]:
        self._maybe_fail()
        for job_id, until in list(self.lease_until.items()):
            if until <= now:  # the consumer died: claimable again, attempt unchanged
                del self.lease_until[job_id]
                self.by_id[job_id] = replace(self.by_id[job_id], state="waiting", lease=None)
        busy = {self.by_id[i].key for i in self.lease_until}
        claimed: list[Job] = []
        for job in sorted(self.by_id.values(), key=lambda j: (j.created_at, j.id)):
            if len(claimed) >= limit:
                break
            if job.state != "waiting" or job.key in busy or job.due_at > now:
                continue
            busy.add(job.key)
            self.leases += 1
            leased = replace(job, state="leased", lease=f"{consumer}#{self.leases}")
            self.by_id[job.id] = leased
            self.lease_until[job.id] = now + lease_s
            claimed.append(leased)
        return claimed

    async def settle(self, job: Job, result: Settlement, now: float) -> None:
        self._maybe_fail()
        current = self.by_id[job.id]
        if current.state != "leased" or current.lease != job.lease:
            return  # a lease that ran out and was claimed by another: ignored
        self.settlements.append((job.id, result))
        self.lease_until.pop(job.id, None)
        if isinstance(result, Delivered):
            line, changes = result.note, {"state": "delivered", "attempt": job.attempt + 1}
        elif isinstance(result, RetryAt):
            line = result.note
            changes = {
                "state": "waiting",
                "due_at": result.due_at,
                "target": result.target,
                "attempt": result.attempt,
            }
        elif isinstance(result, DeadLetter):
            line, changes = result.reason, {"state": "dead"}
        else:
            assert isinstance(result, Disabled)
            line, changes = result.reason, {"state": "disabled"}
        if changes["state"] != "waiting":
            self.finished_at[job.id] = now
        self.by_id[job.id] = replace(
            current,
            last_error=line,
            history=(*current.history, f"{now:.3f} {line}"),
            lease=None,
            **changes,
        )

    def lease_now(self, job_id: str) -> Job:
        """The job leased to a test, whatever its turn: to settle it as a test needs."""
        leased = replace(self.by_id[job_id], state="leased", lease="test")
        self.by_id[job_id] = leased
        return leased

    async def get(self, job_id: str) -> Job | None:
        return self.by_id.get(job_id)

    async def jobs(
        self, *, state: JobState | None = None, key: str | None = None, limit: int = 100
    ) -> list[Job]:
        found = [
            j
            for j in self.by_id.values()
            if (state is None or j.state == state) and (key is None or j.key == key)
        ]
        return sorted(found, key=lambda j: (j.created_at, j.id), reverse=True)[:limit]

    async def replay(self, job_id: str, now: float) -> bool:
        job = self.by_id.get(job_id)
        if job is None or job.state not in ("dead", "disabled") or job_id in self.erased:
            return False
        self.finished_at.pop(job_id, None)
        self.by_id[job_id] = replace(job, state="waiting", due_at=now, attempt=0, target="primary")
        return True

    async def retry_now(self, job_id: str, now: float) -> bool:
        job = self.by_id.get(job_id)
        if job is None or job.state != "waiting":
            return False
        self.by_id[job_id] = replace(job, due_at=now)
        return True

    async def purge(self, now: float, keep_s: float) -> int:
        old = [i for i, at in self.finished_at.items() if at < now - keep_s]
        for job_id in old:
            del self.by_id[job_id], self.finished_at[job_id]
        return len(old)

    async def record_sale(self, row: SaleRow) -> None:
        self._maybe_fail()
        self.rows.append(row)

    async def sales(self, buyer_id: str | None, start: float, end: float) -> list[SaleRow]:
        return sorted(
            (
                r
                for r in self.rows
                if (buyer_id is None or r.buyer_id == buyer_id) and start <= r.sold_at < end
            ),
            key=lambda r: r.sold_at,
        )

    async def purge_sales(self, before: float) -> int:
        kept = [r for r in self.rows if r.sold_at >= before]
        purged, self.rows = len(self.rows) - len(kept), kept
        return purged

    async def erase(self, lead_ids: Sequence[str], now: float) -> int:
        erased = 0
        for job_id, job in list(self.by_id.items()):
            if job.lead_id not in lead_ids or job_id in self.erased:
                continue
            self.erased.add(job_id)
            if job.state in ("waiting", "leased"):
                self.lease_until.pop(job_id, None)
                self.finished_at[job_id] = now
                job = replace(job, state="dead", lease=None)
            if job.state != "delivered":
                job = replace(job, last_error=ERASED)
            self.by_id[job_id] = replace(job, body=b"", url=without_query(job.url))
            erased += 1
        self.rows = [
            replace(r, fields=erased_sale(r.fields)) if r.lead_id in lead_ids else r
            for r in self.rows
        ]
        return erased

    async def close(self) -> None:
        return None


def make_job(job_id: str = "ld_1.buyer:a.crm", **changes: object) -> Job:
    owner, destination = job_id.split(".")[1:3] if job_id.count(".") >= 2 else ("buyer:a", "crm")
    job = Job(
        id=job_id,
        lead_id=job_id.split(".")[0],
        owner=owner,
        destination=destination,
        created_at=1000.0,
        method="POST",
        url="http://127.0.0.1:9/crm",
        failover_url=None,
        headers=(("Content-Type", "application/json"),),
        body=b"{}",
    )
    return replace(job, **changes)  # type: ignore[arg-type]


def test_the_fake_is_a_delivery_queue() -> None:
    queue: DeliveryQueue = FakeQueue()
    assert queue is not None


async def test_one_job_per_destination_at_a_time_oldest_first() -> None:
    queue = FakeQueue()
    first = make_job("ld_1.buyer:a.crm", created_at=1.0)
    second = make_job("ld_2.buyer:a.crm", created_at=2.0)
    other = make_job("ld_3.buyer:b.crm", created_at=3.0)
    await queue.enqueue([second, other, first, first])
    claimed = await queue.claim(10, 10, 30, "me")
    assert [j.id for j in claimed] == [first.id, other.id]
    assert await queue.claim(10, 10, 30, "me") == []
    await queue.settle(claimed[0], Delivered("HTTP 200"), 11)
    assert [j.id for j in await queue.claim(11, 10, 30, "me")] == [second.id]


async def test_a_lease_that_runs_out_makes_the_job_claimable_again() -> None:
    queue = FakeQueue()
    await queue.enqueue([make_job()])
    assert len(await queue.claim(0, 1, 30, "dead-router")) == 1
    assert await queue.claim(29, 1, 30, "me") == []
    again = await queue.claim(30, 1, 30, "me")
    assert len(again) == 1 and again[0].attempt == 0


async def test_a_settlement_under_a_lease_that_ran_out_is_ignored() -> None:
    queue = FakeQueue()
    await queue.enqueue([make_job()])
    (stale,) = await queue.claim(0, 1, 30, "stalled")
    (current,) = await queue.claim(30, 1, 30, "me")
    await queue.settle(stale, DeadLetter("HTTP 500"), 31)
    assert queue.by_id[current.id].state == "leased"
    await queue.settle(current, Delivered("HTTP 200"), 32)
    assert queue.by_id[current.id].state == "delivered"


async def test_a_job_waiting_for_its_retry_does_not_hold_back_the_next() -> None:
    queue = FakeQueue()
    first, second = make_job("ld_1.buyer:a.crm"), make_job("ld_2.buyer:a.crm", created_at=2000)
    await queue.enqueue([first, second])
    (claimed,) = await queue.claim(2000, 5, 30, "me")
    await queue.settle(claimed, RetryAt(2060, "primary", 1, "HTTP 500"), 2000)
    assert [j.id for j in await queue.claim(2001, 5, 30, "me")] == [second.id]
