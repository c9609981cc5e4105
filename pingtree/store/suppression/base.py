"""Entries added to suppression lists at runtime (`POST /admin/suppression/{id}`, `pingtree
suppress add`): keyed digests (gates/suppression_values.py), never a value in clear. A list's
file is not here: each router loads it into its own memory (gates/suppression_file.py), as it
reads buyers.yaml; what is added while it runs is the store's, so that on Redis every router
sees it at once.

Implementations: `memory.MemorySuppression`, `sqlite.SqliteSuppression` (the state file, with a
copy in memory for the lookups), `redis.RedisSuppression` (one set a list). tests/store/
test_suppression.py is the contract.

- `add` is durable when it returns; adding a digest twice keeps it once; it says how many were new.
- `matching` is the per-lead lookup: for each list asked, whether any of its digests is in it,
  in one call (Redis: one round trip), whatever the number of lists. StoreUnavailable when it
  cannot tell: the lead is then refused (503), never sold unchecked.
- `sizes`: the number of entries added to each list asked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

# A digest's width in bytes (gates/suppression_values.py says why 8).
DIGEST_BYTES = 8

# A list's id and the digests of the lead to look for in it (its phone's, or its email's).
Wanted = Mapping[str, Sequence[int]]


class SuppressionEntries(Protocol):
    async def add(self, list_id: str, digests: Sequence[int]) -> int: ...

    async def matching(self, wanted: Wanted) -> frozenset[str]: ...

    async def sizes(self, list_ids: Sequence[str]) -> dict[str, int]: ...
