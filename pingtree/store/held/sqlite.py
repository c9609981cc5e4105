"""Held bids in the state file (sqlite_file.py): a router restarted between a seller's ping and
its post still knows the ping. Lapsed rows are deleted with a later `hold`'s write, through the
index on their end."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from pingtree.store.sqlite_file import SqliteFile

# One tuple of statements per schema version; a new version appends a step, never edits one.
SCHEMA: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE held_bids (
            seller_id TEXT NOT NULL,
            ping_id TEXT NOT NULL,
            body BLOB NOT NULL,
            kept_until REAL NOT NULL,
            PRIMARY KEY (seller_id, ping_id)
        )""",
        "CREATE INDEX held_bids_kept_until ON held_bids (kept_until)",
    ),
)


class SqliteHeldBids:
    def __init__(self, file: SqliteFile, clock: Callable[[], float] = time.time) -> None:
        self._file = file
        self._clock = clock
        file.migrate("held_bids", SCHEMA)

    async def hold(self, seller_id: str, ping_id: str, body: bytes, keep_s: float) -> None:
        now = self._clock()

        def write(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM held_bids WHERE kept_until <= ?", (now,))
            db.execute(
                "INSERT OR REPLACE INTO held_bids VALUES (?, ?, ?, ?)",
                (seller_id, ping_id, body, now + keep_s),
            )

        await self._file.write(write)

    async def get(self, seller_id: str, ping_id: str) -> bytes | None:
        now = self._clock()

        def read(db: sqlite3.Connection) -> bytes | None:
            row = db.execute(
                "SELECT body FROM held_bids WHERE seller_id = ? AND ping_id = ? AND kept_until > ?",
                (seller_id, ping_id, now),
            ).fetchone()
            return None if row is None else bytes(row[0])

        return await self._file.read(read)
