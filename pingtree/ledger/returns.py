"""Returns (DESIGN §15): a buyer's claim on one of its sales, checked against its rules, decided
(at once when its reason is auto-approved, else by an operator), and what an approved one
reverses. Each function is one transaction's work on a ledger connection (portal.py runs them).

**Rules** (config/models/portal.py's `ReturnRules`, the buyer's over the router's), in order:
the sale must be the buyer's (404 `not_found`), the reason one of `reasons` (422
`unknown_reason`), the sale not returned before, whatever that return's fate (409
`already_returned`), `now` no later than `sold_at + window_days` (422 `return_window_closed`: the
window's last instant is still open), and with `max_pct`, the buyer's returns requested in the
last 30 days (denied ones aside), this one counted, at most `max_pct` % of its sales of those 30
days (422 `return_rate_exceeded`: exactly at the cap passes). Test leads count in neither figure
and are not held to the cap. On PostgreSQL a return takes a lock per buyer for its transaction,
so two routers' returns of one buyer are counted one after the other.

**Money.** An approved return writes new `adjustments` rows, never an edit of the sale: the
buyer's charge back (-price) and, when its seller has `chargeback: true`, the seller's payout
back (-payout). The rollups get `returns` +1, `returns_cents` +price and `chargebacks_cents`
+payout in the hour the lead was received, at every grain (the buyer's grains for its buyer), so
reports put a return beside the sale it reverses.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pingtree.config.models.portal import ReturnRules
from pingtree.core.errors import NotFound, PingtreeError
from pingtree.core.ids import audit_id
from pingtree.ledger.bulk import add_counts
from pingtree.ledger.rollups import BUYER_GRAINS, LEAD_GRAINS, epoch_hour, row_key
from pingtree.ledger.schema import (
    ROLLUP_COUNTS,
    adjustments,
    leads,
    returns,
    rollups,
    sales,
    text_value,
)

RATE_DAYS = 30  # max_pct's period: the buyer's sales and returns of the last 30 days


class UnknownReason(PingtreeError):
    status = 422
    code = "unknown_reason"


class AlreadyReturned(PingtreeError):
    status = 409
    code = "already_returned"


class ReturnWindowClosed(PingtreeError):
    status = 422
    code = "return_window_closed"


class ReturnRateExceeded(PingtreeError):
    status = 422
    code = "return_rate_exceeded"


class ReturnDecided(PingtreeError):
    status = 409
    code = "return_decided"


@dataclass(frozen=True, slots=True)
class ReturnClaim:
    buyer_id: str
    lead_id: str
    reason: str
    note: str | None
    rules: ReturnRules
    chargeback_sellers: frozenset[str]  # sellers with `chargeback: true`, for an auto-approval
    now: datetime


def return_view(row: Any) -> dict[str, Any]:
    """A return as the buyer and the operator see it."""
    return {
        "id": row.id,
        "lead_id": row.lead_pk,
        "buyer_id": row.buyer_id,
        "seller_id": row.seller_id,
        "reason": row.reason,
        "note": row.note,
        "status": row.status,
        "requested_at": _iso(row.requested_at),
        "decided_at": None if row.decided_at is None else _iso(row.decided_at),
        "decided_by": row.decided_by,
        "amount": Decimal(row.price_cents).scaleb(-2),
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sale(connection: Connection, buyer_id: str, lead_id: str) -> Any:
    statement = (
        sa.select(sales.c.price_cents, sales.c.sold_at, leads.c.seller_id, leads.c.test)
        .join(leads, leads.c.id == sales.c.lead_pk)
        .where(sales.c.lead_pk == lead_id, sales.c.buyer_id == buyer_id)
    )
    sale = connection.execute(statement).first()
    if sale is None:
        raise NotFound("no such lead among yours")
    return sale


def request_return(connection: Connection, claim: ReturnClaim) -> dict[str, Any]:
    """File `claim` as a return (refused by its rules: the module's docstring), approved at once
    when its reason is auto-approved; the return as filed."""
    rules = claim.rules
    if connection.dialect.name == "postgresql":
        lock = zlib.crc32(claim.buyer_id.encode())  # one buyer's returns, one at a time
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})
    sale = _sale(connection, claim.buyer_id, claim.lead_id)
    if claim.reason not in rules.reasons:
        raise UnknownReason(
            f"reason must be one of {', '.join(rules.reasons)}",
            fields={"reason": "unknown reason"},
        )
    earlier = sa.select(returns.c.id).where(
        returns.c.lead_pk == claim.lead_id, returns.c.buyer_id == claim.buyer_id
    )
    if connection.execute(earlier).first() is not None:
        raise AlreadyReturned("this lead was returned before")
    closes = sale.sold_at + timedelta(days=rules.window_days)
    if claim.now > closes:
        raise ReturnWindowClosed(f"the return window closed at {_iso(closes)}")
    if rules.max_pct is not None and not sale.test:
        _check_rate(connection, claim, Decimal(str(rules.max_pct)))
    row = {
        "id": "rt_" + audit_id().removeprefix("au_"),
        "lead_pk": claim.lead_id,
        "buyer_id": claim.buyer_id,
        "seller_id": sale.seller_id,
        "reason": claim.reason,
        "note": claim.note,
        "status": "pending",
        "requested_at": claim.now,
        "decided_at": None,
        "decided_by": None,
        "price_cents": sale.price_cents,
    }
    connection.execute(returns.insert(), [row])
    if claim.reason in rules.auto_approve:
        return decide(connection, row["id"], True, "auto", claim.chargeback_sellers, claim.now)
    return return_view(_Row(row))


class _Row:
    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _check_rate(connection: Connection, claim: ReturnClaim, max_pct: Decimal) -> None:
    since = claim.now - timedelta(days=RATE_DAYS)
    sold = connection.execute(
        sa.select(sa.func.count())
        .select_from(sales.join(leads, leads.c.id == sales.c.lead_pk))
        .where(sales.c.buyer_id == claim.buyer_id, sales.c.sold_at >= since)
        .where(leads.c.test.is_(False))
    ).scalar_one()
    returned = connection.execute(
        sa.select(sa.func.count())
        .select_from(returns.join(leads, leads.c.id == returns.c.lead_pk))
        .where(returns.c.buyer_id == claim.buyer_id, returns.c.requested_at >= since)
        .where(returns.c.status != "denied", leads.c.test.is_(False))
    ).scalar_one()
    if Decimal(returned + 1) * 100 > max_pct * sold:
        raise ReturnRateExceeded(
            f"{returned + 1} returns of {sold} sales in {RATE_DAYS} days would pass"
            f" max_pct {max_pct}"
        )


def decide(
    connection: Connection,
    return_id: str,
    approve: bool,
    decided_by: str,
    chargeback_sellers: frozenset[str],
    now: datetime,
) -> dict[str, Any]:
    """Approve or deny a pending return (409 `return_decided` for one decided already); an
    approval writes its adjustments and rollups (the module's docstring)."""
    found = connection.execute(
        sa.select(returns).where(returns.c.id == return_id).with_for_update()
    ).first()
    if found is None:
        raise NotFound("no such return")
    if found.status != "pending":
        raise ReturnDecided(f"this return was {found.status} already")
    status = "approved" if approve else "denied"
    connection.execute(
        returns.update()
        .where(returns.c.id == return_id)
        .values(status=status, decided_at=now, decided_by=decided_by)
    )
    if approve:
        _reverse(connection, found, found.seller_id in chargeback_sellers, now)
    row = connection.execute(sa.select(returns).where(returns.c.id == return_id)).one()
    return return_view(row)


def _reverse(connection: Connection, found: Any, chargeback: bool, now: datetime) -> None:
    sale = connection.execute(
        sa.select(sales.c.payout_cents).where(
            sales.c.lead_pk == found.lead_pk, sales.c.buyer_id == found.buyer_id
        )
    ).one()
    payout = sale.payout_cents if chargeback else 0
    rows = [("buyer", found.buyer_id, -found.price_cents)]
    if payout:
        rows.append(("seller", found.seller_id, -payout))
    connection.execute(
        adjustments.insert(),
        [
            {
                "id": f"{found.id}.{party}",
                "return_id": found.id,
                "lead_pk": found.lead_pk,
                "party": party,
                "party_id": party_id,
                "amount_cents": cents,
                "at": now,
            }
            for party, party_id, cents in rows
        ],
    )
    added = {"returns": 1, "returns_cents": found.price_cents, "chargebacks_cents": payout}
    add_to_rollups(connection, found.lead_pk, found.buyer_id, added)


def add_to_rollups(
    connection: Connection, lead_pk: str, buyer_id: str, added: dict[str, int]
) -> None:
    """Add `added` (ROLLUP_COUNTS' names) to the rollups of a lead's hour and keys, at every
    lead grain and at the buyer grains of `buyer_id`: where rollups.Deltas put its sale."""
    lead = connection.execute(
        sa.select(
            leads.c.received_at,
            leads.c.test,
            leads.c.seller_id,
            leads.c.vertical,
            leads.c.facts,
        ).where(leads.c.id == lead_pk)
    ).one()
    facts = lead.facts or {}
    key = (
        epoch_hour(lead.received_at),
        bool(lead.test),
        lead.seller_id or "",  # as rollups.lead_key made the sale's rows
        lead.vertical or text_value(facts.get("vertical")) or "",
        text_value(facts.get("sub_id")) or "",
        text_value(facts.get("state")) or "",
    )
    counts = [added.get(name, 0) for name in ROLLUP_COUNTS]
    keys = [row_key(grain, key) for grain in LEAD_GRAINS]
    keys += [row_key(grain, key, buyer_id) for grain in BUYER_GRAINS]
    key_columns = ("grain", "hour", "test", "buyer_id", "seller_id", "vertical", "sub_id", "state")
    rows = [(*row, *counts) for row in sorted(keys)]
    add_counts(connection, rollups, key_columns, ROLLUP_COUNTS, rows)


def buyer_return_rates(connection: Connection, since: datetime) -> dict[str, Decimal]:
    """Each buyer's return rate over its sales since `since` (test leads aside): its sales that
    were returned and the return approved, over its sales; buyers without a sale are absent.
    For expected-value ranking (DESIGN §14: bid * post acceptance * (1 - return rate))."""
    approved = (
        sa.select(returns.c.lead_pk, returns.c.buyer_id)
        .where(returns.c.status == "approved")
        .subquery()
    )
    statement = (
        sa.select(
            sales.c.buyer_id,
            sa.func.count(),
            sa.func.count(approved.c.lead_pk),
        )
        .select_from(
            sales.join(leads, leads.c.id == sales.c.lead_pk).outerjoin(
                approved,
                sa.and_(
                    approved.c.lead_pk == sales.c.lead_pk,
                    approved.c.buyer_id == sales.c.buyer_id,
                ),
            )
        )
        .where(sales.c.sold_at >= since, leads.c.test.is_(False))
        .group_by(sales.c.buyer_id)
    )
    return {
        buyer_id: Decimal(returned) / Decimal(sold)
        for buyer_id, sold, returned in connection.execute(statement)
        if sold
    }
