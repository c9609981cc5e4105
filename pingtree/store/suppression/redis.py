"""Added suppression entries in Redis (base.py's contract), shared by every router on it: one set
a list (`SuppressionKeys`), its members the digests as 8 big-endian bytes. A lead's lookup is one
pipeline of SMISMEMBER, one per list, in one round trip; every list's key carries the same hash
tag, so on a cluster they live on one node and the pipeline is one request.

Memory: Redis keeps a small set member in about 50-60 bytes (sds, dict entry): 10 million added
entries cost ~0.6 GB of Redis. Lists of millions belong in the list's file (each router's memory,
8 bytes an entry); runtime additions are the daily increments.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from pingtree.store.redis_client import redis_errors_as_unavailable
from pingtree.store.redis_keys import SuppressionKeys
from pingtree.store.suppression.base import DIGEST_BYTES, Wanted

# Members a SADD carries: a list of millions goes in commands Redis answers in milliseconds.
_ADD_BATCH = 10_000


def _member(digest: int) -> bytes:
    return digest.to_bytes(DIGEST_BYTES)


class RedisSuppression:
    def __init__(self, redis: Redis, *, prefix: str = "pingtree") -> None:
        """On the client of the store that makes it (the store closes it)."""
        self._redis = redis
        self.keys = SuppressionKeys(prefix)

    async def add(self, list_id: str, digests: Sequence[int]) -> int:
        key = self.keys.entries(list_id)
        added = 0
        with redis_errors_as_unavailable():
            for start in range(0, len(digests), _ADD_BATCH):
                members = [_member(d) for d in digests[start : start + _ADD_BATCH]]
                added += int(await self._redis.sadd(key, *members))
        return added

    async def matching(self, wanted: Wanted) -> frozenset[str]:
        asked = [(list_id, digests) for list_id, digests in wanted.items() if digests]
        if not asked:
            return frozenset()
        pipe = self._redis.pipeline(transaction=False)
        for list_id, digests in asked:
            pipe.smismember(self.keys.entries(list_id), [_member(d) for d in digests])
        with redis_errors_as_unavailable():
            answers = await pipe.execute()
        return frozenset(
            list_id for (list_id, _), found in zip(asked, answers, strict=True) if any(found)
        )

    async def sizes(self, list_ids: Sequence[str]) -> dict[str, int]:
        if not list_ids:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for list_id in list_ids:
            pipe.scard(self.keys.entries(list_id))
        with redis_errors_as_unavailable():
            answers = await pipe.execute()
        return {list_id: int(n) for list_id, n in zip(list_ids, answers, strict=True)}
