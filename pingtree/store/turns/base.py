"""The turn counters of tie groups (DESIGN §14, core/ranking.py): how many times a group of buyers
whose offers tied has asked for a turn, shared by every router on one store, so round robin and
weighted ties are fair across them. Reached through `Store.turns()`.

`next(group)` counts one more turn for `group` (a tie group's key, core/ranking.tie_group_key)
and returns it: 1 for the first, and never the same number twice for one group on one store,
whatever the number of routers asking at once. It raises StoreUnavailable when the store fails;
the caller then ranks by priority (auction/ordering.py): a turn never breaks an auction.

A group unasked for `TURN_TTL_S` may start again from 1 (Redis lets its counter expire; the
others keep it): a tie that has not happened for so long has no fairness to keep.
"""

from __future__ import annotations

from typing import Protocol

TURN_TTL_S = 30 * 86400


class Turns(Protocol):
    async def next(self, group: str) -> int:
        """The next turn of `group`, counted: 1, 2, 3…"""
        ...


__all__ = ["TURN_TTL_S", "Turns"]
