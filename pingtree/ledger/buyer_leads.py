"""What a buyer reads of the ledger through its own API (DESIGN §15): the leads sold to it, with
their PII while retention keeps it; which of them it acknowledged (pull); its figures; its
feedback; and the operator's queue of returns. Each function is one transaction's work.

**Pages** are oldest sale first (a buyer syncing from `since` reads sales in the order they
happened), keyed by the sale's (sold_at, lead id) as GET /admin/leads is by its own: a cursor is
the last row's, the next page starts strictly after it, so sales filed meanwhile never shift one.

**Pull** (`deliveries: [{method: pull}]`): a lead stays listed until the buyer acknowledges it;
an acknowledgement is a `pull_acks` row, in the ledger, so it survives any restart or kill and is
shared by every router on one PostgreSQL. At least once: a lead read and not acknowledged (the
buyer died before its ack) is listed again; there is no lease, so two readers see it both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pingtree.core.errors import NotFound
from pingtree.core.ids import audit_id
from pingtree.ledger.queries import (
    RECORD_COLUMNS,
    cursor_after,
    decode_cursor,
    encode_cursor,
    filed_lead,
)
from pingtree.ledger.returns import add_to_rollups, return_view
from pingtree.ledger.schema import feedback, leads, pull_acks, returns, sales, to_cents

MAX_LIMIT = 500
FEEDBACK_EVENTS = ("contacted", "converted")


@dataclass(frozen=True, slots=True)
class BuyerLeadQuery:
    buyer_id: str
    since: datetime | None = None  # sold at or after
    unacked: bool = False  # a pull buyer's list: the leads it has not acknowledged
    cursor: str | None = None
    limit: int = 100


def _returned(buyer_id: str) -> Any:
    return (
        sa.select(returns.c.lead_pk, returns.c.id, returns.c.status, returns.c.reason)
        .where(returns.c.buyer_id == buyer_id)
        .subquery()
    )


def _sold_to(buyer_id: str) -> sa.Select[Any]:
    """The leads sold to the buyer, each with its sale and its return (if any)."""
    returned = _returned(buyer_id)
    return (
        sa.select(
            *RECORD_COLUMNS,
            sales.c.price_cents,
            sales.c.sold_at,
            returned.c.id.label("return_id"),
            returned.c.status.label("return_status"),
            returned.c.reason.label("return_reason"),
        )
        .join(sales, sales.c.lead_pk == leads.c.id)
        .outerjoin(returned, returned.c.lead_pk == leads.c.id)
        .where(sales.c.buyer_id == buyer_id)
    )


def buyer_leads(connection: Connection, query: BuyerLeadQuery) -> tuple[list[Any], str | None]:
    """A page of the leads sold to the buyer, as (FiledLead, row with the sale and return)
    pairs, and the next cursor (None at the end)."""
    limit = max(1, min(query.limit, MAX_LIMIT))
    statement = _sold_to(query.buyer_id)
    if query.since is not None:
        statement = statement.where(sales.c.sold_at >= query.since)
    if query.unacked:
        acked = sa.select(pull_acks.c.lead_pk).where(
            pull_acks.c.buyer_id == query.buyer_id, pull_acks.c.lead_pk == leads.c.id
        )
        statement = statement.where(~acked.exists())
    if query.cursor is not None:
        at, lead_id = decode_cursor(query.cursor)
        statement = statement.where(
            sa.tuple_(sales.c.sold_at, leads.c.id) > cursor_after(at, lead_id)
        )
    statement = statement.order_by(sales.c.sold_at, leads.c.id).limit(limit + 1)
    rows = connection.execute(statement).all()
    page = rows[:limit]
    cursor = encode_cursor(page[-1].sold_at, page[-1].id) if len(rows) > limit else None
    return [(filed_lead(row), row) for row in page], cursor


def buyer_lead(connection: Connection, buyer_id: str, lead_id: str) -> Any:
    """One lead sold to the buyer, as a page's pair; NotFound for any other lead."""
    row = connection.execute(_sold_to(buyer_id).where(leads.c.id == lead_id)).first()
    if row is None:
        raise NotFound("no such lead among yours")
    return filed_lead(row), row


def acknowledge(
    connection: Connection, buyer_id: str, lead_ids: Sequence[str], now: datetime
) -> list[str]:
    """Acknowledge the buyer's pulled leads among `lead_ids` (any other id is ignored: it names
    no lead of the buyer's); acknowledging twice is one acknowledgement. The ids acknowledged."""
    wanted = sorted(set(lead_ids))
    if not wanted:
        return []
    theirs = connection.execute(
        sa.select(sales.c.lead_pk).where(sales.c.buyer_id == buyer_id, sales.c.lead_pk.in_(wanted))
    ).scalars()
    found = sorted(theirs)
    done = set(
        connection.execute(
            sa.select(pull_acks.c.lead_pk).where(
                pull_acks.c.buyer_id == buyer_id, pull_acks.c.lead_pk.in_(found)
            )
        ).scalars()
    )
    new = [{"lead_pk": i, "buyer_id": buyer_id, "acked_at": now} for i in found if i not in done]
    if new:
        connection.execute(pull_acks.insert(), new)
    return found


def record_feedback(
    connection: Connection,
    buyer_id: str,
    lead_id: str,
    event: str,
    value: Decimal | None,
    now: datetime,
) -> dict[str, Any]:
    """A conversion fact about one of the buyer's leads; NotFound for any other lead."""
    sold = sa.select(sales.c.lead_pk).where(
        sales.c.buyer_id == buyer_id, sales.c.lead_pk == lead_id
    )
    if connection.execute(sold).first() is None:
        raise NotFound("no such lead among yours")
    earlier = sa.select(feedback.c.id).where(
        feedback.c.lead_pk == lead_id, feedback.c.buyer_id == buyer_id, feedback.c.event == event
    )
    first = connection.execute(earlier.limit(1)).first() is None
    value_cents = to_cents(value) if event == "converted" else None
    added = {event: 1 if first else 0, "conversion_cents": value_cents or 0}
    if any(added.values()):
        add_to_rollups(connection, lead_id, buyer_id, added)
    row = {
        "id": "fb_" + audit_id().removeprefix("au_"),
        "lead_pk": lead_id,
        "buyer_id": buyer_id,
        "event": event,
        "value_cents": to_cents(value),  # kept as given; only a conversion's is reported
        "at": now,
    }
    connection.execute(feedback.insert(), [row])
    return {"id": row["id"], "lead_id": lead_id, "event": event, "value": value}


def buyer_stats(connection: Connection, buyer_id: str, now: datetime, days: int) -> dict[str, Any]:
    """The buyer's figures over the last `days` (test leads aside): sales and spend, returns by
    status and the amount given back, its return rate, feedback by event, and, for a pull
    buyer, the leads it has not acknowledged (of any age)."""
    since = now - timedelta(days=days)
    live = sales.join(leads, leads.c.id == sales.c.lead_pk)
    sold, spent = connection.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sales.c.price_cents), 0))
        .select_from(live)
        .where(sales.c.buyer_id == buyer_id, sales.c.sold_at >= since, leads.c.test.is_(False))
    ).one()
    by_status: dict[str, int] = dict(
        connection.execute(
            sa.select(returns.c.status, sa.func.count())
            .where(returns.c.buyer_id == buyer_id, returns.c.requested_at >= since)
            .group_by(returns.c.status)
        ).all()
    )
    refunded = connection.execute(
        sa.select(sa.func.coalesce(sa.func.sum(returns.c.price_cents), 0)).where(
            returns.c.buyer_id == buyer_id,
            returns.c.requested_at >= since,
            returns.c.status == "approved",
        )
    ).scalar_one()
    events: dict[str, int] = dict(
        connection.execute(
            sa.select(feedback.c.event, sa.func.count())
            .where(feedback.c.buyer_id == buyer_id, feedback.c.at >= since)
            .group_by(feedback.c.event)
        ).all()
    )
    acked = sa.select(pull_acks.c.lead_pk).where(
        pull_acks.c.buyer_id == buyer_id, pull_acks.c.lead_pk == sales.c.lead_pk
    )
    unacked = connection.execute(
        sa.select(sa.func.count()).where(sales.c.buyer_id == buyer_id, ~acked.exists())
    ).scalar_one()
    requested = sum(count for status, count in by_status.items() if status != "denied")
    return {
        "days": days,
        "sold": sold,
        "spent": Decimal(int(spent)).scaleb(-2),
        "returns": {s: by_status.get(s, 0) for s in ("pending", "approved", "denied")},
        "refunded": Decimal(int(refunded)).scaleb(-2),
        "return_rate": None if not sold else round(Decimal(requested) / Decimal(sold), 4),
        "feedback": {event: events.get(event, 0) for event in FEEDBACK_EVENTS},
        "unacknowledged": unacked,
    }


def returns_page(
    connection: Connection,
    status: str | None,
    buyer_id: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """Returns, newest first, of one status and buyer (None: any)."""
    limit = max(1, min(limit, MAX_LIMIT))
    statement = sa.select(returns)
    if status is not None:
        statement = statement.where(returns.c.status == status)
    if buyer_id is not None:
        statement = statement.where(returns.c.buyer_id == buyer_id)
    if cursor is not None:
        at, return_id = decode_cursor(cursor)
        statement = statement.where(
            sa.tuple_(returns.c.requested_at, returns.c.id) < cursor_after(at, return_id)
        )
    statement = statement.order_by(returns.c.requested_at.desc(), returns.c.id.desc())
    rows = connection.execute(statement.limit(limit + 1)).all()
    page = rows[:limit]
    more = len(rows) > limit
    next_cursor = encode_cursor(page[-1].requested_at, page[-1].id) if more else None
    return [return_view(row) for row in page], next_cursor
