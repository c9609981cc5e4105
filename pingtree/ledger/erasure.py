"""Forgetting a consumer and retention: PII erased in place (the lead's facts, sale, calls and
rollup counts stay), and rows past `ledger_days` deleted.

`forget` erases the PII of every lead of the given phone or email hashes and remembers each hash
with the time (`erasures`), so a lead received before that and still on its way in the outbox is
filed erased (filing.py). `purge` erases the PII of leads older than `pii_days`, deletes leads,
their sales and calls (and a buyer's returns, adjustments, acknowledgements and feedback), audit
rows, erasures and rollup hours older than `ledger_days`. Returns' notes go with the PII.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from pingtree.ledger.base import Erased
from pingtree.ledger.rollups import epoch_hour
from pingtree.ledger.schema import (
    adjustments,
    audit,
    calls,
    erasures,
    feedback,
    leads,
    pull_acks,
    quotes,
    returns,
    rollups,
    sales,
)

# A buyer's own rows of a lead (DESIGN §15), deleted with it; a return's `note` is the buyer's
# free text, which may name the consumer: erased with the lead's PII.
_BUYER_ROWS = (returns, adjustments, pull_acks, feedback)


def forget(connection: Connection, hashes: Sequence[str], at: datetime) -> Erased:
    """Erase the PII of every lead with one of `hashes`; the ids of every such lead, erased now
    or before (deliveries and the CSV mirror erase theirs by these ids)."""
    wanted = sorted(set(hashes))
    if not wanted:
        return Erased([])
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    remembered = insert(erasures).values([{"hash": h, "at": at} for h in wanted])
    # First, the hashes: on PostgreSQL this waits for the batches being filed (filing.py), so
    # the erasure below finds their leads. A second forget of a hash moves its time on.
    remembered = remembered.on_conflict_do_update(
        index_elements=["hash"],
        set_={"at": remembered.excluded.at},
        where=erasures.c.at < remembered.excluded.at,
    )
    connection.execute(remembered)
    of_consumer = sa.or_(leads.c.phone_hash.in_(wanted), leads.c.email_hash.in_(wanted))
    connection.execute(
        leads.update()
        .where(of_consumer, leads.c.pii.is_not(None))
        .values(pii=None, pii_erased_at=at)
    )
    ids = list(
        connection.execute(sa.select(leads.c.id).where(of_consumer).order_by(leads.c.id)).scalars()
    )
    connection.execute(returns.update().where(returns.c.lead_pk.in_(ids)).values(note=None))
    return Erased(ids)


def purge(
    connection: Connection, now: datetime, pii_days: float, ledger_days: float
) -> tuple[int, int]:
    """Retention (the module's docstring): (leads whose PII was erased, leads deleted). The
    leads past `ledger_days` go first: their PII is not counted as erased."""
    kept_from = now - timedelta(days=ledger_days)
    old = sa.select(leads.c.id).where(leads.c.received_at < kept_from)
    connection.execute(sales.delete().where(sales.c.lead_pk.in_(old)))
    connection.execute(calls.delete().where(calls.c.lead_pk.in_(old)))
    for table in _BUYER_ROWS:
        connection.execute(table.delete().where(table.c.lead_pk.in_(old)))
    deleted = connection.execute(leads.delete().where(leads.c.received_at < kept_from)).rowcount
    connection.execute(audit.delete().where(audit.c.at < kept_from))
    connection.execute(quotes.delete().where(quotes.c.quoted_at < kept_from))
    connection.execute(erasures.delete().where(erasures.c.at < kept_from))
    # An hour's rollups go once all of it is older than the leads kept.
    connection.execute(rollups.delete().where(rollups.c.hour < epoch_hour(kept_from)))
    pii_before = now - timedelta(days=pii_days)
    erased_leads = sa.select(leads.c.id).where(leads.c.received_at < pii_before)
    connection.execute(
        returns.update()
        .where(returns.c.lead_pk.in_(erased_leads), returns.c.note.is_not(None))
        .values(note=None)
    )
    erased = connection.execute(
        leads.update()
        .where(leads.c.received_at < pii_before, leads.c.pii.is_not(None))
        .values(pii=None, pii_erased_at=now)
    ).rowcount
    return erased, deleted
