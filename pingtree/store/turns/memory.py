"""Turns of a router whose store is in memory: one process, so a dict is the whole truth."""

from __future__ import annotations


class MemoryTurns:
    def __init__(self) -> None:
        self._turns: dict[str, int] = {}

    async def next(self, group: str) -> int:
        turn = self._turns[group] = self._turns.get(group, 0) + 1
        return turn


__all__ = ["MemoryTurns"]
