"""The buyers' breakers as a Redis router sees them between round trips (issue 20): what it last
learned of each, and the calls it has yet to count.

A breaker costs a script for each buyer of each lead when every admission asks Redis and every
call is counted at once: two a buyer, a lead's cost growing with its buyers. Yet a closed breaker
changes nothing when it admits, and its statistics tolerate a little delay (health, not a lead's
state: the router already counts a lead's calls with its last writes). So:

- **Admissions.** A breaker this router saw closed less than `view_s` ago (1 s) admits at once,
  without Redis. Any other (never seen, seen open, or seen too long ago) is asked of Redis in
  the phase's one round trip (redis_phases.py), which is what keeps an open breaker's probe one
  at a time across every router. So a breaker another router opens stops this one's calls
  within `view_s`; one this router's own calls open, at once (the record says so).
- **Calls** are held, then sent one script for each buyer with all of its calls in order
  (BREAKER_RECORD takes many), whatever the number of leads meanwhile: in the pipeline of the
  first lead's last writes once they have waited `flush_every_s` (50 ms; no round trip of their
  own), or on their own when no lead came for `alone_after_s` (1 s: a lead a second or more
  apart is a router with round trips to spare). A flush that fails loses those calls:
  health statistics, never state, as a breaker record the store misses always was
  (auction/router.py's table). Closing the store sends what is held.

The stores in process have no round trip to save: they count each call as it comes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from pingtree.config import BreakerPolicy
from pingtree.core.errors import StoreUnavailable
from pingtree.store.redis_keys import StateKeys
from pingtree.store.state.base import BreakerCall
from pingtree.store.state.redis_calls import Queued, breaker_args, pipelined, script_call

__all__ = ["BreakerBook"]

log = logging.getLogger(__name__)

# BREAKER_ADMIT's and ADMIT's word for a closed breaker (redis_scripts.py).
CLOSED = 2


class BreakerBook:
    def __init__(
        self,
        redis: Redis,
        keys: StateKeys,
        record: AsyncScript,
        clock_ms: Callable[[], int],
        *,
        view_s: float = 1.0,
        flush_every_s: float = 0.05,
        alone_after_s: float = 1.0,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._record = record
        self._clock_ms = clock_ms
        self._view_s = view_s
        self._flush_every_s = flush_every_s
        self._alone_after_s = alone_after_s
        self._closed_at: dict[str, float] = {}  # buyer → when (monotonic) it was seen closed
        self._held: dict[str, tuple[list[str], BreakerPolicy]] = {}
        self._held_since = 0.0  # when (monotonic) the oldest call held came
        self._flusher: asyncio.Task[None] | None = None

    def known_closed(self, buyer_id: str) -> bool:
        seen = self._closed_at.get(buyer_id)
        return seen is not None and time.monotonic() - seen < self._view_s

    def saw(self, buyer_id: str, admitted: int) -> None:
        """What an admission of Redis answered: CLOSED, or a probe or a refusal (open)."""
        if admitted == CLOSED:
            self._closed_at[buyer_id] = time.monotonic()
        else:
            self._closed_at.pop(buyer_id, None)

    def hold(self, calls: Sequence[BreakerCall]) -> None:
        """Count these calls with a later lead's last writes, or on their own (`alone_after_s`)."""
        if calls and not self._held:
            self._held_since = time.monotonic()
        for call in calls:
            oks, _ = self._held.get(call.buyer_id, ([], call.policy))
            oks.append("1" if call.ok else "0")
            self._held[call.buyer_id] = (oks, call.policy)  # the newest policy (a reload)
        if self._held and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        """Calls no lead's last writes took (`due`) once they were due: sent on their own."""
        while self._held:
            waited = time.monotonic() - self._held_since
            await asyncio.sleep(max(self._alone_after_s - waited, 0.001))
            if not self._held or time.monotonic() - self._held_since < self._alone_after_s:
                continue  # a lead took them meanwhile: these came since
            try:
                await self.flush()
            except StoreUnavailable as error:
                log.debug("breaker calls not counted: %s", error)

    def due(self) -> tuple[list[str], list[Queued]]:
        """The calls held, if the oldest has waited `flush_every_s`, as (buyers, script calls)
        for a pipeline of the caller's (an auction's last writes: under load the calls go with
        a lead's round trip, never one of their own); `opened` takes the scripts' answers."""
        if not self._held or time.monotonic() - self._held_since < self._flush_every_s:
            return [], []
        return self._take()

    def opened(self, buyers: list[str], answers: list[Any]) -> None:
        for buyer_id, opened in zip(buyers, answers, strict=True):
            if opened:
                self._closed_at.pop(buyer_id, None)

    def _take(self) -> tuple[list[str], list[Queued]]:
        held, self._held = self._held, {}
        now = self._clock_ms()
        calls = []
        for buyer_id, (oks, policy) in held.items():
            args = [*breaker_args(now, policy), "".join(oks), policy.window]
            args += [policy.min_calls, repr(policy.failure_ratio)]
            calls.append(script_call(self._record, [self._keys.breaker(buyer_id)], args))
        return list(held), calls

    async def flush(self) -> None:
        """Send every call held, now: StoreUnavailable if Redis fails (the calls are lost)."""
        buyers, calls = self._take()
        if calls:
            self.opened(buyers, await pipelined(self._redis, calls))

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        with suppress(StoreUnavailable):
            await self.flush()
