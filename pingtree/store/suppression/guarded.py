"""The added suppression entries as the guarded store hands them out (state/guard.py): every call
through the guard's, so that while the store is down a lead's lookup is refused at once, and a
lookup that fails marks the store down, as any other store call does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pingtree.store.suppression.base import SuppressionEntries, Wanted

# The guard's way of making a call (GuardedStore._call): the method, then its arguments.
GuardedCall = Callable[..., Awaitable[Any]]


class GuardedEntries:
    def __init__(self, inner: SuppressionEntries, call: GuardedCall) -> None:
        self._inner = inner
        self._call = call

    async def add(self, list_id: str, digests: Sequence[int]) -> int:
        return int(await self._call(self._inner.add, list_id, digests))

    async def matching(self, wanted: Wanted) -> frozenset[str]:
        return frozenset(await self._call(self._inner.matching, wanted))

    async def sizes(self, list_ids: Sequence[str]) -> dict[str, int]:
        return dict(await self._call(self._inner.sizes, list_ids))
