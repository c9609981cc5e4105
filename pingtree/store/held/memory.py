"""Held bids in this process's memory (the embedded store without a state file)."""

from __future__ import annotations

import time
from collections.abc import Callable

# Lapsed holds are swept this often, on the way of a `hold`, not by a task of their own.
_SWEEP_EVERY_S = 10.0


class MemoryHeldBids:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._held: dict[tuple[str, str], tuple[bytes, float]] = {}  # → (body, kept until)
        self._sweep_at = clock() + _SWEEP_EVERY_S

    async def hold(self, seller_id: str, ping_id: str, body: bytes, keep_s: float) -> None:
        now = self._clock()
        if now >= self._sweep_at:
            self._sweep_at = now + _SWEEP_EVERY_S
            self._held = {k: v for k, v in self._held.items() if v[1] > now}
        self._held[(seller_id, ping_id)] = (body, now + keep_s)

    async def get(self, seller_id: str, ping_id: str) -> bytes | None:
        found = self._held.get((seller_id, ping_id))
        if found is None or found[1] <= self._clock():
            return None
        return found[0]
