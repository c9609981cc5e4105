"""What the Redis store sends: each script's arguments, and a phase's calls in one round trip.

**One round trip a phase** (issue 20). The calls of a phase (every buyer's admission, the post's
journal and slot, the auction's last writes) go in one pipeline, not a transaction: their keys
are in different cluster slots (store/redis_keys.py), and each script is atomic on its own,
which is all the store contract asks. On one Redis a pipeline runs in the order sent (the
outbox's XADD before the outcome it belongs to); a cluster client would send each node its part.

**EVALSHA, not redis-py's pipelined scripts.** A pipeline holding redis-py `Script` objects asks
SCRIPT EXISTS first, a second round trip every time. The scripts are sent by their SHA instead;
a server that does not know one (restarted, or flushed) answers NOSCRIPT for that call alone, and
only those calls are sent again once their scripts are loaded: a script that answered NOSCRIPT
never ran, so sending it again runs it once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from pingtree.config import BreakerPolicy
from pingtree.store.redis_client import redis_errors_as_unavailable
from pingtree.store.state.base import AnswerWrite, CapRequest

__all__ = [
    "Queued",
    "answer_write",
    "breaker_args",
    "cap_args",
    "cents",
    "pipelined",
    "script_call",
]

# Breaker state is kept while a buyer is called; one idle this long starts closed again.
_BREAKER_IDLE_TTL_MS = 24 * 3600 * 1000
# Above any Money (12 digits): clamping keeps HINCRBY and Lua's doubles exact for absurd bids.
_MAX_CENTS = 10**14


def cents(amount: Decimal, rounding: str = ROUND_CEILING) -> int:
    return min(int(amount.scaleb(2).to_integral_value(rounding)), _MAX_CENTS)


def cap_args(now_ms: int, request: CapRequest, price: Decimal) -> list[str | int]:
    """ARGV of CHECK (and the start of RESERVE's and ADMIT's): now, the lead, the caps, the
    price, in cents (a budget rounded down, a price up: a budget is never overspent)."""
    caps = request.caps
    return [
        now_ms,
        request.lead_id,
        "" if caps.hourly is None else caps.hourly,
        "" if caps.daily is None else caps.daily,
        "" if caps.daily_budget is None else cents(caps.daily_budget, ROUND_FLOOR),
        cents(price),
    ]


def breaker_args(now_ms: int, policy: BreakerPolicy) -> list[int]:
    """ARGV of BREAKER_ADMIT (and the start of BREAKER_RECORD's): now, when the breaker reopens
    if it opens now, how long an idle breaker's state is kept."""
    cooldown_ms = math.ceil(policy.cooldown_s * 1000)
    return [now_ms, now_ms + cooldown_ms, max(_BREAKER_IDLE_TTL_MS, 2 * cooldown_ms)]


def answer_write(landed: object) -> AnswerWrite:
    """COMPLETE_IDEMPOTENCY's answer."""
    match landed:
        case b"answered":
            return "answered"
        case b"superseded":
            return "superseded"
        case b"conflict":
            return "conflict"
        case b"taken":
            return "taken"
    raise AssertionError(f"unexpected answer to an answer: {landed!r}")


@dataclass(frozen=True, slots=True)
class Queued:
    """One call of a phase: the command as sent, and the script an EVALSHA runs (to load it
    again if the server answers NOSCRIPT)."""

    command: tuple[Any, ...]
    script: AsyncScript | None = None


def script_call(script: AsyncScript, keys: Sequence[str], args: Sequence[Any]) -> Queued:
    return Queued(("EVALSHA", script.sha, len(keys), *keys, *args), script)


async def pipelined(redis: Redis, calls: Sequence[Queued]) -> list[Any]:
    """The calls' answers, in one round trip (two after a server forgot a script). Any error,
    of the connection or of a call: StoreUnavailable."""
    if not calls:
        return []
    with redis_errors_as_unavailable():
        answers = await _send(redis, calls)
        forgotten = [n for n, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
        if forgotten:
            for script in {calls[n].script for n in forgotten}:
                assert script is not None
                await redis.script_load(script.script)
            again = await _send(redis, [calls[n] for n in forgotten])
            for n, answer in zip(forgotten, again, strict=True):
                answers[n] = answer
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
    return answers


async def _send(redis: Redis, calls: Sequence[Queued]) -> list[Any]:
    async with redis.pipeline(transaction=False) as pipe:
        for call in calls:
            pipe.execute_command(*call.command)
        return await pipe.execute(raise_on_error=False)
