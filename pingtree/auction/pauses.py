"""The buyers an operator paused, as this router knows them (DESIGN §13).

A pause lives in the store, shared by every router on it and kept until resumed (store/state/
base.py). An auction must not pay a store round trip for it, so each router keeps the paused ids
in memory: read at start, again every `router.pauses_refresh_ms` in the background, and at once
after a pause or resume made through this router. A pause made on another router takes effect
here within one refresh (a second by default). Each auction reads the set once, when it opens.

While the store is down the last set read stands (logged once); new leads are refused then
anyway (store/guard.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from pingtree.auction.refreshed import Refreshed
from pingtree.core.errors import StoreUnavailable
from pingtree.store.state.base import Pause
from pingtree.store.state.guard import GuardedStore


class PausedBuyers(Refreshed):
    what = "paused buyers"
    unavailable = StoreUnavailable

    def __init__(self, store: GuardedStore, refresh_every_s: Callable[[], float]) -> None:
        """`refresh_every_s` is asked before each wait: a reload's new interval applies."""
        super().__init__()
        self._store = store
        self._refresh_every_s = refresh_every_s
        self._pauses: Mapping[str, Pause] = MappingProxyType({})
        self.ids: frozenset[str] = frozenset()

    def every_s(self) -> float:
        return self._refresh_every_s()

    @property
    def pauses(self) -> Mapping[str, Pause]:
        """Every paused buyer as last read, by id: who paused it, when and why."""
        return self._pauses

    async def pause(self, buyer_id: str, by: str, at: str, reason: str | None) -> None:
        await self._store.pause(buyer_id, by, at, reason)
        await self.refresh()

    async def resume(self, buyer_id: str) -> None:
        await self._store.resume(buyer_id)
        await self.refresh()

    async def refresh(self) -> None:
        """Read the pauses again; StoreUnavailable leaves the last ones read in place."""
        pauses = await self._store.pauses()
        # Swapped whole: an auction that read the set keeps what it read.
        self._pauses = MappingProxyType(pauses)
        self.ids = frozenset(pauses)


__all__ = ["PausedBuyers"]
