"""Reading leads and the audit back: one lead, a page of leads, the sales of a period, a page of
the audit. Pages are newest first and keyed, not offset: a cursor is the last row's (time, id),
opaque to the client (base64 of JSON), and the next page starts strictly after it, so rows filed
meanwhile never shift a page (no repeats, no gaps).

Test leads are left out unless `filters.test`: then they are listed with the others. A lookup by
`q` (an id, a seller's lead_id, a consumer's hashes) finds a test lead too: it names the lead.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from pingtree.core import jsonenc
from pingtree.core.errors import BadRequest
from pingtree.core.outcome import decode_outcome
from pingtree.core.record import AuditEntry, LeadRecord
from pingtree.ledger.base import AuditPage, AuditQuery, FiledLead, Filters, LeadPage, LeadQuery
from pingtree.ledger.schema import UtcDateTime, audit, leads, sales

MAX_LIMIT = 500

RECORD_COLUMNS = (
    leads.c.id,
    leads.c.received_at,
    leads.c.outcome,
    leads.c.facts,
    leads.c.pii,
    leads.c.phone_hash,
    leads.c.email_hash,
    leads.c.pii_erased_at,
)


def iso_utc(moment: datetime) -> str:
    """A UTC RFC 3339 time to the millisecond, `Z`: how records write times."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_cursor(moment: datetime, row_id: str) -> str:
    text = jsonenc.dumps([moment.isoformat(), row_id])
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """BadRequest for a cursor this ledger did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, row_id = jsonenc.loads(text)
        at = datetime.fromisoformat(moment)
        if at.tzinfo is None or not isinstance(row_id, str):
            raise ValueError
        return at, row_id
    except (ValueError, TypeError, binascii.Error, jsonenc.JSONDecodeError):
        raise BadRequest("cursor is not one this API gave", fields={"cursor": "unknown"}) from None


def cursor_after(moment: datetime, row_id: str) -> sa.Tuple:
    """A cursor's (time, id), typed as the columns it is compared with."""
    return sa.tuple_(sa.literal(moment, UtcDateTime()), sa.literal(row_id, sa.String()))


def filed_lead(row: Row[*tuple[Any, ...]]) -> FiledLead:
    record = LeadRecord(
        outcome=decode_outcome(row.outcome.encode()),
        facts=row.facts,
        pii=row.pii or {},
        phone_hash=row.phone_hash,
        email_hash=row.email_hash,
    )
    erased = None if row.pii_erased_at is None else iso_utc(row.pii_erased_at)
    return FiledLead(record, erased)


def lead(connection: Connection, lead_id: str) -> FiledLead | None:
    found = connection.execute(sa.select(*RECORD_COLUMNS).where(leads.c.id == lead_id)).first()
    return None if found is None else filed_lead(found)


def _filtered(filters: Filters) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    for name in ("status", "seller", "buyer", "vertical", "sub_id", "state", "reason"):
        value = getattr(filters, name)
        if value is not None:
            column = leads.c[f"{name}_id" if name in ("seller", "buyer") else name]
            conditions.append(column == value)
    return conditions


def _lookup(query: LeadQuery) -> sa.ColumnElement[bool] | None:
    """`q`: the lead's id or lead_id as given, or its consumer's phone or email hash."""
    matches: list[sa.ColumnElement[bool]] = []
    if query.q:
        matches += [leads.c.id == query.q, leads.c.lead_id == query.q]
    if query.q_hashes:
        hashes = list(query.q_hashes)
        matches += [leads.c.phone_hash.in_(hashes), leads.c.email_hash.in_(hashes)]
    return sa.or_(*matches) if matches else None


def leads_page(connection: Connection, query: LeadQuery) -> LeadPage:
    limit = max(1, min(query.limit, MAX_LIMIT))
    conditions = _filtered(query.filters)
    lookup = _lookup(query)
    if lookup is not None:
        conditions.append(lookup)
    elif not query.filters.test:
        conditions.append(leads.c.test.is_(False))
    if query.start is not None:
        conditions.append(leads.c.received_at >= query.start)
    if query.end is not None:
        conditions.append(leads.c.received_at < query.end)
    if query.cursor is not None:
        at, row_id = decode_cursor(query.cursor)
        conditions.append(sa.tuple_(leads.c.received_at, leads.c.id) < cursor_after(at, row_id))
    statement = (
        sa.select(*RECORD_COLUMNS)
        .where(*conditions)
        .order_by(leads.c.received_at.desc(), leads.c.id.desc())
        .limit(limit + 1)
    )
    rows = connection.execute(statement).all()
    page = rows[:limit]
    more = len(rows) > limit
    cursor = encode_cursor(page[-1].received_at, page[-1].id) if more else None
    return LeadPage([filed_lead(row) for row in page], cursor)


def sold(
    connection: Connection, buyer_id: str | None, start: datetime, end: datetime
) -> list[FiledLead]:
    """The leads sold in [start, end) (by the sale's time), oldest first."""
    statement = (
        sa.select(*RECORD_COLUMNS)
        .join(sales, sales.c.lead_pk == leads.c.id)
        .where(sales.c.sold_at >= start, sales.c.sold_at < end)
        .order_by(sales.c.sold_at, leads.c.id)
    )
    if buyer_id is not None:
        statement = statement.where(sales.c.buyer_id == buyer_id)
    return [filed_lead(row) for row in connection.execute(statement)]


def audit_page(connection: Connection, query: AuditQuery) -> AuditPage:
    limit = max(1, min(query.limit, MAX_LIMIT))
    conditions: list[sa.ColumnElement[bool]] = []
    for name in ("operator", "action", "target"):
        value = getattr(query, name)
        if value is not None:
            conditions.append(audit.c[name] == value)
    if query.start is not None:
        conditions.append(audit.c.at >= query.start)
    if query.end is not None:
        conditions.append(audit.c.at < query.end)
    if query.cursor is not None:
        at, entry_id = decode_cursor(query.cursor)
        conditions.append(sa.tuple_(audit.c.at, audit.c.id) < cursor_after(at, entry_id))
    statement = (
        sa.select(audit)
        .where(*conditions)
        .order_by(audit.c.at.desc(), audit.c.id.desc())
        .limit(limit + 1)
    )
    rows = connection.execute(statement).all()
    page = rows[:limit]
    entries = [
        AuditEntry(
            id=row.id,
            at=iso_utc(row.at),
            operator=row.operator,
            action=row.action,
            target=row.target,
            detail=row.detail,
        )
        for row in page
    ]
    cursor = encode_cursor(page[-1].at, page[-1].id) if len(rows) > limit else None
    return AuditPage(entries, cursor)
