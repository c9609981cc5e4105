"""The delivery worker: a background task that claims due jobs from the queue, signs and sends
each through the router's Transport, and settles it by policy.py.

- Up to `concurrency` attempts in flight; the queue leases at most one job per destination at a
  time, so a destination gets its leads in order of sale. A finished attempt (or `wake()`, called
  when a sale is enqueued) makes the worker look again at once; otherwise every `poll_s`.
- Signing: each attempt gets `webhook-id` (the job's id, the same on every attempt) and a fresh
  `webhook-timestamp`; `webhook-signature` when the destination has `sign`, with the secret of
  the config running now (a rotated secret applies to jobs already queued). The request itself
  (URL, headers, body) is the one built at the sale, with the attempt's number written in
  (`delivery_attempt`, jobs.py) and in a `webhook-attempt` header.
- A destination no longer in the running config (removed, or its buyer or seller removed): the
  job is dead-lettered, not sent, signed or not: the operator took it out, and a signed receiver
  would refuse an unsigned request. Replay it once the destination is back.
- A 410 disables the destination until the config is reloaded (or the router restarts): its
  later jobs are set aside as `disabled` without a call. Each is kept and replayable.
- At least once: an attempt whose settlement is lost (crash, store down) comes back when its
  lease runs out and is sent again with the same webhook-id; receivers drop repeats.
- `stop()` lets attempts in flight finish for `stop_grace_s`, then abandons them: their leases run
  out and another worker (or this one after a restart) sends them again.
- Log lines and metric labels carry job ids, destination keys, statuses and durations: never a
  body, a header or a URL (they hold PII and credentials).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

from pingtree.config.models import Destination
from pingtree.config.tree import Tree
from pingtree.core.errors import BadBuyerResponse, BuyerCallFailed, BuyerTimeout
from pingtree.core.signing import ID_HEADER, TIMESTAMP_HEADER, signature_headers
from pingtree.deliveries import policy
from pingtree.deliveries.jobs import POSTBACK, attempt_number, for_attempt
from pingtree.metrics import DeliveryMetrics
from pingtree.store.queue.base import (
    DeadLetter,
    Delivered,
    DeliveryQueue,
    Disabled,
    Job,
    RetryAt,
    Settlement,
)
from pingtree.transport.client import Request, Transport

log = logging.getLogger(__name__)

# A Destination's timeout is at most 60 s (config): an attempt always ends within its lease.
LEASE_S = 90.0
ATTEMPT_HEADER = "webhook-attempt"  # 1, 2, …: which attempt of this webhook-id this request is
_MAX_BACKOFF_S = 30.0  # between two tries of a queue that failed
NOT_CONFIGURED = "destination not in the running config: not sent (replay once it is back)"
SET_ASIDE = "destination disabled by an earlier HTTP 410 (until the config is reloaded)"


def find_destination(tree: Tree, owner: str, name: str) -> Destination | None:
    """The destination a job belongs to, in `tree`: a buyer's by its id, a seller's postback."""
    kind, _, ident = owner.partition(":")
    if kind == "buyer":
        buyer = tree.buyers.get(ident)
        if buyer is None:
            return None
        return next((d for d in buyer.deliveries if d.id == name), None)
    if kind == "seller" and name == POSTBACK:
        seller = tree.sellers.get(ident)
        return seller.postback if seller is not None else None
    return None


class DeliveryWorker:
    def __init__(
        self,
        queue: DeliveryQueue,
        transport: Transport,
        metrics: DeliveryMetrics,
        tree: Callable[[], Tree],
        *,
        consumer: str,
        concurrency: int = 8,
        poll_s: float = 0.25,
        lease_s: float = LEASE_S,
        keep_s: float = 7 * 86400,
        ledger_keep_s: float | None = None,
        purge_every_s: float = 3600.0,
        stop_grace_s: float = 10.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._queue = queue
        self._transport = transport
        self._metrics = metrics
        self._tree = tree
        self._consumer = consumer
        self._concurrency = concurrency
        self._poll_s = poll_s
        self._lease_s = lease_s
        self._keep_s = keep_s
        self._ledger_keep_s = ledger_keep_s
        self._purge_every_s = purge_every_s
        self._stop_grace_s = stop_grace_s
        self._clock = clock
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._stopping = False
        # key → the tree that was running when the destination answered 410. Compared by
        # identity: a reload builds a new tree, so the destination is tried again after one.
        self._disabled: dict[str, Tree] = {}

    # lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._loop_task is None:
            self._stopping = False
            self._loop_task = asyncio.create_task(self._run(), name="pingtree-deliveries")

    async def stop(self) -> None:
        """Stop claiming; let attempts in flight finish within `stop_grace_s`, abandon the rest
        (their leases bring them back)."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
            self._loop_task = None
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight), timeout=self._stop_grace_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
                log.warning(
                    "deliveries: %d attempt(s) abandoned at stop; they go out again once their"
                    " lease of %.0f s runs out",
                    len(pending),
                    self._lease_s,
                )

    def wake(self) -> None:
        """Look for due jobs now (a sale was just enqueued, or an operator asked for a retry)."""
        self._wake.set()

    def enable(self, key: str) -> None:
        """Send to a destination set aside after a 410 again (an operator replayed a job)."""
        self._disabled.pop(key, None)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    # the loop ----------------------------------------------------------------------------------

    async def _run(self) -> None:
        next_purge = self._clock()
        failures = 0
        while not self._stopping:
            self._wake.clear()  # before claiming: a wake() during the claim is not lost
            busy = False
            try:
                if self._clock() >= next_purge:
                    next_purge = self._clock() + self._purge_every_s
                    await self._purge()
                busy = await self._claim()
            except Exception as exc:  # the queue is down: keep trying, never die
                failures += 1
                backoff = min(self._poll_s * 2**failures, _MAX_BACKOFF_S)
                log.error(
                    "deliveries: the queue failed (%s); trying again in %.1f s",
                    type(exc).__name__,
                    backoff,
                )
                await self._sleep(backoff)
                continue
            if failures:
                log.info("deliveries: the queue answers again")
                failures = 0
            if not busy:
                await self._sleep(self._poll_s)

    async def _sleep(self, seconds: float) -> None:
        """Until `seconds` pass, wake() is called or stop() begins."""
        if not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), seconds)

    async def _claim(self) -> bool:
        """Lease due jobs for the free slots and start them; True if every slot was filled (there
        may be more due: look again without waiting)."""
        free = self._concurrency - len(self._in_flight)
        if free <= 0:
            return False
        jobs = await self._queue.claim(self._clock(), free, self._lease_s, self._consumer)
        for job in jobs:
            task = asyncio.create_task(self._attempt(job))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
        return len(jobs) == free

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("deliveries: an attempt failed: %s", type(task.exception()).__name__)
        self._wake.set()  # a slot is free, and its destination's next job may be claimable

    async def _purge(self) -> None:
        purged = await self._queue.purge(self._clock(), self._keep_s)
        if purged:
            log.info("deliveries: purged %d finished job(s)", purged)
        if self._ledger_keep_s is not None:
            forgotten = await self._queue.purge_sales(self._clock() - self._ledger_keep_s)
            if forgotten:
                log.info("deliveries: forgot %d sales ledger row(s)", forgotten)

    # one attempt -------------------------------------------------------------------------------

    async def _attempt(self, job: Job) -> None:
        tree = self._tree()
        destination = find_destination(tree, job.owner, job.destination)
        result: Settlement
        if destination is None:
            result = DeadLetter(NOT_CONFIGURED)
        elif self._disabled.get(job.key) is tree:
            result = Disabled(SET_ASIDE)
        else:
            result = await self._send(job, destination, tree.max_response)
        try:
            await self._queue.settle(job, result, self._clock())
        except Exception as exc:
            log.error(
                "deliveries: %s could not be settled (%s); it goes out again after its lease",
                job.id,
                type(exc).__name__,
            )
            return
        if isinstance(result, Disabled):
            self._disabled[job.key] = tree
        self._account(job, result)

    async def _send(self, job: Job, destination: Destination, max_bytes: int) -> Settlement:
        url = job.failover_url if job.target == "failover" and job.failover_url else job.url
        attempt = attempt_number(job)
        url, headers, body = for_attempt(job, url, attempt)
        timestamp = int(self._clock())
        if destination.sign is not None:
            signed = signature_headers(destination.sign.secret, job.id, timestamp, body)
        else:  # unsigned, but the id still lets a receiver drop repeats
            signed = ((ID_HEADER, job.id), (TIMESTAMP_HEADER, str(timestamp)))
        headers += (*signed, (ATTEMPT_HEADER, str(attempt)))
        request = Request(job.method, url, headers, body)
        timeout_s = destination.timeout_ms / 1000
        started = time.perf_counter()
        outcome: policy.AttemptResult
        try:
            response = await self._transport.send(
                request, timeout_s=timeout_s, max_bytes=max_bytes, tls=destination.tls
            )
        except BuyerCallFailed as exc:
            outcome = _failure(exc, (time.perf_counter() - started) * 1000)
        except Exception as exc:
            # Not a call that failed but a request that cannot be made (a URL the client cannot
            # read…): on the schedule like any failure, so it ends as a dead letter instead of
            # coming back with every lease.
            log.error("deliveries: %s could not be sent: %s", job.id, type(exc).__name__)
            outcome = policy.Failed("error", (time.perf_counter() - started) * 1000)
        else:
            outcome = policy.Answered(
                response.status, response.duration_ms, response.retry_after, response.body
            )
        self._metrics.attempts.labels(job.key).inc()
        self._metrics.attempt_seconds.labels(job.key).observe(outcome.duration_ms / 1000)
        draw = self._rng.uniform(-1.0, 1.0)
        return policy.settle(job, destination, outcome, now=self._clock(), draw=draw)

    def _account(self, job: Job, result: Settlement) -> None:
        """Metrics and the log line of a settled attempt."""
        key, metrics = job.key, self._metrics
        if isinstance(result, Delivered):
            metrics.successes.labels(key).inc()
            metrics.latency_seconds.labels(key).observe(max(0.0, self._clock() - job.created_at))
            log.debug("deliveries: %s delivered to %s: %s", job.id, key, result.note)
        elif isinstance(result, RetryAt):
            metrics.retries.labels(key).inc()
            log.info("deliveries: %s to %s will be retried: %s", job.id, key, result.note)
        elif isinstance(result, Disabled):
            metrics.disabled.labels(key).inc()
            log.warning("deliveries: %s: destination %s disabled: %s", job.id, key, result.reason)
        else:
            metrics.dead_letters.labels(key).inc()
            log.warning("deliveries: %s to %s dead-lettered: %s", job.id, key, result.reason)


def _failure(exc: BuyerCallFailed, elapsed_ms: float) -> policy.Failed:
    if isinstance(exc, BuyerTimeout):
        return policy.Failed("timeout", elapsed_ms)
    if isinstance(exc, BadBuyerResponse):
        return policy.Failed("bad_answer", elapsed_ms, exc.http_status)
    return policy.Failed("connection", elapsed_ms)


__all__ = ["ATTEMPT_HEADER", "LEASE_S", "DeliveryWorker", "find_destination"]
