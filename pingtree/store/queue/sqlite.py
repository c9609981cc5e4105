"""The embedded delivery queue and sales ledger: two tables in the state file (sqlite_file.py).

One row per job (`delivery_jobs`), in enqueue order (`seq`, the rowid: a new row always gets a
higher one than any row still there). The contract is DeliveryQueue's (queue.py); how it is kept:

- **Order and one job per destination.** `claim` takes, for each destination with no live lease,
  its first job by (created_at, seq) among those due; a job whose lease ran out goes first, as
  Redis's takeovers do. The `leased` state is the lock: a destination has at most one leased job,
  and while that lease lives nothing else of the destination is handed out. A job waiting for its
  retry is not due, so it holds nothing back; once due again it is the oldest, and goes next.
- **Leases.** `lease` (a random token), `leased_until` and `consumer` are set by `claim` and
  cleared by `settle`, which counts only while the row still has the caller's token. Opening the
  queue releases every lease in the file: the file's lock (sqlite_file.py) says no other process
  has it open, so a job still leased was leased by a process that is gone (killed mid-attempt),
  and it goes out again at once, with the same webhook-id, instead of after its lease (90 s).
  Hence one `SqliteQueue` per open file, made at start-up, before any claim.
- **Times** are the caller's `now`, never read here (the tests pass whatever time they need).
- **The ledger** (`sales_ledger`): one row per (lead, buyer), the first recorded kept.
- **Erasure** sets `erased`, which `replay` refuses; an erased job is `dead`, or was finished.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pingtree.core import jsonenc
from pingtree.store.queue.base import ERASED, Job, JobState, SaleRow, Settlement
from pingtree.store.queue.settle import (
    FINISHED,
    REPLAYABLE,
    decode_pairs,
    encode_pairs,
    erased_sale,
    one_line,
    settled,
    without_query,
)
from pingtree.store.sqlite_file import SqliteFile

__all__ = ["SqliteFile", "SqliteQueue"]

log = logging.getLogger(__name__)

# One tuple of statements per schema version; a new version appends a step, never edits one.
SCHEMA: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE delivery_jobs (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            lead_id TEXT NOT NULL,
            owner TEXT NOT NULL,
            destination TEXT NOT NULL,
            key TEXT NOT NULL,
            created_at REAL NOT NULL,
            method TEXT NOT NULL,
            url TEXT NOT NULL,
            failover_url TEXT,
            headers TEXT NOT NULL,
            body BLOB NOT NULL,
            attempt INTEGER NOT NULL,
            due_at REAL NOT NULL,
            target TEXT NOT NULL,
            state TEXT NOT NULL,
            last_error TEXT,
            history TEXT NOT NULL,
            lease TEXT,
            leased_until REAL,
            consumer TEXT,
            finished_at REAL
        )""",
        "CREATE INDEX delivery_jobs_due ON delivery_jobs (state, due_at)",
        "CREATE INDEX delivery_jobs_leases ON delivery_jobs (state, leased_until)",
        "CREATE INDEX delivery_jobs_by_key ON delivery_jobs (key, created_at)",
        "CREATE INDEX delivery_jobs_by_state ON delivery_jobs (state, created_at)",
        "CREATE INDEX delivery_jobs_by_time ON delivery_jobs (created_at)",
        "CREATE INDEX delivery_jobs_finished ON delivery_jobs (finished_at)"
        " WHERE finished_at IS NOT NULL",
        """CREATE TABLE sales_ledger (
            lead_id TEXT NOT NULL,
            buyer_id TEXT NOT NULL,
            sold_at REAL NOT NULL,
            fields TEXT NOT NULL,
            PRIMARY KEY (lead_id, buyer_id)
        )""",
        "CREATE INDEX sales_ledger_by_time ON sales_ledger (sold_at)",
        "CREATE INDEX sales_ledger_by_buyer ON sales_ledger (buyer_id, sold_at)",
    ),
    (  # `erase`: a lead's jobs found by its id; an erased job is never sent nor replayed
        "ALTER TABLE delivery_jobs ADD COLUMN erased INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX delivery_jobs_by_lead ON delivery_jobs (lead_id)",
    ),
)

_JOB_COLUMNS = (
    "id, lead_id, owner, destination, created_at, method, url, failover_url, headers, body,"
    " attempt, due_at, target, state, last_error, history, lease"
)

# For each destination nobody holds a live lease on, its first due job (a lapsed lease first).
_CLAIMABLE = """
WITH ready AS (
    SELECT seq, created_at, ROW_NUMBER() OVER (
        PARTITION BY key ORDER BY state = 'leased' DESC, created_at, seq
    ) AS place
    FROM delivery_jobs
    WHERE ((state = 'waiting' AND due_at <= :now) OR (state = 'leased' AND leased_until <= :now))
      AND key NOT IN (
          SELECT key FROM delivery_jobs WHERE state = 'leased' AND leased_until > :now
      )
)
SELECT seq FROM ready WHERE place = 1 ORDER BY created_at, seq LIMIT :limit
"""


class SqliteQueue:
    """DeliveryQueue on a local SQLite file. With a path it opens (and on close, closes) its own
    file; given a `SqliteFile` it shares that one, and leaves closing it to its owner."""

    def __init__(
        self,
        path: str | Path | SqliteFile,
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        self._owns_file = not isinstance(path, SqliteFile)
        self.file = (
            path if isinstance(path, SqliteFile) else SqliteFile(path, synchronous=synchronous)
        )
        self.file.migrate("deliveries", SCHEMA)
        released = self.file.write_now(_release_leases)
        if released:
            log.warning(
                "deliveries: %d attempt(s) cut off when the last process on %s ended go out again"
                " now",
                released,
                self.file.path,
            )

    async def enqueue(self, jobs: Sequence[Job]) -> None:
        rows = [_job_row(job) for job in jobs]

        def insert(db: sqlite3.Connection) -> None:
            db.executemany(
                f"INSERT INTO delivery_jobs (key, {_JOB_COLUMNS})"
                f" VALUES ({', '.join('?' * 18)}) ON CONFLICT (id) DO NOTHING",
                rows,
            )

        if rows:
            await self.file.write(insert)

    async def claim(self, now: float, limit: int, lease_s: float, consumer: str) -> list[Job]:
        if limit <= 0:
            return []

        def lease(db: sqlite3.Connection) -> list[Job]:
            found = [seq for (seq,) in db.execute(_CLAIMABLE, {"now": now, "limit": limit})]
            db.executemany(
                "UPDATE delivery_jobs SET state = 'leased', lease = ?, leased_until = ?,"
                " consumer = ? WHERE seq = ?",
                [(secrets.token_hex(8), now + lease_s, consumer, seq) for seq in found],
            )
            marks = ", ".join("?" * len(found))
            rows = db.execute(
                f"SELECT {_JOB_COLUMNS} FROM delivery_jobs WHERE seq IN ({marks})"
                " ORDER BY created_at, seq",
                found,
            )
            return [_job(row) for row in rows]

        return await self.file.write(lease)

    async def settle(self, job: Job, result: Settlement, now: float) -> None:
        def record(db: sqlite3.Connection) -> None:
            stored = _get(db, job.id)
            if stored is None or stored.state != "leased" or stored.lease != job.lease:
                return  # not this caller's lease (any more): someone else's result counts
            change = settled(stored, result, now)
            history = (*stored.history, change.line)
            db.execute(
                "UPDATE delivery_jobs SET state = ?, attempt = ?, due_at = ?, target = ?,"
                " last_error = ?, history = ?, finished_at = ?,"
                " lease = NULL, leased_until = NULL, consumer = NULL WHERE id = ?",
                (
                    *(change.state, change.attempt, change.due_at, change.target),
                    *(change.last_error, _lines(history), change.finished_at, job.id),
                ),
            )

        if job.lease is not None:
            await self.file.write(record)

    async def get(self, job_id: str) -> Job | None:
        return await self.file.read(lambda db: _get(db, job_id))

    async def jobs(
        self,
        *,
        state: JobState | None = None,
        key: str | None = None,
        limit: int = 100,
    ) -> list[Job]:
        """Newest first; `key` is a destination (`buyer:firm/crm`)."""
        if limit <= 0:
            return []
        where = " AND ".join(
            test for test, value in (("state = ?", state), ("key = ?", key)) if value is not None
        )
        query = (
            f"SELECT {_JOB_COLUMNS} FROM delivery_jobs {'WHERE ' + where if where else ''}"
            " ORDER BY created_at DESC, seq DESC LIMIT ?"
        )
        args = [value for value in (state, key) if value is not None]
        return await self.file.read(
            lambda db: [_job(row) for row in db.execute(query, (*args, limit))]
        )

    async def replay(self, job_id: str, now: float) -> bool:
        states = ", ".join(f"'{state}'" for state in sorted(REPLAYABLE))
        return await self._changed(
            "UPDATE delivery_jobs SET state = 'waiting', due_at = ?, attempt = 0,"
            f" target = 'primary', finished_at = NULL WHERE id = ? AND state IN ({states})"
            " AND erased = 0",
            (now, job_id),
        )

    async def retry_now(self, job_id: str, now: float) -> bool:
        return await self._changed(
            "UPDATE delivery_jobs SET due_at = MIN(due_at, ?) WHERE id = ? AND state = 'waiting'",
            (now, job_id),
        )

    async def purge(self, now: float, keep_s: float) -> int:
        states = ", ".join(f"'{state}'" for state in sorted(FINISHED))
        cutoff = now - keep_s

        def delete(db: sqlite3.Connection) -> int:
            return db.execute(
                f"DELETE FROM delivery_jobs WHERE finished_at < ? AND state IN ({states})",
                (cutoff,),
            ).rowcount

        return await self.file.write(delete)

    async def _changed(self, statement: str, args: tuple[Any, ...]) -> bool:
        return await self.file.write(lambda db: db.execute(statement, args).rowcount == 1)

    # the sales ledger -------------------------------------------------------------------------

    async def record_sale(self, row: SaleRow) -> None:
        values = (row.lead_id, row.buyer_id, row.sold_at, encode_pairs(row.fields).decode())
        await self.file.write(
            lambda db: db.execute(
                "INSERT INTO sales_ledger (lead_id, buyer_id, sold_at, fields)"
                " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                values,
            )
        )

    async def sales(self, buyer_id: str | None, start: float, end: float) -> list[SaleRow]:
        """Rows sold in [start, end), oldest first; every buyer's when `buyer_id` is None."""
        which = "" if buyer_id is None else " AND buyer_id = ?"
        query = (
            "SELECT lead_id, buyer_id, sold_at, fields FROM sales_ledger"
            f" WHERE sold_at >= ? AND sold_at < ?{which} ORDER BY sold_at, lead_id, buyer_id"
        )
        args = (start, end) if buyer_id is None else (start, end, buyer_id)
        return await self.file.read(
            lambda db: [
                SaleRow(lead, buyer, sold_at, decode_pairs(fields))
                for lead, buyer, sold_at, fields in db.execute(query, args)
            ]
        )

    async def purge_sales(self, before: float) -> int:
        return await self.file.write(
            lambda db: db.execute("DELETE FROM sales_ledger WHERE sold_at < ?", (before,)).rowcount
        )

    # erasure ----------------------------------------------------------------------------------

    async def erase(self, lead_ids: Sequence[str], now: float) -> int:
        leads = list(dict.fromkeys(lead_ids))

        def erase(db: sqlite3.Connection) -> int:
            erased = sum(_erase_jobs(db, lead_id, now) for lead_id in leads)
            for lead_id in leads:
                _erase_sales(db, lead_id)
            return erased

        return await self.file.write(erase) if leads else 0

    async def close(self) -> None:
        if self._owns_file:
            await self.file.close()


def _job_row(job: Job) -> tuple[Any, ...]:
    """A new job's row, in (key, _JOB_COLUMNS) order: waiting, whatever state it came with."""
    return (
        *(job.key, job.id, job.lead_id, job.owner, job.destination, job.created_at),
        *(job.method, job.url, job.failover_url, encode_pairs(job.headers).decode(), job.body),
        *(job.attempt, job.due_at, job.target, "waiting", job.last_error),
        _lines(tuple(one_line(line) for line in job.history)),
        None,
    )


def _erase_jobs(db: sqlite3.Connection, lead_id: str, now: float) -> int:
    """The lead's jobs not erased yet: body and URL queries gone; a job not delivered yet ends
    dead (its lease, if any, with it: a late settlement finds no lease and counts for nothing),
    a dead or disabled one says why it cannot be replayed. How many."""
    found = db.execute(
        "SELECT seq, url, failover_url FROM delivery_jobs WHERE lead_id = ? AND erased = 0",
        (lead_id,),
    ).fetchall()
    # The right-hand sides read the row as it was.
    db.executemany(
        "UPDATE delivery_jobs SET erased = 1, body = x'', url = ?, failover_url = ?,"
        " state = CASE WHEN state IN ('waiting', 'leased') THEN 'dead' ELSE state END,"
        " finished_at = CASE WHEN state IN ('waiting', 'leased') THEN ? ELSE finished_at END,"
        " last_error = CASE WHEN state = 'delivered' THEN last_error ELSE ? END,"
        " lease = NULL, leased_until = NULL, consumer = NULL WHERE seq = ?",
        [
            (
                without_query(url),
                None if failover_url is None else without_query(failover_url),
                *(now, ERASED, seq),
            )
            for seq, url, failover_url in found
        ],
    )
    return len(found)


def _erase_sales(db: sqlite3.Connection, lead_id: str) -> None:
    rows = db.execute(
        "SELECT buyer_id, fields FROM sales_ledger WHERE lead_id = ?", (lead_id,)
    ).fetchall()
    db.executemany(
        "UPDATE sales_ledger SET fields = ? WHERE lead_id = ? AND buyer_id = ?",
        [
            (encode_pairs(erased_sale(decode_pairs(fields))).decode(), lead_id, buyer_id)
            for buyer_id, fields in rows
        ],
    )


def _release_leases(db: sqlite3.Connection) -> int:
    """Every leased job back to waiting, due when it was (that is, now); its attempt count
    unchanged: the attempt cut off never settled. How many."""
    return db.execute(
        "UPDATE delivery_jobs SET state = 'waiting', lease = NULL, leased_until = NULL,"
        " consumer = NULL WHERE state = 'leased'"
    ).rowcount


def _lines(history: tuple[str, ...]) -> str:
    return jsonenc.dumps(list(history)).decode()


def _job(row: Sequence[Any]) -> Job:
    (id_, lead_id, owner, destination, created_at, method, url, failover_url, headers) = row[:9]
    (body, attempt, due_at, target, state, last_error, history, lease) = row[9:]
    return Job(
        id=id_,
        lead_id=lead_id,
        owner=owner,
        destination=destination,
        created_at=created_at,
        method=method,
        url=url,
        failover_url=failover_url,
        headers=decode_pairs(headers),
        body=bytes(body),
        attempt=attempt,
        due_at=due_at,
        target=target,
        state=state,
        last_error=last_error,
        history=tuple(jsonenc.loads(history)),
        lease=lease,
    )


def _get(db: sqlite3.Connection, job_id: str) -> Job | None:
    row = db.execute(f"SELECT {_JOB_COLUMNS} FROM delivery_jobs WHERE id = ?", (job_id,))
    found = row.fetchone()
    return None if found is None else _job(found)
