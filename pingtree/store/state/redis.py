"""The Redis store: state shared by every router process that points at one Redis (DESIGN §11).

Semantics are MemoryStore's exactly; the contract suite (tests/store/test_store.py) runs on both.

- **Atomic.** Every change that takes more than one command is one Lua script
  (redis_scripts.py), registered once and run by EVALSHA; single commands (confirm, reads) need
  none. The circuit breaker too is a script: breaker.py's state machine written again in Lua,
  because an optimistic WATCH/MULTI around the Python functions retries quadratically when many
  auctions record on one buyer at once; the tests hold the two to the same answers.
- **Keys.** Built only by `StateKeys` (store/redis_keys.py), hash-tagged so that what one script
  touches is in one Redis Cluster slot: a buyer's, an idempotency record's, a lead's.
- **Time.** The injected clock's `now` (ms) goes to every script, which decides expiry itself;
  every key also gets a relative PEXPIRE of the same length (never an absolute time: the injected
  clock need not be Redis's), so Redis drops everything on its own. Bounded by TTLs and the
  operator's maxmemory: `Retention.max_leads` does not apply here (a count cap would need one
  global index, one hot key, across slots).
- **Pauses** are one hash (a field per buyer, its value the pause as JSON), kept until resumed:
  the one key without an expiry. Single commands (HSET, HDEL, HGETALL): no script needed.
- **Money.** A day's spend is integer cents (HINCRBY). Prices and budgets are already cents
  (codec.py, config's Money); a fraction of a cent would round a price up and a budget down, so a
  budget is never overspent.
- **Failure.** Every redis-py error is StoreUnavailable (503, Retry-After), fast: no retries, short
  timeouts, a bounded blocking pool (store/redis_client.py says why). The timeouts are 0.5 s, not
  less: their timers run on the router's event loop, which a burst on a small box can make late
  by a few hundred ms, and a reply that arrived in time would count as a timeout.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis

from pingtree.config import BreakerPolicy, Retention
from pingtree.core import jsonenc
from pingtree.core.errors import StoreUnavailable
from pingtree.core.outcome import Outcome, decode_outcome, encode_outcome
from pingtree.core.rules import CapWindows
from pingtree.store.held.base import HeldBids
from pingtree.store.held.redis import RedisHeldBids
from pingtree.store.outbox.base import Entry, Outbox
from pingtree.store.outbox.redis import RedisOutbox
from pingtree.store.redis_client import as_bytes, client_for, redis_errors_as_unavailable
from pingtree.store.redis_keys import StateKeys
from pingtree.store.state import one_by_one
from pingtree.store.state import redis_phases as phases
from pingtree.store.state import redis_scripts as lua
from pingtree.store.state.base import (
    Admission,
    Admitted,
    AnswerWrite,
    BreakerCall,
    BuyerUsage,
    CapRequest,
    Claimed,
    Conflict,
    Done,
    IdempotencyClaim,
    IdempotencyKey,
    InFlight,
    Journaled,
    Pause,
    Refused,
    Reservation,
    Sealed,
)
from pingtree.store.state.redis_breakers import BreakerBook
from pingtree.store.state.redis_calls import answer_write, breaker_args, cap_args, cents
from pingtree.store.state.redis_usage import buyer_usage
from pingtree.store.suppression.base import SuppressionEntries
from pingtree.store.suppression.redis import RedisSuppression
from pingtree.store.turns.base import Turns
from pingtree.store.turns.redis import RedisTurns

# As memory.py: a window's counter outlives its window a little.
_HOUR_WINDOW_TTL_MS = (2 * 3600 + 60) * 1000
_DAY_WINDOW_TTL_MS = 50 * 3600 * 1000
# A reservation lives for one auction; one not released or confirmed by the end of its day window
# can no longer be released (its slot stays counted: the safe side).
_HELD_TTL_MS = _DAY_WINDOW_TTL_MS
_POLL_FIRST_S, _POLL_MAX_S = 0.02, 0.05


def _ms(seconds: float) -> int:
    return math.ceil(seconds * 1000)


class RedisStore:
    def __init__(
        self,
        url_or_client: str | Redis,
        retention: Retention | None = None,
        *,
        prefix: str = "pingtree",
        clock: Callable[[], float] = time.time,
        connect_timeout_s: float = 0.5,
        timeout_s: float = 0.5,
        max_connections: int = 32,
        pool_timeout_s: float = 1.0,
    ) -> None:
        """A URL (redis://, rediss://, unix://) or a client; the store owns and closes it. A client
        must answer bytes (decode_responses off): outcomes are stored encoded."""
        self.keys = StateKeys(prefix)
        self._redis = client_for(
            url_or_client,
            "RedisStore",
            connect_timeout_s=connect_timeout_s,
            timeout_s=timeout_s,
            max_connections=max_connections,
            pool_timeout_s=pool_timeout_s,
        )
        self._clock = clock
        self._ledger_outbox = RedisOutbox(self._redis, prefix=prefix)
        self._held_bids = RedisHeldBids(self._redis, self.keys)
        self._suppression = RedisSuppression(self._redis, prefix=prefix)
        retention = retention or Retention()
        self._outcome_ttl_ms = _ms(retention.outcomes_hours * 3600)
        # An answer whose claim is gone makes the record again, for as long as a claim's.
        self._idempotency_ttl_ms = _ms(retention.idempotency_days * 86400)
        register = self._redis.register_script
        self._claim = register(lua.CLAIM_IDEMPOTENCY)
        self._complete = register(lua.COMPLETE_IDEMPOTENCY)
        self._abandon = register(lua.ABANDON_IDEMPOTENCY)
        self._check = register(lua.CHECK)
        self._reserve = register(lua.RESERVE)
        self._release = register(lua.RELEASE)
        self._journal_post = register(lua.JOURNAL_POST)
        self._seal_journal = register(lua.SEAL_JOURNAL)
        self._put_record = register(lua.PUT_RECORD)
        self._breaker_admit = register(lua.BREAKER_ADMIT)
        self._breaker_record = register(lua.BREAKER_RECORD)
        self._admit = register(lua.ADMIT)
        self.breakers = BreakerBook(self._redis, self.keys, self._breaker_record, self._now_ms)

    @classmethod
    async def connect(cls, url: str, retention: Retention | None = None, **kw: Any) -> RedisStore:
        """A store whose server answered a PING: a bad URL or a dead Redis fails at start-up."""
        store = cls(url, retention, **kw)
        try:
            await store.ping()
        except StoreUnavailable:
            await store.close()
            raise
        return store

    def _now_ms(self) -> int:
        return round(self._clock() * 1000)

    # idempotency ------------------------------------------------------------------------------

    async def claim_idempotency(
        self,
        key: IdempotencyKey,
        ttl_s: float,
        *,
        lead_id: str | None = None,
        lease_s: float | None = None,
    ) -> IdempotencyClaim:
        record = self.keys.idempotency(key.seller_id, key.key)
        now, ttl_ms = self._now_ms(), _ms(ttl_s)
        lease_ms = ttl_ms if lease_s is None else min(_ms(lease_s), ttl_ms)
        owner = lead_id or secrets.token_hex(8)
        args = (now, now + ttl_ms, max(ttl_ms, 1), key.fingerprint, owner, now + lease_ms)
        with redis_errors_as_unavailable():
            answer = await self._claim(keys=[record], args=(*args, lead_id or ""))
        match answer:
            case [b"claimed"]:
                return Claimed()
            case [b"takeover", bytes(chain)]:
                return Claimed(tuple(chain.decode().split()))
            case [b"conflict"]:
                return Conflict()
            case [b"done", bytes(summary)]:
                return Done(decode_outcome(summary))
            case [b"inflight", bytes(running), bytes(lease)]:
                left_s = (int(lease) - now) / 1000 if lease else None
                return InFlight(lambda timeout_s: self._wait(record, running, timeout_s), left_s)
        raise AssertionError(f"unexpected claim answer: {answer!r}")

    async def _wait(self, record: str, owner: bytes, timeout_s: float) -> Outcome | None:
        """Polls the record until the claim it waits for has its answer. The claim is gone, or
        another has taken its place, when the first request abandoned it (or it expired, or its
        lease ran out and another claim took it over)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        pause = _POLL_FIRST_S
        while True:
            with redis_errors_as_unavailable():
                exp, holder, answer = await self._redis.hmget(record, ["exp", "owner", "answer"])
            if exp is None or int(exp) <= self._now_ms() or holder != owner:
                return None
            if answer is not None:
                return decode_outcome(as_bytes(answer))
            left = deadline - loop.time()
            if left <= 0:
                return None
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 1.5, _POLL_MAX_S)

    def _complete_args(
        self, key: IdempotencyKey, outcome: Outcome, lead_id: str | None
    ) -> tuple[int, bytes, str, str, str, int, int]:
        summary = encode_outcome(outcome.summary())
        now, ttl_ms = self._now_ms(), self._idempotency_ttl_ms
        return (now, summary, outcome.id, lead_id or "", key.fingerprint, now + ttl_ms, ttl_ms)

    async def complete_idempotency(
        self, key: IdempotencyKey, outcome: Outcome, *, lead_id: str | None = None
    ) -> AnswerWrite:
        record = self.keys.idempotency(key.seller_id, key.key)
        args = self._complete_args(key, outcome, lead_id)
        with redis_errors_as_unavailable():
            landed = await self._complete(keys=[record], args=args)
        return answer_write(landed)

    async def abandon_idempotency(self, key: IdempotencyKey, *, lead_id: str | None = None) -> None:
        record = self.keys.idempotency(key.seller_id, key.key)
        with redis_errors_as_unavailable():
            await self._abandon(keys=[record], args=(self._now_ms(), lead_id or ""))

    # caps and dedup ---------------------------------------------------------------------------

    async def check(self, request: CapRequest) -> Refused | None:
        keys, args = self.keys.cap_keys(request), cap_args(self._now_ms(), request, Decimal(0))
        with redis_errors_as_unavailable():
            reason = await self._check(keys=keys, args=args)
        return None if reason is None else Refused(as_bytes(reason).decode())

    def _reserve_args(self, request: CapRequest) -> list[str | int]:
        now = self._now_ms()
        dedup_ttl_ms = _ms(request.dedup_ttl_s or 0)
        return [
            *cap_args(now, request, request.price),
            *(now + _HOUR_WINDOW_TTL_MS, _HOUR_WINDOW_TTL_MS),
            *(now + _DAY_WINDOW_TTL_MS, _DAY_WINDOW_TTL_MS),
            _HELD_TTL_MS,
            *(now + dedup_ttl_ms, dedup_ttl_ms),
        ]

    @staticmethod
    def _reserved(request: CapRequest, answer: object) -> Reservation | Refused:
        return Reservation(request) if answer == b"ok" else Refused(as_bytes(answer).decode())

    async def reserve(self, request: CapRequest) -> Reservation | Refused:
        args = self._reserve_args(request)
        with redis_errors_as_unavailable():
            answer = await self._reserve(keys=self.keys.cap_keys(request), args=args)
        return self._reserved(request, answer)

    async def release(self, reservation: Reservation) -> None:
        request = reservation.request
        args = (self._now_ms(), request.lead_id, -cents(request.price))
        with redis_errors_as_unavailable():
            await self._release(keys=self.keys.cap_keys(request), args=args)

    async def confirm(self, reservation: Reservation) -> None:
        # The reservation already counts; confirming only means it can no longer be released.
        request = reservation.request
        with redis_errors_as_unavailable():
            await self._redis.delete(self.keys.held(request.buyer_id, request.lead_id))

    # journal and outcomes ---------------------------------------------------------------------

    def _journal_keys(self, lead_id: str) -> list[str]:
        return [self.keys.journal(lead_id), self.keys.seal(lead_id)]

    def _journal_args(self, buyer_id: str) -> tuple[int, int, int, str]:
        now, ttl_ms = self._now_ms(), self._outcome_ttl_ms
        return (now, now + ttl_ms, ttl_ms, buyer_id)

    async def journal_post(self, lead_id: str, buyer_id: str) -> bool:
        args = self._journal_args(buyer_id)
        with redis_errors_as_unavailable():
            written = await self._journal_post(keys=self._journal_keys(lead_id), args=args)
        return bool(written)

    async def journal(self, lead_id: str) -> tuple[str, ...]:
        with redis_errors_as_unavailable():
            entries = await self._redis.lrange(self.keys.journal(lead_id), 0, -1)
        return self._posted(entries)

    async def seal_journal(self, lead_id: str) -> tuple[str, ...]:
        now, ttl_ms = self._now_ms(), self._outcome_ttl_ms
        with redis_errors_as_unavailable():
            entries = await self._seal_journal(
                keys=self._journal_keys(lead_id), args=(now, now + ttl_ms, ttl_ms)
            )
        return self._posted(entries)

    def _posted(self, entries: list[bytes | str]) -> tuple[str, ...]:
        """The buyers of a journal as LRANGE gives it (its expiry first), if it has not expired."""
        if not entries or int(entries[0]) <= self._now_ms():
            return ()
        return tuple(as_bytes(buyer).decode() for buyer in entries[1:])

    def _record_args(self, outcome: Outcome) -> tuple[int, int, bytes]:
        now, ttl_ms = self._now_ms(), self._outcome_ttl_ms
        return (now + ttl_ms, ttl_ms, encode_outcome(outcome))

    async def record_outcome(self, outcome: Outcome, ledger: Sequence[Entry] = ()) -> None:
        # The record first (the outbox's keys are in a slot of their own: no script spans both).
        await self._ledger_outbox.put(ledger)
        args = self._record_args(outcome)
        with redis_errors_as_unavailable():
            await self._put_record(keys=[self.keys.outcome(outcome.id)], args=args)

    # a phase in one round trip (redis_phases.py) ------------------------------------------

    async def admit(self, admissions: Sequence[Admission]) -> list[Admitted]:
        return await phases.admit(self, admissions)

    async def journal_and_reserve(
        self, lead_id: str, buyer_id: str, request: CapRequest | None
    ) -> Journaled | Refused | Sealed:
        return await one_by_one.journal_and_reserve(self, lead_id, buyer_id, request)

    async def breaker_record_all(self, calls: Sequence[BreakerCall]) -> None:
        await phases.breaker_record_all(self, calls)

    async def finish(
        self,
        outcome: Outcome,
        ledger: Sequence[Entry],
        key: IdempotencyKey | None,
        *,
        lead_id: str,
        confirms: Sequence[Reservation] = (),
        calls: Sequence[BreakerCall] = (),
    ) -> AnswerWrite | None:
        return await phases.finish(
            self, outcome, ledger, key, lead_id=lead_id, confirms=confirms, calls=calls
        )

    async def get_outcome(self, lead_id: str) -> Outcome | None:
        with redis_errors_as_unavailable():
            exp, stored = await self._redis.hmget(self.keys.outcome(lead_id), ["exp", "value"])
        if exp is None or stored is None or int(exp) <= self._now_ms():
            return None
        return decode_outcome(as_bytes(stored))

    # circuit breaker --------------------------------------------------------------------------

    async def breaker_admit(self, buyer_id: str, policy: BreakerPolicy) -> bool:
        key, args = self.keys.breaker(buyer_id), breaker_args(self._now_ms(), policy)
        with redis_errors_as_unavailable():
            admitted = await self._breaker_admit(keys=[key], args=args)
        return bool(admitted)

    def _breaker_record_args(self, ok: bool, policy: BreakerPolicy) -> list[int | str]:
        args: list[int | str] = [*breaker_args(self._now_ms(), policy), int(ok), policy.window]
        return [*args, policy.min_calls, repr(policy.failure_ratio)]

    async def breaker_record(self, buyer_id: str, ok: bool, policy: BreakerPolicy) -> None:
        key, args = self.keys.breaker(buyer_id), self._breaker_record_args(ok, policy)
        with redis_errors_as_unavailable():
            await self._breaker_record(keys=[key], args=args)

    # pauses and the buyers' state -----------------------------------------------------------

    async def pause(self, buyer_id: str, by: str, at: str, reason: str | None) -> None:
        value = jsonenc.dumps({"by": by, "at": at, "reason": reason})
        with redis_errors_as_unavailable():
            await self._redis.hset(self.keys.pauses(), buyer_id, value)

    async def resume(self, buyer_id: str) -> None:
        with redis_errors_as_unavailable():
            await self._redis.hdel(self.keys.pauses(), buyer_id)

    async def pauses(self) -> dict[str, Pause]:
        with redis_errors_as_unavailable():
            stored = await self._redis.hgetall(self.keys.pauses())
        return {
            as_bytes(buyer_id).decode(): Pause(**jsonenc.loads(as_bytes(value)))
            for buyer_id, value in stored.items()
        }

    async def buyer_usage(self, windows: dict[str, CapWindows]) -> dict[str, BuyerUsage]:
        return await buyer_usage(self._redis, self.keys, windows, self._now_ms)

    async def ping(self) -> None:
        with redis_errors_as_unavailable():
            await self._redis.ping()

    def held_bids(self) -> HeldBids:
        """Held bids (held/redis.py) on this store's client and keys, shared by every router."""
        return self._held_bids

    def outbox(self) -> Outbox:
        """The shared outbox (outbox/redis.py) on this store's client and prefix."""
        return self._ledger_outbox

    def turns(self) -> Turns:
        """The tie groups' turns (turns/redis.py) on this store's client and prefix."""
        return RedisTurns(self._redis, self.keys)

    def suppression(self) -> SuppressionEntries:
        """The suppression lists' added entries (suppression/redis.py), shared by every router."""
        return self._suppression

    async def close(self) -> None:
        await self.breakers.close()
        await self._ledger_outbox.close()
        await self._redis.aclose()
