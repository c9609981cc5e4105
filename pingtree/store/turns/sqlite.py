"""Turns on the state file: memory decides, the file remembers (as state/sqlite.py does). The
file is one process's (its lock), so the count in memory is the truth; each turn's count is
written through (an upsert on the file's writer thread, grouped with whatever else is queued) so a
restarted router goes on from where it was rather than favouring the first buyers of each tie."""

from __future__ import annotations

import sqlite3

from pingtree.store.sqlite_file import SqliteFile

SCHEMA: tuple[tuple[str, ...], ...] = (
    ("CREATE TABLE tie_turns (tie_group TEXT PRIMARY KEY, turn INTEGER NOT NULL)",),
)
_UPSERT = (
    "INSERT INTO tie_turns (tie_group, turn) VALUES (?, ?)"
    " ON CONFLICT (tie_group) DO UPDATE SET turn = excluded.turn"
)


class SqliteTurns:
    """Made at start-up (it reads the file's counts back, blocking)."""

    def __init__(self, file: SqliteFile) -> None:
        self._file = file
        file.migrate("turns", SCHEMA)
        self._turns: dict[str, int] = dict(file.read_now(_read_all))

    async def next(self, group: str) -> int:
        # Counted before the await: two auctions of this loop never get the same turn.
        turn = self._turns[group] = self._turns.get(group, 0) + 1

        def write(db: sqlite3.Connection) -> None:
            db.execute(_UPSERT, (group, turn))

        await self._file.write(write)
        return turn


def _read_all(db: sqlite3.Connection) -> list[tuple[str, int]]:
    return [(str(g), int(t)) for g, t in db.execute("SELECT tie_group, turn FROM tie_turns")]


__all__ = ["SqliteTurns"]
