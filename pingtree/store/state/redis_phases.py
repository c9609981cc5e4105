"""The Redis store's per-phase calls (store/base.py: `admit`, `breaker_record_all`, `finish`;
`journal_and_reserve` is one_by_one.py's, two calls in turn): each a pipeline of the single calls'
scripts, one round trip whatever the number of buyers (redis_calls.py says how, and why not one
script: a buyer's keys are in its own cluster slot). `RedisStore` (redis.py) calls them with itself,
whose scripts and arguments these are; the contract suite holds them to the one-by-one answers of
the stores in process.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from pingtree.core.outcome import Outcome
from pingtree.store.outbox.base import Entry
from pingtree.store.redis_client import as_bytes
from pingtree.store.state.base import (
    Admission,
    Admitted,
    AnswerWrite,
    BreakerCall,
    IdempotencyKey,
    Reservation,
)
from pingtree.store.state.redis_calls import (
    Queued,
    answer_write,
    breaker_args,
    cap_args,
    pipelined,
    script_call,
)

if TYPE_CHECKING:
    from pingtree.store.state.redis import RedisStore

__all__ = ["admit", "breaker_record_all", "finish"]


async def admit(store: RedisStore, admissions: Sequence[Admission]) -> list[Admitted]:
    """One ADMIT script a buyer with caps to check or a breaker to ask, all in one pipeline; a
    breaker seen closed lately admits without one (redis_breakers.py)."""
    now, book = store._now_ms(), store.breakers
    asked: list[int] = []
    calls: list[Queued] = []
    for number, admission in enumerate(admissions):
        caps, policy = admission.caps, admission.breaker
        if policy is not None and book.known_closed(admission.buyer_id):
            policy = None
        if caps is None and policy is None:
            continue
        keys = [] if caps is None else store.keys.cap_keys(caps)
        args: list[str | int] = [now, "", "", "", "", 0]
        if caps is not None:
            args = cap_args(now, caps, Decimal(0))
        if policy is not None:
            keys.append(store.keys.breaker(admission.buyer_id))
            args += breaker_args(now, policy)[1:]
        else:
            args += ["", ""]
        args += ["0" if caps is None else "1", "0" if policy is None else "1"]
        asked.append(number)
        calls.append(script_call(store._admit, keys, args))
    admitted = [Admitted() for _ in admissions]
    for number, (reason, ok) in zip(asked, await pipelined(store._redis, calls), strict=True):
        refused = as_bytes(reason).decode() or None
        admitted[number] = Admitted(refused=refused, breaker_open=refused is None and not ok)
        if refused is None and admissions[number].breaker is not None:
            book.saw(admissions[number].buyer_id, ok)
    return admitted


async def breaker_record_all(store: RedisStore, calls: Sequence[BreakerCall]) -> None:
    """These calls, and any the store holds (`finish`'s), counted now."""
    store.breakers.hold(calls)
    await store.breakers.flush()


async def finish(
    store: RedisStore,
    outcome: Outcome,
    ledger: Sequence[Entry],
    key: IdempotencyKey | None,
    *,
    lead_id: str,
    confirms: Sequence[Reservation] = (),
    calls: Sequence[BreakerCall] = (),
) -> AnswerWrite | None:
    """The breaker calls held that are due (redis_breakers.py), confirms (DEL of the held
    markers), the ledger's XADD, the outcome, the answer: in that order, in one pipeline. This
    lead's breaker calls are held with the others."""
    # One DEL a marker: two buyers' markers are in two cluster slots.
    held = (store.keys.held(r.request.buyer_id, r.request.lead_id) for r in confirms)
    queued = [Queued(("DEL", marker)) for marker in held]
    queued += [Queued(command) for command in store._ledger_outbox.put_commands(ledger)]
    outcome_key = store.keys.outcome(outcome.id)
    queued.append(script_call(store._put_record, [outcome_key], store._record_args(outcome)))
    if key is not None:
        record = store.keys.idempotency(key.seller_id, key.key)
        answer_args = store._complete_args(key, outcome, lead_id)
        queued.append(script_call(store._complete, [record], answer_args))
    store.breakers.hold(calls)
    breakers, recorded = store.breakers.due()
    answers = await pipelined(store._redis, recorded + queued)
    store.breakers.opened(breakers, answers[: len(recorded)])
    return None if key is None else answer_write(answers[-1])
