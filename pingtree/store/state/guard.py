"""The store as the router and the API use it: whether it is up, and the writes that must reach it.

**Up or down.** A store that refuses or drops a connection is down at once. One that only times
out (or has no free connection in time) is down when nothing it was asked has been answered for
`silence_s`: a hung server, as opposed to a busy moment in which other calls still succeed and
only the caller that timed out gets a 503. While it is down every call fails at once with
StoreUnavailable (no socket, no pool wait, no timeout), so a new lead is refused with a 503 in
microseconds, and a background probe PINGs it every `probe_every_s`. The probe's first success
flushes the deferred writes, in order, and only then marks the store up: an auction that starts
after the outage reads a store that already holds everything finished during it.

**Deferred writes** are the ones that must not be lost when the store fails after the fact: a
finished auction's outcome and idempotency answer (`record`), the release of a cap slot
(`release_eventually`) and the freeing of a claim (`abandon_eventually`). Each is tried at once;
if the store fails, it waits in a bounded in-process queue for the probe. Only auctions under way
when the store failed can add to it (new leads are refused while it is down), so the bound is far
from reach in practice; a write beyond it is dropped and logged. A write dropped, or lost with a
router that dies before the store is back, leaves the lead as a crash would: its claim runs out of
lease, and the journal makes a resend `pending` for the operator, never a second sale.

**Landed or not.** An answer is written to its key whether or not the claim survived (a Redis
restarted empty has none: the answer makes the record again, store/base.py). A write the store
took that cannot land (the key taken over, now another lead's, or answered by another auction)
is not retried, and is logged as not landed, never counted as flushed.

Every write here is safe to run late or twice: an outcome is replaced by the same outcome, a
release frees a slot only once (its held marker), and answers and abandons are fenced by the
auction that owns the key (store/base.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from typing import ParamSpec, TypeVar

from pingtree.config import BreakerPolicy
from pingtree.core.errors import StoreUnavailable
from pingtree.core.outcome import Outcome
from pingtree.core.rules import CapWindows
from pingtree.store.held.base import HeldBids
from pingtree.store.outbox.base import Entry, Outbox
from pingtree.store.state.base import (
    Admission,
    Admitted,
    AnswerWrite,
    BreakerCall,
    BuyerUsage,
    CapRequest,
    IdempotencyClaim,
    IdempotencyKey,
    InFlight,
    Journaled,
    Pause,
    Refused,
    Reservation,
    Sealed,
    Store,
)
from pingtree.store.state.guard_words import NOT_LANDED, NotLanded, refusal
from pingtree.store.suppression.base import SuppressionEntries
from pingtree.store.suppression.guarded import GuardedEntries
from pingtree.store.turns.base import Turns

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

Write = Callable[[], Awaitable[None]]


class GuardedStore:
    """A Store (the protocol, delegated) plus `up`, `refuse_if_down` and the deferred writes."""

    def __init__(
        self,
        store: Store,
        *,
        probe_every_s: float = 0.5,
        silence_s: float = 1.0,
        max_deferred: int = 10_000,
    ) -> None:
        self.inner = store
        self._probe_every_s = probe_every_s
        self._silence_s = silence_s
        self._max_deferred = max_deferred
        self._up = True
        self._answered_at = time.monotonic()  # the last call the store answered
        self._deferred: deque[tuple[str, Write]] = deque()
        self._probe: asyncio.Task[None] | None = None
        self.dropped = 0  # deferred writes lost to the bound
        self.not_landed = 0  # writes the store took that could not land (NotLanded)

    @property
    def up(self) -> bool:
        return self._up

    @property
    def deferred(self) -> int:
        """Writes waiting for the store to come back."""
        return len(self._deferred)

    def refuse_if_down(self) -> None:
        if not self._up:
            raise refusal()

    async def healthy(self) -> bool:
        """Up and answering: a PING when it is thought up (a load balancer's health check should
        notice an outage even when no lead has), the known state when it is down."""
        if self._up:
            with suppress(StoreUnavailable):
                await self._call(self.inner.ping)
        return self._up

    # up and down ------------------------------------------------------------------------------

    async def _call(self, method: Callable[P, Awaitable[T]], *args: P.args, **kw: P.kwargs) -> T:
        if not self._up:
            raise refusal()
        try:
            answer = await method(*args, **kw)
        except StoreUnavailable as error:
            self._failed(error)
            raise
        self._answered_at = time.monotonic()
        return answer

    def _failed(self, error: StoreUnavailable) -> None:
        if error.slow and time.monotonic() - self._answered_at < self._silence_s:
            return  # slow, not silent: other calls are being answered
        self._mark_down(error)

    def _mark_down(self, error: StoreUnavailable) -> None:
        if not self._up:
            return
        self._up = False
        cause = error.__cause__  # the client's own error, for the operator's eyes only
        log.warning(
            "store unavailable (%s): new leads get 503 until it answers; probing every %s s",
            error.detail if cause is None else f"{type(cause).__name__}: {cause}",
            self._probe_every_s,
        )
        self._start_probe()

    def _start_probe(self) -> None:
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_up())

    async def _probe_until_up(self) -> None:
        """PING until the store answers, flush what waits for it, then (if it was down) up."""
        since = time.monotonic()
        flushed: list[int] = [0, 0]  # landed, not landed: over every try, some may fail midway
        while True:
            await asyncio.sleep(self._probe_every_s)
            try:
                await self.inner.ping()
                await self._flush(flushed)
            except StoreUnavailable:
                continue
            self._answered_at = time.monotonic()
            if not self._up:
                self._up = True
                log.warning(
                    "store back after %.1f s; %d deferred write(s) flushed%s, accepting leads "
                    "again",
                    time.monotonic() - since,
                    flushed[0],
                    f", {flushed[1]} could not land (logged above)" if flushed[1] else "",
                )
            return

    async def _flush(self, flushed: list[int]) -> None:
        """Every deferred write, oldest first, counted in `flushed` (landed, not landed); one the
        store fails stays first in line, one that raises anything else (a bug) is logged and
        dropped rather than block the rest for good."""
        while self._deferred:
            what, write = self._deferred[0]
            try:
                await write()
                flushed[0] += 1
            except StoreUnavailable:
                raise
            except NotLanded as error:
                flushed[1] += 1
                self._not_landed(error)
            except Exception:
                flushed[1] += 1
                self.dropped += 1
                log.exception("a deferred store write failed and was dropped: %s", what)
            self._deferred.popleft()

    def _not_landed(self, error: NotLanded) -> None:
        self.not_landed += 1
        log.error("%s", error)

    # deferred writes --------------------------------------------------------------------------

    async def _surely(self, what: str, write: Write) -> None:
        """Run `write` now; if the store fails (or is down), queue it for the probe."""
        if self._up:
            try:
                await write()
                self._answered_at = time.monotonic()
                return
            except StoreUnavailable as error:
                self._failed(error)
            except NotLanded as error:
                self._answered_at = time.monotonic()
                self._not_landed(error)
                return
        if len(self._deferred) >= self._max_deferred:
            self.dropped += 1
            log.error("store down and %d writes queued: dropped %s", len(self._deferred), what)
            return
        self._deferred.append((what, write))
        self._start_probe()  # even if the store is still thought up: someone must flush it

    async def record(
        self,
        outcome: Outcome,
        key: IdempotencyKey | None,
        *,
        lead_id: str,
        ledger: Sequence[Entry] = (),
        confirms: Sequence[Reservation] = (),
        calls: Sequence[BreakerCall] = (),
    ) -> None:
        """Record a finished auction's outcome, with the lead's record for the ledger (`ledger`,
        put no later than the outcome: Store.record_outcome), then answer its key, in one step
        with the auction's confirms and breaker calls (Store.finish): now, or once the store is
        back, the outcome and the answer in that order (the confirms and calls then go: the safe
        side, and health statistics). Never raises StoreUnavailable: the seller gets the outcome
        either way."""
        inner = self.inner

        async def finish(
            confirms: Sequence[Reservation] = (), calls: Sequence[BreakerCall] = ()
        ) -> None:
            written = await inner.finish(
                outcome, ledger, key, lead_id=lead_id, confirms=confirms, calls=calls
            )
            if written not in (None, "answered"):
                raise NotLanded(f"the answer to {outcome.id}'s key", NOT_LANDED[written])

        if self._up:
            try:
                await finish(confirms, calls)
                self._answered_at = time.monotonic()
                return
            except StoreUnavailable as error:
                self._failed(error)
            except NotLanded as error:
                self._answered_at = time.monotonic()
                self._not_landed(error)
                return
        await self._surely(f"the outcome of {outcome.id}", finish)  # without confirms and calls

    async def write_eventually(self, what: str, write: Write) -> None:
        """A write of a component beside the store (the delivery queue, on the same Redis) that
        must not be lost to an outage: now, or queued for the probe like the store's own."""
        await self._surely(what, write)

    async def release_eventually(self, reservation: Reservation) -> None:
        request = reservation.request
        what = f"the release of {request.buyer_id}'s slot for {request.lead_id}"
        await self._surely(what, lambda: self.inner.release(reservation))

    async def abandon_eventually(self, key: IdempotencyKey, *, lead_id: str) -> None:
        what = f"the release of {lead_id}'s idempotency claim"
        await self._surely(what, lambda: self.inner.abandon_idempotency(key, lead_id=lead_id))

    # the Store protocol -----------------------------------------------------------------------

    async def claim_idempotency(
        self,
        key: IdempotencyKey,
        ttl_s: float,
        *,
        lead_id: str | None = None,
        lease_s: float | None = None,
    ) -> IdempotencyClaim:
        claim = await self._call(
            self.inner.claim_idempotency, key, ttl_s, lead_id=lead_id, lease_s=lease_s
        )
        if isinstance(claim, InFlight):
            wait = claim.wait
            return InFlight(lambda timeout_s: self._call(wait, timeout_s), claim.lease_left_s)
        return claim

    async def complete_idempotency(
        self, key: IdempotencyKey, outcome: Outcome, *, lead_id: str | None = None
    ) -> AnswerWrite:
        return await self._call(self.inner.complete_idempotency, key, outcome, lead_id=lead_id)

    async def abandon_idempotency(self, key: IdempotencyKey, *, lead_id: str | None = None) -> None:
        await self._call(self.inner.abandon_idempotency, key, lead_id=lead_id)

    async def check(self, request: CapRequest) -> Refused | None:
        return await self._call(self.inner.check, request)

    async def reserve(self, request: CapRequest) -> Reservation | Refused:
        return await self._call(self.inner.reserve, request)

    async def release(self, reservation: Reservation) -> None:
        await self._call(self.inner.release, reservation)

    async def confirm(self, reservation: Reservation) -> None:
        await self._call(self.inner.confirm, reservation)

    async def journal_post(self, lead_id: str, buyer_id: str) -> bool:
        return await self._call(self.inner.journal_post, lead_id, buyer_id)

    async def journal(self, lead_id: str) -> tuple[str, ...]:
        return await self._call(self.inner.journal, lead_id)

    async def seal_journal(self, lead_id: str) -> tuple[str, ...]:
        return await self._call(self.inner.seal_journal, lead_id)

    async def record_outcome(self, outcome: Outcome, ledger: Sequence[Entry] = ()) -> None:
        await self._call(self.inner.record_outcome, outcome, ledger)

    def outbox(self) -> Outbox:
        return self.inner.outbox()

    def turns(self) -> Turns:
        # Unguarded: a turn that fails ranks the tie by priority (auction/ordering.py), and
        # says nothing of the store's health the auction's own calls would not.
        return self.inner.turns()

    def held_bids(self) -> HeldBids:
        return self.inner.held_bids()

    def suppression(self) -> SuppressionEntries:
        return GuardedEntries(self.inner.suppression(), self._call)

    async def get_outcome(self, lead_id: str) -> Outcome | None:
        return await self._call(self.inner.get_outcome, lead_id)

    async def admit(self, admissions: Sequence[Admission]) -> list[Admitted]:
        return await self._call(self.inner.admit, admissions)

    async def journal_and_reserve(
        self, lead_id: str, buyer_id: str, request: CapRequest | None
    ) -> Journaled | Refused | Sealed:
        return await self._call(self.inner.journal_and_reserve, lead_id, buyer_id, request)

    async def breaker_record_all(self, calls: Sequence[BreakerCall]) -> None:
        await self._call(self.inner.breaker_record_all, calls)

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
        """As the store's (`record` is the router's: it defers what fails)."""
        finish = self.inner.finish
        return await self._call(
            finish, outcome, ledger, key, lead_id=lead_id, confirms=confirms, calls=calls
        )

    async def breaker_admit(self, buyer_id: str, policy: BreakerPolicy) -> bool:
        return await self._call(self.inner.breaker_admit, buyer_id, policy)

    async def breaker_record(self, buyer_id: str, ok: bool, policy: BreakerPolicy) -> None:
        await self._call(self.inner.breaker_record, buyer_id, ok, policy)

    async def pause(self, buyer_id: str, by: str, at: str, reason: str | None) -> None:
        await self._call(self.inner.pause, buyer_id, by, at, reason)

    async def resume(self, buyer_id: str) -> None:
        await self._call(self.inner.resume, buyer_id)

    async def pauses(self) -> dict[str, Pause]:
        return await self._call(self.inner.pauses)

    async def buyer_usage(self, windows: dict[str, CapWindows]) -> dict[str, BuyerUsage]:
        return await self._call(self.inner.buyer_usage, windows)

    async def ping(self) -> None:
        await self._call(self.inner.ping)

    async def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
            await asyncio.gather(self._probe, return_exceptions=True)
        if self._deferred:
            log.error("closing with %d store write(s) that never reached it", len(self._deferred))
        await self.inner.close()
