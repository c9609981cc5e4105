"""The Store's per-phase calls (`admit`, `journal_and_reserve`, `breaker_record_all`, `finish`)
made of its single ones, for the stores in this process (memory.py, sqlite.py), where a call
costs no round trip and nothing is gained by batching. The Redis store sends each phase in one
round trip instead (redis_phases.py); the contract suite holds them to the same answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from pingtree.core.outcome import Outcome
from pingtree.store.outbox.base import Entry
from pingtree.store.state.base import (
    Admission,
    Admitted,
    AnswerWrite,
    BreakerCall,
    CapRequest,
    IdempotencyKey,
    Journaled,
    Refused,
    Reservation,
    Sealed,
    Store,
)

__all__ = ["OneByOne", "journal_and_reserve"]


async def journal_and_reserve(
    store: Store, lead_id: str, buyer_id: str, request: CapRequest | None
) -> Journaled | Refused | Sealed:
    """The slot first (`reserve`), then the journal entry (`journal_post`), on every store,
    Redis's too (two round trips there when there is a slot to hold): the journal must never
    name a buyer whose slot was refused (on Redis their keys are in two cluster slots, so no
    one script sees both), or a router killed in between would leave a `pending` for a post
    that never went out and holds no slot."""
    reservation = None
    if request is not None:
        reserved = await store.reserve(request)
        if isinstance(reserved, Refused):
            return reserved
        reservation = reserved
    if await store.journal_post(lead_id, buyer_id):
        return Journaled(reservation)
    if reservation is not None:
        await store.release(reservation)
    return Sealed()


class OneByOne:
    """A mixin: the per-phase calls in terms of the store's own single calls (`self` is the
    store it is mixed into)."""

    async def admit(self: Store, admissions: Sequence[Admission]) -> list[Admitted]:
        admitted = []
        for admission in admissions:
            refused = None if admission.caps is None else await self.check(admission.caps)
            if refused is not None:
                admitted.append(Admitted(refused=refused.reason))
            elif admission.breaker is None:
                admitted.append(Admitted())
            else:
                ok = await self.breaker_admit(admission.buyer_id, admission.breaker)
                admitted.append(Admitted(breaker_open=not ok))
        return admitted

    async def journal_and_reserve(
        self: Store, lead_id: str, buyer_id: str, request: CapRequest | None
    ) -> Journaled | Refused | Sealed:
        return await journal_and_reserve(self, lead_id, buyer_id, request)

    async def breaker_record_all(self: Store, calls: Sequence[BreakerCall]) -> None:
        for call in calls:
            await self.breaker_record(call.buyer_id, call.ok, call.policy)

    async def finish(
        self: Store,
        outcome: Outcome,
        ledger: Sequence[Entry],
        key: IdempotencyKey | None,
        *,
        lead_id: str,
        confirms: Sequence[Reservation] = (),
        calls: Sequence[BreakerCall] = (),
    ) -> AnswerWrite | None:
        for reservation in confirms:
            await self.confirm(reservation)
        await self.breaker_record_all(calls)
        await self.record_outcome(outcome, ledger)
        if key is None:
            return None
        return await self.complete_idempotency(key, outcome, lead_id=lead_id)
