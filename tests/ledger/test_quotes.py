"""Exchange quotes on record (pingtree/ledger/quotes.py), on each ledger backend (SQLite file and
memory, a real PostgreSQL): filed from outbox entries as the writer files them, in either order,
twice; read back for a lead and per seller; purged with the leads."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from pingtree.core.exchange import Quote, encode_quote
from pingtree.ledger.sql import SqlLedger
from pingtree.store.outbox.base import Entry
from tests.ledger.records import DAY, make_record


def quote(n: int, *, seller: str = "acme", accepted: bool = True, **fields: object) -> Quote:
    made = Quote(
        ping_id=f"pg_{n:04d}",
        seller_id=seller,
        vertical="mva",
        sub_id="sub-1",
        received_at=(DAY + timedelta(minutes=n)).timestamp(),
        accepted=accepted,
        bid=Decimal("24.50") if accepted else None,
        expires_at=(DAY + timedelta(minutes=n, seconds=60)).timestamp() if accepted else None,
        reason=None if accepted else "no_valid_bid",
    )
    return replace(made, **fields)  # type: ignore[arg-type]


def entry(quoted: Quote) -> Entry:
    return Entry("quote", quoted.ping_id, encode_quote(quoted))


async def test_a_quote_learns_the_lead_it_became_whichever_is_filed_first(
    ledger: SqlLedger,
) -> None:
    lead = make_record(1)
    pinged, posted = quote(1), replace(quote(1), lead_pk=lead.id)
    other_pinged, other_posted = quote(2), replace(quote(2), lead_pk="ld_other")
    assert await ledger.file_entries([entry(pinged)]) == []
    assert await ledger.file_entries([entry(posted), entry(other_posted)]) == []
    await ledger.file_entries([entry(other_pinged), entry(pinged)])  # late, and again
    await ledger.file([lead], [])

    assert await ledger.quotes().of_lead(lead.id) == posted
    assert await ledger.quotes().of_lead("ld_other") == other_posted
    assert await ledger.quotes().of_lead("ld_none") is None


async def test_quotes_per_seller_count_the_accepted_the_posted_and_the_sold(
    ledger: SqlLedger,
) -> None:
    sold, unsold = make_record(1), make_record(2, status="unsold", price=None, payout=None)
    entries = [
        entry(replace(quote(1), lead_pk=sold.id)),
        entry(replace(quote(2), lead_pk=unsold.id)),
        entry(quote(3)),
        entry(quote(4, accepted=False)),
        entry(quote(5, seller="beta")),
        entry(quote(6, test=True)),
        entry(quote(60 * 24 * 3)),  # days later: outside the range
    ]
    await ledger.file_entries(entries)
    await ledger.file([sold, unsold], [])
    rows = await ledger.quotes().by_seller(DAY, DAY + timedelta(days=1))
    acme, beta = rows
    assert (acme.seller_id, acme.quotes, acme.accepted, acme.posted, acme.sold) == (
        "acme",
        4,
        3,
        2,
        1,
    )
    assert acme.post_rate == 2 / 3 and acme.quoted == Decimal("73.50")
    assert (beta.seller_id, beta.quotes, beta.post_rate) == ("beta", 1, 0.0)
    only_beta = await ledger.quotes().by_seller(DAY, DAY + timedelta(days=1), "beta")
    assert only_beta == [beta]
    tests = await ledger.quotes().by_seller(DAY, DAY + timedelta(days=1), test=True)
    assert [(row.seller_id, row.quotes) for row in tests] == [("acme", 1)]


async def test_a_quote_entry_that_does_not_decode_is_reported_and_the_rest_filed(
    ledger: SqlLedger,
) -> None:
    lead = make_record(1)
    damaged = Entry("quote", "pg_bad", b'{"ping_id": "pg_bad"}')
    unreadable = await ledger.file_entries([damaged, entry(replace(quote(1), lead_pk=lead.id))])
    assert [(u.kind, u.id) for u in unreadable] == [("quote", "pg_bad")]
    assert await ledger.quotes().of_lead(lead.id) is not None


async def test_quotes_are_purged_with_the_leads(ledger: SqlLedger) -> None:
    now = DAY + timedelta(days=100)
    old = replace(quote(1), received_at=(now - timedelta(days=60)).timestamp(), lead_pk="ld_a")
    young = replace(quote(2), received_at=(now - timedelta(days=10)).timestamp(), lead_pk="ld_b")
    await ledger.file_entries([entry(old), entry(young)])
    await ledger.purge(now, pii_days=20, ledger_days=45)
    assert await ledger.quotes().of_lead("ld_a") is None
    assert await ledger.quotes().of_lead("ld_b") == young


async def test_a_filing_process_files_quotes_too(tmp_path: Path) -> None:
    # `serve` files the writer's batches in a process of its own (ledger/filer.py).
    ledger = SqlLedger.open(f"sqlite:///{tmp_path}/state-ledger.db", filer=True)
    await ledger.migrate()
    try:
        lead = make_record(1)
        posted = replace(quote(1), lead_pk=lead.id)
        damaged = Entry("quote", "pg_bad", b"{}")
        unreadable = await ledger.file_entries([entry(quote(1)), entry(posted), damaged])
        assert ledger.filer is not None and ledger.filer.pid is not None
        assert [(u.kind, u.id) for u in unreadable] == [("quote", "pg_bad")]
        assert await ledger.quotes().of_lead(lead.id) == posted
    finally:
        await ledger.close()
