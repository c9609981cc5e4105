"""The outbox of a router whose store is in memory (no state file, no Redis): as durable as that
store, which is not at all, and as cheap as a dict. A router that keeps its caps, dedup claims and
idempotency records in memory loses them with the process; its records on their way to the
ledger (itself in memory then) go with them. Nothing else changes: the same leases, the same
order, the same backlog (base.py is the contract; tests/store/test_outbox.py runs it here too).

Every call is one step of the event loop, so none needs a lock: no method awaits between reading
and changing the entries.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pingtree.store.outbox.base import Backlog, Entry, Taken


@dataclass(slots=True)
class _Kept:
    entry: Entry
    put_at: float
    lease: str | None = None
    leased_until: float = 0.0


class MemoryOutbox:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._entries: dict[int, _Kept] = {}  # by sequence number: insertion order is age order
        self._sequence = itertools.count()

    async def put(self, entries: Sequence[Entry]) -> None:
        self.keep(entries)

    def keep(self, entries: Sequence[Entry]) -> None:
        """`put`, in the caller's step of the loop (MemoryStore.record_outcome's)."""
        put_at = self._clock()
        for entry in entries:
            self._entries[next(self._sequence)] = _Kept(entry, put_at)

    async def take(self, limit: int, lease_s: float, consumer: str) -> list[Taken]:
        now, token = self._clock(), secrets.token_hex(8)
        taken: list[Taken] = []
        for seq, kept in self._entries.items():
            if len(taken) >= limit:
                break
            if kept.leased_until <= now:
                kept.lease, kept.leased_until = token, now + lease_s
                taken.append(Taken(kept.entry, f"{seq}:{token}", kept.put_at))
        return taken

    async def done(self, taken: Sequence[Taken]) -> None:
        for item in taken:
            seq, _, token = item.token.partition(":")
            kept = self._entries.get(int(seq))
            if kept is not None and kept.lease == token:
                del self._entries[int(seq)]

    async def backlog(self) -> Backlog:
        oldest = next(iter(self._entries.values()), None)
        return Backlog(len(self._entries), None if oldest is None else oldest.put_at)

    async def close(self) -> None:
        self._entries.clear()


__all__ = ["MemoryOutbox"]
