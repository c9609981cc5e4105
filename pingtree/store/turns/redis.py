"""Turns on Redis: one counter per tie group (INCR: atomic, so every router gets its own turn),
its expiry pushed back at each turn, both in one round trip (MULTI on one key: one Cluster slot,
the group's own hash tag; redis_keys.StateKeys.turn)."""

from __future__ import annotations

from redis.asyncio import Redis

from pingtree.store.redis_client import redis_errors_as_unavailable
from pingtree.store.redis_keys import StateKeys
from pingtree.store.turns.base import TURN_TTL_S


class RedisTurns:
    """On the store's client and prefix (RedisStore.turns); the store closes the client."""

    def __init__(self, client: Redis, keys: StateKeys) -> None:
        self._redis = client
        self._keys = keys

    async def next(self, group: str) -> int:
        key = self._keys.turn(group)
        with redis_errors_as_unavailable():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, TURN_TTL_S)
                turn, _ = await pipe.execute()
        return int(turn)


__all__ = ["RedisTurns"]
