"""Added suppression entries on the state file (base.py's contract): a table of (list, digest),
durable across restarts, with a copy in memory that the lookups read (a lead never waits on the
file's writer thread to be screened). The file's lock makes it this process's alone, so the copy
cannot go stale.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from pingtree.store.sqlite_file import SqliteFile
from pingtree.store.suppression.base import DIGEST_BYTES, Wanted
from pingtree.store.suppression.memory import MemorySuppression

# One tuple of statements per schema version; a new version appends a step, never edits one.
SCHEMA: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE suppression_entries (
            list_id TEXT NOT NULL,
            digest BLOB NOT NULL,
            PRIMARY KEY (list_id, digest)
        ) WITHOUT ROWID""",
    ),
)


class SqliteSuppression:
    def __init__(self, file: SqliteFile) -> None:
        """On the store's state file (its owner closes it); reads the table once, here."""
        self._file = file
        file.migrate("suppression", SCHEMA)
        self._copy = MemorySuppression()
        rows = file.read_now(
            lambda db: db.execute("SELECT list_id, digest FROM suppression_entries").fetchall()
        )
        by_list: dict[str, list[int]] = {}
        for list_id, digest in rows:
            by_list.setdefault(list_id, []).append(int.from_bytes(digest))
        for list_id, digests in by_list.items():
            self._copy.keep(list_id, digests)

    async def add(self, list_id: str, digests: Sequence[int]) -> int:
        rows = [(list_id, digest.to_bytes(DIGEST_BYTES)) for digest in digests]

        def insert(db: sqlite3.Connection) -> None:
            db.executemany(
                "INSERT OR IGNORE INTO suppression_entries (list_id, digest) VALUES (?, ?)", rows
            )

        await self._file.write(insert)  # durable first: the copy never holds what the file lost
        return self._copy.keep(list_id, digests)

    async def matching(self, wanted: Wanted) -> frozenset[str]:
        return await self._copy.matching(wanted)

    async def sizes(self, list_ids: Sequence[str]) -> dict[str, int]:
        return await self._copy.sizes(list_ids)
