"""Added suppression entries in this process's memory (base.py's contract): gone at restart, as
everything of the memory store is. A set of ints: about 70 bytes an entry (the list's file is the
place for millions)."""

from __future__ import annotations

from collections.abc import Sequence

from pingtree.store.suppression.base import Wanted


class MemorySuppression:
    def __init__(self) -> None:
        self._lists: dict[str, set[int]] = {}

    async def add(self, list_id: str, digests: Sequence[int]) -> int:
        return self.keep(list_id, digests)

    def keep(self, list_id: str, digests: Sequence[int]) -> int:
        entries = self._lists.setdefault(list_id, set())
        before = len(entries)
        entries.update(digests)
        return len(entries) - before

    async def matching(self, wanted: Wanted) -> frozenset[str]:
        empty: set[int] = set()
        return frozenset(
            list_id
            for list_id, digests in wanted.items()
            if not self._lists.get(list_id, empty).isdisjoint(digests)
        )

    async def sizes(self, list_ids: Sequence[str]) -> dict[str, int]:
        return {list_id: len(self._lists.get(list_id, ())) for list_id in list_ids}
