"""Held bids on Redis, shared by every router on it: a post may reach another router than the
ping. One key a hold, `<prefix>:{h:<seller>:<ping>}:held` (store/redis_keys.py), that Redis
expires itself. Every error is StoreUnavailable (store/redis_client.py)."""

from __future__ import annotations

import math

from redis.asyncio import Redis

from pingtree.store.redis_client import as_bytes, redis_errors_as_unavailable
from pingtree.store.redis_keys import StateKeys


class RedisHeldBids:
    def __init__(self, redis: Redis, keys: StateKeys) -> None:
        self._redis = redis
        self._keys = keys

    async def hold(self, seller_id: str, ping_id: str, body: bytes, keep_s: float) -> None:
        key = self._keys.held_ping(seller_id, ping_id)
        with redis_errors_as_unavailable():
            await self._redis.set(key, body, px=max(1, math.ceil(keep_s * 1000)))

    async def get(self, seller_id: str, ping_id: str) -> bytes | None:
        with redis_errors_as_unavailable():
            found = await self._redis.get(self._keys.held_ping(seller_id, ping_id))
        return None if found is None else as_bytes(found)
