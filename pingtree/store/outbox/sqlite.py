"""The embedded outbox: a table in the state file (sqlite_file.py), or in memory without one.

One row per entry put, in put order (`seq`, the rowid). The contract is Outbox's (base.py); how it
is kept:

- **Put** is one INSERT per entry, queued on the file's writer thread and committed with whatever
  else is queued (the router's outcome, the deliveries' jobs): durable when it returns, at the
  cost of a statement, not of a commit. Entries are never merged: the ledger files by id.
- **Leases** live in this object, not in the file: the file's lock says no other process has it
  open, and a lease could only ever matter to the process that holds it (a process that died
  held nothing: its entries go to the ledger at once when the file is opened again, as the
  delivery queue's do). `take` reads the oldest rows that no lease holds, or whose lease ran
  out, and leases them (a random token per call); `done` deletes a row only while it still holds
  the lease it was taken under, so a writer whose lease ran out and was taken over deletes
  nothing of the new holder's. Writing a lease into its row would rewrite the row, the record's
  body with it: a cost a lead on the hot path's writer thread (benchmarks: scenario 10). Files
  written by versions that did keep leases in the rows have them released when opened.
- **Backlog.** The count is a tally row kept in the same transactions as the puts and dones
  (`COUNT(*)` would read the whole table on the writer thread, which the answer path waits on,
  and a backlog is largest exactly when the ledger is down); the oldest put is the first row.
- **Time** is this process's clock (`clock`, injectable): the protocol takes no `now`.
"""

from __future__ import annotations

import asyncio
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
        self._leases: dict[int, tuple[str, float]] = {}  # seq → (token, leased until)
        self._taking = asyncio.Lock()

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
        async with self._taking:  # one take at a time: each sees the leases of the one before
            now = self._clock()
            held = {seq for seq, (_, until) in self._leases.items() if until > now}

            def oldest(db: sqlite3.Connection) -> list[Any]:
                # Enough rows to find `limit` no lease holds (the held are the oldest, mostly).
                return db.execute(
                    "SELECT seq, kind, id, body, put_at FROM ledger_outbox ORDER BY seq LIMIT ?",
                    (limit + len(held),),
                ).fetchall()

            rows = [row for row in await self.file.read(oldest) if row[0] not in held][:limit]
            token = secrets.token_hex(8)
            for row in rows:
                self._leases[row[0]] = (token, now + lease_s)
            return [_taken(row, token) for row in rows]

    async def done(self, taken: Sequence[Taken]) -> None:
        seqs = []
        for item in taken:
            seq, token = _lease_of(item.token)
            lease = self._leases.get(seq)
            if lease is not None and lease[0] == token:
                del self._leases[seq]
                seqs.append((seq,))
        if not seqs:
            return

        def delete(db: sqlite3.Connection) -> None:
            gone = db.executemany("DELETE FROM ledger_outbox WHERE seq = ?", seqs).rowcount
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
