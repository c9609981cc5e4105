"""The buyers' usage report on the Redis store (redis.py's `buyer_usage`): each buyer's cap
windows and breaker read back in one round trip."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from redis.asyncio import Redis

from pingtree.core.breaker import BreakerState, phase
from pingtree.core.rules import CapWindows
from pingtree.store.redis_client import redis_errors_as_unavailable
from pingtree.store.redis_keys import StateKeys
from pingtree.store.state.base import BuyerUsage

__all__ = ["buyer_usage"]


async def buyer_usage(
    redis: Redis, keys: StateKeys, windows: dict[str, CapWindows], clock_ms: Callable[[], int]
) -> dict[str, BuyerUsage]:
    """One round trip for every buyer: a pipeline of reads (no transaction: the buyers'
    keys are in different cluster slots, and a report needs no atomicity across them)."""
    buyers = list(windows)
    pipe = redis.pipeline(transaction=False)
    for buyer_id in buyers:
        pipe.hmget(keys.hour(buyer_id, windows[buyer_id].hour), ["exp", "n", "cents"])
        pipe.hmget(keys.day(buyer_id, windows[buyer_id].day), ["exp", "n", "cents"])
        pipe.hmget(keys.breaker(buyer_id), ["open_until", "probing"])
    with redis_errors_as_unavailable():
        answers = await pipe.execute() if buyers else []
    now_ms = clock_ms()
    usage = {}
    for index, buyer_id in enumerate(buyers):
        hour, day, breaker = answers[3 * index : 3 * index + 3]
        hour_count, _ = _window(hour, now_ms)
        day_count, day_cents = _window(day, now_ms)
        open_until, probing = breaker
        state = BreakerState(
            open_until=int(open_until) / 1000 if open_until else None,
            probing=probing == b"1",
        )
        spend = Decimal(day_cents).scaleb(-2)
        usage[buyer_id] = BuyerUsage(hour_count, day_count, spend, phase(state, now_ms / 1000))
    return usage


def _window(fields: list[bytes | None], now_ms: int) -> tuple[int, int]:
    """(sales, cents) of a cap window's hash as HMGET gives it; none once it expired."""
    exp, count, cents = fields
    if exp is None or int(exp) <= now_ms:
        return 0, 0
    return int(count or 0), int(cents or 0)
