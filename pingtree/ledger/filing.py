"""Filing a batch: lead records and audit entries made rows, in one transaction, idempotently.

A lead is inserted if its id is new (`ON CONFLICT DO NOTHING … RETURNING id` says which were),
and only those, with the pending ones a final record replaces, add to the rollups: filing a batch
twice counts it once. A final record replaces a `pending` row (its sale, calls and rollup counts
taken back and the final ones put in); nothing replaces a final row, a pending record least of
all. Rows already there are read `FOR UPDATE` (PostgreSQL), so two routers filing the same lead at
once take turns, and the second sees the first's row.

A lead whose phone or email hash was forgotten (`erasures`) at or after the lead was received is
filed with its PII erased: it was on its way (in the outbox) when the operator said forget. A
lead received after that forget is a new submission, and keeps its PII for `pii_days`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from pingtree.core.exchange import Quote
from pingtree.core.outcome import decode_outcome, encode_outcome
from pingtree.core.record import AuditEntry, LeadRecord
from pingtree.ledger import bulk, rollups
from pingtree.ledger.quotes import file_quotes
from pingtree.ledger.schema import audit, calls, erasures, leads, sales, text_value, to_cents


@dataclass(frozen=True, slots=True)
class Filed:
    """What a batch changed: leads new to the ledger, pending ones replaced by their final record,
    rollup rows written."""

    new: int = 0
    replaced: int = 0
    rollup_rows: int = 0


def utc_time(text: str) -> datetime:
    """A record's RFC 3339 time (`…Z`) as an aware datetime."""
    return datetime.fromisoformat(text)


def _one_per_id(records: Sequence[LeadRecord]) -> dict[str, LeadRecord]:
    """The batch's record of each id: a final one over a pending one, else the first."""
    chosen: dict[str, LeadRecord] = {}
    for record in records:
        kept = chosen.get(record.id)
        if kept is None or (
            kept.outcome.status == "pending" and record.outcome.status != "pending"
        ):
            chosen[record.id] = record
    return chosen


def _erasures_of(connection: Connection, records: Sequence[LeadRecord]) -> dict[str, datetime]:
    """The forgotten hashes among the batch's, with when they were forgotten.

    On PostgreSQL a `forget` may run on another router at the same moment: the batch holds
    `erasures` in SHARE mode (which batches share; a forget's insert waits for it), so either the
    forget commits first and this reads its hashes, or this batch commits first and the forget's
    erasure, which runs after its insert, finds the batch's leads."""
    hashes = {h for r in records for h in (r.phone_hash, r.email_hash) if h is not None}
    if not hashes:
        return {}
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("LOCK TABLE erasures IN SHARE MODE")
    found = connection.execute(
        sa.select(erasures.c.hash, erasures.c.at).where(erasures.c.hash.in_(sorted(hashes)))
    )
    return {row.hash: row.at for row in found}


def _erased_at(
    record: LeadRecord, received: datetime, forgotten: dict[str, datetime]
) -> datetime | None:
    """When `record`'s PII was forgotten before it was filed; None if it was not."""
    times = [forgotten[h] for h in (record.phone_hash, record.email_hash) if h in forgotten]
    erased = [at for at in times if at >= received]
    return max(erased) if erased else None


def lead_row(record: LeadRecord, received: datetime, erased_at: datetime | None) -> dict[str, Any]:
    outcome, facts = record.outcome, record.facts
    return {
        "id": outcome.id,
        "lead_id": text_value(outcome.lead_id),
        "seller_id": text_value(outcome.seller_id),
        "sub_id": text_value(facts.get("sub_id")),
        "vertical": text_value(outcome.vertical or facts.get("vertical")),
        "state": text_value(facts.get("state")),
        "received_at": received,
        "status": outcome.status,
        "reason": text_value(outcome.reason),
        "test": outcome.test,
        "auction_ms": outcome.auction_ms,
        "buyer_id": text_value(outcome.buyer_id),
        "price_cents": to_cents(outcome.price),
        "payout_cents": to_cents(outcome.payout),
        "facts": facts,
        "pii": None if erased_at is not None else record.pii,
        "phone_hash": record.phone_hash,
        "email_hash": record.email_hash,
        "pii_erased_at": erased_at,
        "outcome": record.outcome_text or encode_outcome(outcome).decode(),
    }


_LEAD_COLUMNS = tuple(column.name for column in leads.columns)


def _insert_new(connection: Connection, rows: list[dict[str, Any]]) -> set[str]:
    """Insert the rows whose id is new; the ids inserted."""
    values = [tuple(row[name] for name in _LEAD_COLUMNS) for row in rows]
    return bulk.insert_new(connection, leads, _LEAD_COLUMNS, values, "id")


def _pending_rows(connection: Connection, ids: list[str]) -> dict[str, LeadRecord]:
    """Of the rows with these ids, the pending ones (locked until commit), as records."""
    query = (
        sa.select(leads.c.id, leads.c.status, leads.c.outcome, leads.c.facts)
        .where(leads.c.id.in_(ids))
        .order_by(leads.c.id)
        .with_for_update()
    )
    return {
        row.id: LeadRecord(decode_outcome(row.outcome.encode()), row.facts, {})
        for row in connection.execute(query)
        if row.status == "pending"
    }


def _replace(connection: Connection, rows: list[dict[str, Any]]) -> None:
    ids = [row["id"] for row in rows]
    connection.execute(sales.delete().where(sales.c.lead_pk.in_(ids)))
    connection.execute(calls.delete().where(calls.c.lead_pk.in_(ids)))
    values = {
        name: sa.bindparam(f"new_{name}", type_=leads.c[name].type)
        for name in rows[0]
        if name != "id"
    }
    statement = leads.update().where(leads.c.id == sa.bindparam("old_id")).values(values)
    connection.execute(
        statement,
        [{"old_id": row["id"], **{f"new_{k}": v for k, v in row.items()}} for row in rows],
    )


def _sale_rows(records: list[tuple[LeadRecord, datetime]]) -> list[dict[str, Any]]:
    """A row per sale: one for a lead sold exclusive, one per share of a lead sold shared."""
    rows = []
    for record, received in records:
        outcome = record.outcome
        # The auction's answer is the sale's moment: received plus the auction's time.
        sold_at = received + timedelta(milliseconds=outcome.auction_ms)
        for line in outcome.sale_lines():
            price, payout = to_cents(line.price) or 0, to_cents(line.payout) or 0
            rows.append(
                {
                    "lead_pk": outcome.id,
                    "buyer_id": text_value(line.buyer_id),
                    "price_cents": price,
                    "payout_cents": payout,
                    "margin_cents": price - payout,
                    "shared": outcome.shared,
                    "sold_at": sold_at,
                }
            )
    return rows


_CALL_COLUMNS = ("lead_pk", "seq", "buyer_id", "step", "result", "reason", "ms", "bid_cents")


def _call_rows(records: list[tuple[LeadRecord, datetime]]) -> list[tuple[Any, ...]]:
    """The calls of each lead: its trace but the `skip` steps (no buyer was called)."""
    return [
        (
            record.id,
            seq,
            text_value(event.buyer_id),
            event.step,
            event.result,
            text_value(event.reason),
            event.duration_ms,
            to_cents(event.bid),
        )
        for record, _ in records
        for seq, event in enumerate(record.outcome.trace)
        if event.step != "skip"
    ]


def _file_audits(connection: Connection, entries: Sequence[AuditEntry]) -> None:
    if not entries:
        return
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    rows = [
        {
            "id": entry.id,
            "at": utc_time(entry.at),
            "operator": text_value(entry.operator),
            "action": entry.action,
            "target": text_value(entry.target),
            "detail": entry.detail,
        }
        for entry in entries
    ]
    connection.execute(insert(audit).on_conflict_do_nothing(index_elements=["id"]), rows)


def file_batch(
    connection: Connection,
    records: Sequence[LeadRecord],
    entries: Sequence[AuditEntry],
    quoted: Sequence[Quote] = (),
) -> Filed:
    """File a batch in `connection`'s transaction (the module's docstring)."""
    chosen = _one_per_id(records)
    received = {lead_id: utc_time(r.outcome.received_at) for lead_id, r in chosen.items()}
    forgotten = _erasures_of(connection, list(chosen.values()))
    rows = {
        lead_id: lead_row(r, received[lead_id], _erased_at(r, received[lead_id], forgotten))
        for lead_id, r in sorted(chosen.items())
    }
    deltas = rollups.Deltas()
    inserted = _insert_new(connection, list(rows.values())) if rows else set()
    others = sorted(set(rows) - inserted)
    pending = _pending_rows(connection, others) if others else {}
    replacing = [i for i in others if i in pending and chosen[i].outcome.status != "pending"]
    for lead_id in replacing:
        old = pending[lead_id]
        deltas.add(old, utc_time(old.outcome.received_at), -1)
    if replacing:
        _replace(connection, [rows[i] for i in replacing])
    filed = [(chosen[i], received[i]) for i in sorted(inserted | set(replacing))]
    for record, moment in filed:
        deltas.add(record, moment)
    sale_rows = _sale_rows(filed)
    if sale_rows:
        connection.execute(sales.insert(), sale_rows)
    bulk.append(connection, calls, _CALL_COLUMNS, _call_rows(filed))
    written = rollups.write(connection, deltas)
    _file_audits(connection, entries)
    file_quotes(connection, quoted)
    return Filed(new=len(inserted), replaced=len(replacing), rollup_rows=written)
