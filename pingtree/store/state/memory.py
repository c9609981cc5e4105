"""The embedded store: one process, in memory, bounded.

Atomicity comes from the event loop: no method awaits between reading and writing its state.
Everything kept has an expiry, and outcomes are also capped in number (oldest evicted first), so a
router that runs for months holds a bounded amount of memory.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Sequence
from decimal import Decimal

from pingtree.config import BreakerPolicy, Retention
from pingtree.core.breaker import CLOSED, BreakerState, admits, after_call, phase
from pingtree.core.outcome import Outcome, decode_outcome, encode_outcome
from pingtree.core.rules import CapWindows, cap_reason
from pingtree.store.held.base import HeldBids
from pingtree.store.held.memory import MemoryHeldBids
from pingtree.store.outbox.base import Entry, Outbox
from pingtree.store.outbox.memory import MemoryOutbox
from pingtree.store.state.base import (
    AnswerWrite,
    BuyerUsage,
    CapRequest,
    Claimed,
    Conflict,
    Done,
    IdempotencyClaim,
    IdempotencyKey,
    InFlight,
    Pause,
    Refused,
    Reservation,
)
from pingtree.store.state.expiring import ExpiringMap
from pingtree.store.state.memory_records import CapUsage, ClaimRow, IdempotencyRecord
from pingtree.store.state.one_by_one import OneByOne
from pingtree.store.suppression.base import SuppressionEntries
from pingtree.store.suppression.memory import MemorySuppression
from pingtree.store.turns.base import Turns
from pingtree.store.turns.memory import MemoryTurns

_HOUR_WINDOW_TTL_S = 2 * 3600 + 60
_DAY_WINDOW_TTL_S = 50 * 3600  # a local day is at most 25 h; keep it a little past its end


class MemoryStore(OneByOne):
    def __init__(
        self, retention: Retention | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._retention = retention or Retention()
        self._clock = clock
        max_leads = self._retention.max_leads
        self._outcome_ttl_s = self._retention.outcomes_hours * 3600
        # Outcomes and idempotency answers are kept encoded (see outcome.encode_outcome).
        self._outcomes: ExpiringMap[str, bytes] = ExpiringMap(clock, max_leads)
        self._journal: ExpiringMap[str, tuple[str, ...]] = ExpiringMap(clock, max_leads)
        # (seller, key) → its claim: owner, lease, answer
        self._idempotency: ExpiringMap[tuple[str, str], ClaimRow] = ExpiringMap(
            clock, 4 * max_leads
        )
        self._sealed: ExpiringMap[str, bool] = ExpiringMap(clock, max_leads)
        self._waiters: dict[tuple[str, str], list[asyncio.Future[Outcome | None]]] = {}
        self._usage: ExpiringMap[tuple[str, str], CapUsage] = ExpiringMap(clock)
        self._dedup: ExpiringMap[tuple[str, str], str] = ExpiringMap(clock)
        self._breakers: dict[str, BreakerState] = {}
        # Reservations neither released nor confirmed, for a day at most (as Redis's markers):
        # an auction that died between the two leaves no entry behind for good.
        self._held: ExpiringMap[tuple[str, str], bool] = ExpiringMap(clock)
        self._pauses: dict[str, Pause] = {}  # kept until resumed: an operator's switch
        # The ledger's records, as lasting as the rest of this store (not at all).
        self._ledger_outbox = MemoryOutbox(clock=clock)
        self._turns: Turns = MemoryTurns()
        self._held_bids: HeldBids | None = None  # made at the first exchange ping
        self._suppression = MemorySuppression()

    # idempotency ------------------------------------------------------------------------------

    async def claim_idempotency(
        self,
        key: IdempotencyKey,
        ttl_s: float,
        *,
        lead_id: str | None = None,
        lease_s: float | None = None,
    ) -> IdempotencyClaim:
        scope = (key.seller_id, key.key)
        now = self._clock()
        owner = lead_id or secrets.token_hex(8)
        lease_until = now + min(ttl_s if lease_s is None else lease_s, ttl_s)
        record = self._claim(scope)
        if record is None:
            chain = () if lead_id is None else (lead_id,)
            self._keep(scope, IdempotencyRecord(key.fingerprint, owner, chain, lease_until), ttl_s)
            return Claimed()
        if record.fingerprint != key.fingerprint:
            return Conflict()
        if record.answer is not None:
            return Done(decode_outcome(record.answer))
        if record.owner == owner:
            return Claimed()  # this very claim, sent again
        if record.lease_until <= now:
            # The owner's lease ran out unanswered: this claim takes the key over. Whoever waited
            # for the old owner is told it is gone (None), as a Redis waiter would find out.
            previous = record.chain
            record.owner, record.lease_until = owner, lease_until
            record.chain = previous if lead_id is None else (*previous, lead_id)
            self._keep(scope, record)
            self._wake(scope, None)
            return Claimed(previous)
        waiter: asyncio.Future[Outcome | None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(scope, []).append(waiter)

        async def wait(timeout_s: float) -> Outcome | None:
            try:
                return await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
            except TimeoutError:
                return None

        return InFlight(wait, record.lease_until - now)

    async def complete_idempotency(
        self, key: IdempotencyKey, outcome: Outcome, *, lead_id: str | None = None
    ) -> AnswerWrite:
        scope = (key.seller_id, key.key)
        record = self._claim(scope)
        ttl_s: float | None = None  # the record's own expiry, unless it is made again
        if record is None:
            # The claim is gone (expired, or lost with the store's state): the answer makes the
            # record again, so a resend is answered rather than auctioned a second time.
            chain = () if lead_id is None else (lead_id,)
            record = IdempotencyRecord(key.fingerprint, lead_id or outcome.id, chain, self._clock())
            ttl_s = self._retention.idempotency_days * 86400
        else:
            refused = record.refusal(key.fingerprint, outcome.id, lead_id)
            if refused is not None:
                return refused
        summary = outcome.summary()
        record.answer = encode_outcome(summary)
        record.verdict = lead_id is not None and outcome.id != lead_id
        record.answered_by = outcome.id
        self._keep(scope, record, ttl_s)
        self._wake(scope, summary)
        return "answered"

    async def abandon_idempotency(self, key: IdempotencyKey, *, lead_id: str | None = None) -> None:
        scope = (key.seller_id, key.key)
        record = self._claim(scope)
        if record is None:
            return
        if lead_id is not None and (record.owner != lead_id or record.answer is not None):
            return  # another auction owns the key now, or it has its answer
        self._idempotency.pop(scope)
        self._wake(scope, None)

    def _claim(self, scope: tuple[str, str]) -> IdempotencyRecord | None:
        row = self._idempotency.get(scope)
        return None if row is None else IdempotencyRecord(*row)

    def _keep(
        self, scope: tuple[str, str], claim: IdempotencyRecord, ttl_s: float | None = None
    ) -> None:
        """Keep `claim` for `ttl_s`, or (None) in place of the record it was read from."""
        if ttl_s is None:
            self._idempotency.replace(scope, claim.row())
        else:
            self._idempotency.put(scope, claim.row(), ttl_s)

    def _wake(self, scope: tuple[str, str], outcome: Outcome | None) -> None:
        for waiter in self._waiters.pop(scope, ()):
            if not waiter.done():
                waiter.set_result(outcome)

    # caps and dedup ---------------------------------------------------------------------------

    def _refusal(self, request: CapRequest, price: Decimal) -> Refused | None:
        for dedup_key in request.dedup_keys:
            owner = self._dedup.get((request.buyer_id, dedup_key))
            if owner is not None and owner != request.lead_id:
                return Refused("dedup")
        if not request.caps.any:
            return None
        hour = self._usage.get((request.buyer_id, "h" + request.windows.hour)) or CapUsage()
        day = self._usage.get((request.buyer_id, "d" + request.windows.day)) or CapUsage()
        reason = cap_reason(request.caps, hour.count, day.count, day.spend, price)
        return None if reason is None else Refused(reason)

    async def check(self, request: CapRequest) -> Refused | None:
        return self._refusal(request, Decimal(0))

    async def reserve(self, request: CapRequest) -> Reservation | Refused:
        refused = self._refusal(request, request.price)
        if refused is not None:
            return refused
        self._count(request, +1)
        self._held.put((request.buyer_id, request.lead_id), True, _DAY_WINDOW_TTL_S)
        for dedup_key in request.dedup_keys:
            ttl = request.dedup_ttl_s or 0
            self._dedup.put((request.buyer_id, dedup_key), request.lead_id, ttl)
        return Reservation(request)

    def _count(self, request: CapRequest, sign: int) -> None:
        windows = (
            ("h" + request.windows.hour, _HOUR_WINDOW_TTL_S),
            ("d" + request.windows.day, _DAY_WINDOW_TTL_S),
        )
        for suffix, ttl in windows:
            key = (request.buyer_id, suffix)
            usage = self._usage.get(key)
            if usage is None:
                usage = CapUsage()
                self._usage.put(key, usage, ttl)
            usage.count = max(usage.count + sign, 0)
            usage.spend = max(usage.spend + sign * request.price, Decimal(0))

    async def release(self, reservation: Reservation) -> None:
        request = reservation.request
        held = (request.buyer_id, request.lead_id)
        if self._held.get(held) is None:
            return  # already released or confirmed: a second release must not free a slot
        self._held.pop(held)
        self._count(request, -1)
        for dedup_key in request.dedup_keys:
            if self._dedup.get((request.buyer_id, dedup_key)) == request.lead_id:
                self._dedup.pop((request.buyer_id, dedup_key))

    async def confirm(self, reservation: Reservation) -> None:
        # The reservation already counts; confirming only means it can no longer be released.
        self._held.pop((reservation.request.buyer_id, reservation.request.lead_id))

    # journal and outcomes ---------------------------------------------------------------------

    async def journal_post(self, lead_id: str, buyer_id: str) -> bool:
        if self._sealed.get(lead_id):
            return False
        posted = self._journal.get(lead_id) or ()
        self._journal.put(lead_id, (*posted, buyer_id), self._outcome_ttl_s)
        return True

    async def journal(self, lead_id: str) -> tuple[str, ...]:
        return self._journal.get(lead_id) or ()

    async def seal_journal(self, lead_id: str) -> tuple[str, ...]:
        self._sealed.put(lead_id, True, self._outcome_ttl_s)
        return self._journal.get(lead_id) or ()

    async def record_outcome(self, outcome: Outcome, ledger: Sequence[Entry] = ()) -> None:
        self._ledger_outbox.keep(ledger)  # in the same step of the loop as the outcome
        self._outcomes.put(outcome.id, encode_outcome(outcome), self._outcome_ttl_s)

    def outbox(self) -> Outbox:
        return self._ledger_outbox

    def turns(self) -> Turns:
        return self._turns

    def held_bids(self) -> HeldBids:
        if self._held_bids is None:
            self._held_bids = MemoryHeldBids(self._clock)
        return self._held_bids

    def suppression(self) -> SuppressionEntries:
        return self._suppression

    async def get_outcome(self, lead_id: str) -> Outcome | None:
        stored = self._outcomes.get(lead_id)
        return None if stored is None else decode_outcome(stored)

    # circuit breaker --------------------------------------------------------------------------

    async def breaker_admit(self, buyer_id: str, policy: BreakerPolicy) -> bool:
        admitted, state = admits(self._breakers.get(buyer_id, CLOSED), self._clock(), policy)
        self._breakers[buyer_id] = state
        return admitted

    async def breaker_record(self, buyer_id: str, ok: bool, policy: BreakerPolicy) -> None:
        state = self._breakers.get(buyer_id, CLOSED)
        self._breakers[buyer_id] = after_call(state, ok, self._clock(), policy)

    # pauses and the buyers' state -----------------------------------------------------------

    async def pause(self, buyer_id: str, by: str, at: str, reason: str | None) -> None:
        self._pauses[buyer_id] = Pause(by, at, reason)

    async def resume(self, buyer_id: str) -> None:
        self._pauses.pop(buyer_id, None)

    async def pauses(self) -> dict[str, Pause]:
        return dict(self._pauses)

    async def buyer_usage(self, windows: dict[str, CapWindows]) -> dict[str, BuyerUsage]:
        now, usage = self._clock(), {}
        for buyer_id, window in windows.items():
            hour = self._usage.get((buyer_id, "h" + window.hour)) or CapUsage()
            day = self._usage.get((buyer_id, "d" + window.day)) or CapUsage()
            breaker = phase(self._breakers.get(buyer_id, CLOSED), now)
            usage[buyer_id] = BuyerUsage(hour.count, day.count, day.spend, breaker)
        return usage

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def sizes(self) -> dict[str, int]:
        """Entry counts, for tests and benchmarks that prove the store stays bounded."""
        return {
            "outcomes": len(self._outcomes),
            "journal": len(self._journal),
            "sealed": len(self._sealed),
            "idempotency": len(self._idempotency),
            "usage": len(self._usage),
            "dedup": len(self._dedup),
            "held": len(self._held),
        }
