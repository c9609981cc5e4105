"""The embedded outbox: a table in the state file (sqlite_file.py), or in memory without one.

One row per entry put, in put order (`seq`, the rowid). The contract is Outbox's (base.py); how it
is kept:

- **Put** is one INSERT per entry, queued on the file's writer thread and committed with whatever
  else is queued (the router's outcome, the deliveries' jobs): durable when it returns, at the
  cost of a statement, not of a commit. Entries are never merged: the ledger files by id.
- **Leases.** `take` sets `lease` (a random token per call), `leased_until` and `consumer` on the
  oldest rows whose lease is absent (0) or ran out; `done` deletes a row only while it still has
  the token it was taken under, so a writer whose lease ran out and was taken over deletes
  nothing of the new holder's. Opening the outbox releases every lease in the file: the file's
  lock says no other process has it open, so a lease still there is a dead process's, and its
  entries go to the ledger at once instead of after the lease (as the delivery queue does).
- **Backlog.** The count is a tally row kept in the same transactions as the puts and dones
  (`COUNT(*)` would read the whole table on the writer thread, which the answer path waits on,
  and a backlog is largest exactly when the ledger is down); the oldest put is the first row.
- **Time** is this process's clock (`clock`, injectable): the protocol takes no `now`.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pingtree.store.outbox.base import Backlog, Entry, Taken
from pingtree.store.sqlite_file import SqliteFile

__all__ = ["SqliteOutbox", "put_statements"]

# One tuple of statements per schema version; a new version appends a step, never edits one.
SCHEMA: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE ledger_outbox (
            seq INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            body BLOB NOT NULL,
            put_at REAL NOT NULL,
            lease TEXT,
            leased_until REAL NOT NULL DEFAULT 0,
            consumer TEXT
        )""",
        "CREATE TABLE ledger_outbox_tally (entries INTEGER NOT NULL)",
        "INSERT INTO ledger_outbox_tally (entries) VALUES (0)",
    ),
)


class SqliteOutbox:
    """Outbox on the state file. With a path it opens (and on close, closes) its own file; given
    a `SqliteFile` (the router's state file, or `SqliteFile(":memory:")`) it shares that one and
    leaves closing it to its owner. One per open file, made at start-up (it releases leases)."""

    def __init__(
        self, file: SqliteFile | str | Path, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._owns_file = not isinstance(file, SqliteFile)
        self.file = file if isinstance(file, SqliteFile) else SqliteFile(file)
        self._clock = clock
        self.file.migrate("outbox", SCHEMA)
        self.file.write_now(_release_leases)

    async def put(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        statements = put_statements(entries, self._clock())

        def insert(db: sqlite3.Connection) -> None:
            for statement, args in statements:
                db.execute(statement, args)

        await self.file.write(insert)

    async def take(self, limit: int, lease_s: float, consumer: str) -> list[Taken]:
        if limit <= 0:
            return []
        now = self._clock()
        token = secrets.token_hex(8)

        def lease(db: sqlite3.Connection) -> list[Taken]:
            rows = db.execute(
                "SELECT seq, kind, id, body, put_at FROM ledger_outbox"
                " WHERE leased_until <= ? ORDER BY seq LIMIT ?",
                (now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE ledger_outbox SET lease = ?, leased_until = ?, consumer = ? WHERE seq = ?",
                [(token, now + lease_s, consumer, row[0]) for row in rows],
            )
            return [_taken(row, token) for row in rows]

        return await self.file.write(lease)

    async def done(self, taken: Sequence[Taken]) -> None:
        held = [_lease_of(item.token) for item in taken]
        if not held:
            return

        def delete(db: sqlite3.Connection) -> None:
            gone = db.executemany(
                "DELETE FROM ledger_outbox WHERE seq = ? AND lease = ?", held
            ).rowcount
            db.execute("UPDATE ledger_outbox_tally SET entries = entries - ?", (gone,))

        await self.file.write(delete)

    async def backlog(self) -> Backlog:
        def count(db: sqlite3.Connection) -> Backlog:
            (entries,) = db.execute("SELECT entries FROM ledger_outbox_tally").fetchone()
            oldest = db.execute("SELECT put_at FROM ledger_outbox ORDER BY seq LIMIT 1").fetchone()
            return Backlog(int(entries), None if oldest is None else float(oldest[0]))

        return await self.file.read(count)

    async def close(self) -> None:
        if self._owns_file:
            await self.file.close()


def put_statements(entries: Sequence[Entry], put_at: float) -> list[tuple[str, tuple[Any, ...]]]:
    """The statements that put `entries`: run in a transaction of the state file, by `put` or
    with the outcome they record (SqliteStore.record_outcome: one write for both)."""
    statements: list[tuple[str, tuple[Any, ...]]] = [
        (_INSERT, (entry.kind, entry.id, entry.body, put_at)) for entry in entries
    ]
    statements.append(("UPDATE ledger_outbox_tally SET entries = entries + ?", (len(entries),)))
    return statements


_INSERT = "INSERT INTO ledger_outbox (kind, id, body, put_at) VALUES (?, ?, ?, ?)"


def _release_leases(db: sqlite3.Connection) -> int:
    return db.execute(
        "UPDATE ledger_outbox SET lease = NULL, leased_until = 0, consumer = NULL"
        " WHERE lease IS NOT NULL"
    ).rowcount


def _taken(row: Sequence[Any], token: str) -> Taken:
    seq, kind, id_, body, put_at = row
    return Taken(Entry(kind, id_, bytes(body)), f"{seq}:{token}", float(put_at))


def _lease_of(token: str) -> tuple[int, str]:
    """(seq, lease) from a Taken's token: which row, under which lease."""
    seq, _, lease = token.partition(":")
    return int(seq), lease
