"""The map MemoryStore keeps everything in (memory.py): entries that expire, a size capped."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ExpiringMap"]

K = TypeVar("K")
V = TypeVar("V")


class ExpiringMap(Generic[K, V]):
    """A dict whose entries expire and whose size is capped; oldest insert evicted first.

    Entries are kept in insertion order and re-inserted on update, so expired ones are at the front
    and the sweep stops at the first live one. Callers that use mixed TTLs accept that a long-lived
    entry at the front may shield shorter ones behind it until it expires or is evicted by size.

    Values kept per lead should be atomic (str, bytes, numbers, plain tuples of those): the garbage
    collector stops tracking such an entry after its first pass, so a hundred thousand retained
    leads cost a full collection nothing. One tracked object per lead made every full collection
    walk them all, a pause that grew with the retained leads (30-60 ms at 20-40k leads) and showed
    in the answer-time tail (docs/benchmarks.md, scenario 2).
    """

    def __init__(self, clock: Callable[[], float], max_items: int | None = None) -> None:
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._clock = clock
        self._max_items = max_items

    def get(self, key: K) -> V | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        if entry[0] <= self._clock():
            del self._items[key]
            return None
        return entry[1]

    def put(self, key: K, value: V, ttl_s: float) -> None:
        self._items.pop(key, None)
        self._items[key] = (self._clock() + ttl_s, value)
        self.sweep()

    def replace(self, key: K, value: V) -> None:
        """A new value for a kept key, with its expiry and place unchanged."""
        entry = self._items.get(key)
        if entry is not None:
            self._items[key] = (entry[0], value)

    def expires_at(self, key: K) -> float:
        entry = self._items.get(key)
        return 0.0 if entry is None else entry[0]

    def pop(self, key: K) -> V | None:
        entry = self._items.pop(key, None)
        return None if entry is None else entry[1]

    def sweep(self) -> None:
        now = self._clock()
        while self._items:
            key, (expires, _) = next(iter(self._items.items()))
            if expires > now and (self._max_items is None or len(self._items) <= self._max_items):
                break
            del self._items[key]

    def __len__(self) -> int:
        return len(self._items)
