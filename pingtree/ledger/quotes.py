"""Exchange quotes on record (DESIGN §14): one `quotes` row per seller ping, filed from the
outbox with the leads (kind "quote"), and the operator's two readings of them.

A ping's quote is put in the outbox when it is answered, and again, with the lead its post
became (`lead_pk`), when the post is; either may be filed first (several routers, several
writers), so a row is inserted if new, else given the lead it became: nothing else of a quote
changes after its ping.

    of_lead      the quote a posted lead came from (GET /admin/leads/{id}, the console's lead)
    by_seller    per seller over a range: quotes, accepted, posted, sold, post rate
                 (GET /admin/quotes), from the rows (indexed by seller and time); the table
                 holds one row a ping, kept for the ledger's `ledger_days` as leads are
                 (erasure.py's purge)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from pingtree.core.exchange import Quote, decode_quote
from pingtree.ledger.base import Unreadable
from pingtree.ledger.database import Database
from pingtree.ledger.schema import from_cents, leads, quotes, to_cents
from pingtree.store.outbox.base import Entry


def decoded_quotes(entries: Sequence[Entry]) -> tuple[list[Quote], list[Unreadable]]:
    """The outbox's quote entries, and those that would not decode (ledger/base.py's `decoded`
    reads the others)."""
    found: list[Quote] = []
    unreadable: list[Unreadable] = []
    for entry in entries:
        if entry.kind != "quote":
            continue
        try:
            found.append(decode_quote(entry.body))
        except (ValueError, KeyError, TypeError) as exc:
            unreadable.append(Unreadable(entry.kind, entry.id, type(exc).__name__))
    return found, unreadable


def _moment(unix_s: float | None) -> datetime | None:
    return None if unix_s is None else datetime.fromtimestamp(unix_s, UTC)


def file_quotes(connection: Connection, filed: Sequence[Quote]) -> None:
    """Insert each quote if new; a quote already filed only learns the lead it became."""
    if not filed:
        return
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    rows = [
        {
            "ping_id": q.ping_id,
            "seller_id": q.seller_id,
            "sub_id": q.sub_id,
            "vertical": q.vertical,
            "quoted_at": _moment(q.received_at),
            "accepted": q.accepted,
            "bid_cents": to_cents(q.bid),
            "reason": q.reason,
            "expires_at": _moment(q.expires_at),
            "test": q.test,
            "lead_pk": q.lead_pk,
        }
        for q in filed
    ]
    statement = insert(quotes)
    lead_pk = sa.func.coalesce(statement.excluded.lead_pk, quotes.c.lead_pk)
    connection.execute(
        statement.on_conflict_do_update(index_elements=["ping_id"], set_={"lead_pk": lead_pk}),
        rows,
    )


def of_lead(connection: Connection, lead_pk: str) -> Quote | None:
    row = connection.execute(sa.select(quotes).where(quotes.c.lead_pk == lead_pk)).first()
    if row is None:
        return None
    return Quote(
        ping_id=row.ping_id,
        seller_id=row.seller_id,
        vertical=row.vertical,
        sub_id=row.sub_id,
        received_at=row.quoted_at.timestamp(),
        accepted=row.accepted,
        bid=from_cents(row.bid_cents),
        expires_at=None if row.expires_at is None else row.expires_at.timestamp(),
        reason=row.reason,
        test=row.test,
        lead_pk=row.lead_pk,
    )


@dataclass(frozen=True, slots=True)
class SellerQuotes:
    """One seller's quotes over a range; `post_rate` is posted / accepted (None without any)."""

    seller_id: str
    quotes: int
    accepted: int
    posted: int
    sold: int
    quoted_cents: int  # the accepted quotes' sum

    @property
    def post_rate(self) -> float | None:
        return None if self.accepted == 0 else self.posted / self.accepted

    @property
    def quoted(self) -> Decimal:
        return from_cents(self.quoted_cents) or Decimal(0)


def by_seller(
    connection: Connection, start: datetime, end: datetime, seller_id: str | None, test: bool
) -> list[SellerQuotes]:
    """Per seller, the quotes made in [start, end) (test pings apart, as reports keep them)."""
    accepted = sa.case((quotes.c.accepted, 1), else_=0)
    posted = sa.case((quotes.c.lead_pk.is_not(None), 1), else_=0)
    sold = sa.case((leads.c.status == "sold", 1), else_=0)
    quoted = sa.case((quotes.c.accepted, quotes.c.bid_cents), else_=0)
    query = (
        sa.select(
            quotes.c.seller_id,
            sa.func.count(),
            sa.func.sum(accepted),
            sa.func.sum(posted),
            sa.func.sum(sold),
            sa.func.sum(quoted),
        )
        .select_from(quotes.outerjoin(leads, leads.c.id == quotes.c.lead_pk))
        .where(quotes.c.quoted_at >= start, quotes.c.quoted_at < end, quotes.c.test == test)
        .group_by(quotes.c.seller_id)
        .order_by(quotes.c.seller_id)
    )
    if seller_id is not None:
        query = query.where(quotes.c.seller_id == seller_id)
    return [
        SellerQuotes(row[0], *(int(value or 0) for value in row[1:]))
        for row in connection.execute(query)
    ]


class Quotes:
    """The ledger's quotes (SqlLedger.quotes()): read on its database's threads."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def of_lead(self, lead_pk: str) -> Quote | None:
        return await self._database.run(partial(of_lead, lead_pk=lead_pk))

    async def by_seller(
        self, start: datetime, end: datetime, seller_id: str | None = None, test: bool = False
    ) -> list[SellerQuotes]:
        work = partial(by_seller, start=start, end=end, seller_id=seller_id, test=test)
        return await self._database.run(work)
