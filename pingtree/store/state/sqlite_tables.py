"""The state file's tables for SqliteStore (sqlite.py): their schema, one step a version, and
the statements that write one entry's current value or its absence.

Every row has its entry's expiry (`expires_at`) but the pauses', which are kept until resumed;
`TABLES` are the ones the periodic purge deletes expired rows from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "DELETE_DEDUP",
    "DELETE_IDEMPOTENCY",
    "SCHEMA",
    "TABLES",
    "UPSERT_DEDUP",
    "UPSERT_IDEMPOTENCY",
    "UPSERT_JOURNAL",
    "UPSERT_OUTCOME",
    "UPSERT_PAUSE",
    "UPSERT_USAGE",
    "Statement",
]

# One tuple of statements per schema version; a new version appends a step, never edits one.
SCHEMA: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE store_usage (
            buyer_id TEXT NOT NULL,
            period TEXT NOT NULL,
            count INTEGER NOT NULL,
            spend TEXT NOT NULL,
            expires_at REAL NOT NULL,
            PRIMARY KEY (buyer_id, period)
        ) WITHOUT ROWID""",
        "CREATE INDEX store_usage_expiry ON store_usage (expires_at)",
        """CREATE TABLE store_dedup (
            buyer_id TEXT NOT NULL,
            dedup_key TEXT NOT NULL,
            lead_id TEXT NOT NULL,
            expires_at REAL NOT NULL,
            PRIMARY KEY (buyer_id, dedup_key)
        ) WITHOUT ROWID""",
        "CREATE INDEX store_dedup_expiry ON store_dedup (expires_at)",
        """CREATE TABLE store_idempotency (
            seller_id TEXT NOT NULL,
            key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            owner TEXT NOT NULL,
            chain TEXT NOT NULL,
            lease_until REAL NOT NULL,
            answer BLOB,
            answered_by TEXT,
            verdict INTEGER NOT NULL,
            expires_at REAL NOT NULL,
            PRIMARY KEY (seller_id, key)
        )""",
        "CREATE INDEX store_idempotency_expiry ON store_idempotency (expires_at)",
        """CREATE TABLE store_journal (
            lead_id TEXT PRIMARY KEY,
            buyers TEXT,
            journal_until REAL,
            sealed_until REAL,
            expires_at REAL NOT NULL
        )""",
        "CREATE INDEX store_journal_expiry ON store_journal (expires_at)",
        """CREATE TABLE store_outcomes (
            lead_id TEXT PRIMARY KEY,
            outcome BLOB NOT NULL,
            expires_at REAL NOT NULL
        )""",
        "CREATE INDEX store_outcomes_expiry ON store_outcomes (expires_at)",
    ),
    (
        """CREATE TABLE store_pauses (
            buyer_id TEXT PRIMARY KEY,
            paused_by TEXT NOT NULL,
            paused_at TEXT NOT NULL,
            reason TEXT
        )""",
    ),
)

TABLES = ("store_usage", "store_dedup", "store_idempotency", "store_journal", "store_outcomes")

UPSERT_USAGE = (
    "INSERT INTO store_usage (buyer_id, period, count, spend, expires_at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT DO UPDATE SET count = excluded.count, spend = excluded.spend,"
    " expires_at = excluded.expires_at"
)
UPSERT_DEDUP = (
    "INSERT INTO store_dedup (buyer_id, dedup_key, lead_id, expires_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO UPDATE SET lead_id = excluded.lead_id, expires_at = excluded.expires_at"
)
DELETE_DEDUP = "DELETE FROM store_dedup WHERE buyer_id = ? AND dedup_key = ?"
UPSERT_IDEMPOTENCY = (
    "INSERT INTO store_idempotency (seller_id, key, fingerprint, owner, chain, lease_until,"
    " answer, answered_by, verdict, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO UPDATE SET fingerprint = excluded.fingerprint, owner = excluded.owner,"
    " chain = excluded.chain, lease_until = excluded.lease_until, answer = excluded.answer,"
    " answered_by = excluded.answered_by, verdict = excluded.verdict,"
    " expires_at = excluded.expires_at"
)
DELETE_IDEMPOTENCY = "DELETE FROM store_idempotency WHERE seller_id = ? AND key = ?"
UPSERT_JOURNAL = (
    "INSERT INTO store_journal (lead_id, buyers, journal_until, sealed_until, expires_at)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET buyers = excluded.buyers,"
    " journal_until = excluded.journal_until, sealed_until = excluded.sealed_until,"
    " expires_at = excluded.expires_at"
)
UPSERT_PAUSE = (
    "INSERT INTO store_pauses (buyer_id, paused_by, paused_at, reason) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO UPDATE SET paused_by = excluded.paused_by,"
    " paused_at = excluded.paused_at, reason = excluded.reason"
)
UPSERT_OUTCOME = (
    "INSERT INTO store_outcomes (lead_id, outcome, expires_at) VALUES (?, ?, ?)"
    " ON CONFLICT DO UPDATE SET outcome = excluded.outcome, expires_at = excluded.expires_at"
)

Statement = tuple[str, Sequence[Any]]
