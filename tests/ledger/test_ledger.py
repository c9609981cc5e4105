"""The ledger's contract (ledger/base.py), one suite for every backend: an SQLite file, SQLite in
memory and a real PostgreSQL (tests/postgres_server.py, a fresh database per test)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from pingtree.core.errors import BadRequest
from pingtree.core.record import LeadRecord
from pingtree.ledger import erasure
from pingtree.ledger.base import AuditQuery, Filters, LeadQuery, Report, ReportQuery
from pingtree.ledger.sql import SqlLedger
from tests.ledger.records import DAY, make_audit, make_record


async def report_of(ledger: SqlLedger, **filters: object) -> Report:
    query = ReportQuery("seller", DAY, DAY + timedelta(days=2), filters=Filters(**filters))
    return await ledger.report(query)


async def every_id(ledger: SqlLedger, query: LeadQuery) -> list[str]:
    """Every lead the query lists, page after page, in order."""
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        page = await ledger.leads(replace(query, cursor=cursor))
        ids += [filed.record.id for filed in page.leads]
        cursor = page.next_cursor
        if cursor is None:
            return ids
    raise AssertionError("the pages never end")


# filing -----------------------------------------------------------------------------------------


def a_mixed_batch() -> list[LeadRecord]:
    statuses = ["sold", "unsold", "rejected", "sold", "pending", "sold"]
    return [make_record(n, status=statuses[n % len(statuses)]) for n in range(30)]


async def test_filing_a_batch_twice_files_and_counts_it_once(ledger: SqlLedger) -> None:
    batch = a_mixed_batch()
    audits = [make_audit(n) for n in range(3)]
    await ledger.file(batch, audits)
    once = await report_of(ledger)
    await ledger.file(batch, audits)
    await ledger.file(batch[:7] + batch[:7], audits[:1])  # and a batch repeating itself

    assert await report_of(ledger) == once
    total = once.totals
    assert (total.leads, total.sold) == (30, 15)
    assert total.revenue == 15 * Decimal("20.00")
    assert total.pings == 2 * 25  # two pings a lead but the rejected ones
    assert sorted(await every_id(ledger, LeadQuery(limit=7))) == sorted(r.id for r in batch)
    assert len((await ledger.audit(AuditQuery())).entries) == 3
    sold = await ledger.sold(None, DAY, DAY + timedelta(days=1))
    assert [filed.record.id for filed in sold] == [
        r.id for r in batch if r.outcome.status == "sold"
    ]


async def test_a_filed_lead_reads_back_as_it_was_filed(ledger: SqlLedger) -> None:
    record = make_record(1, phone_hash="ph-1", email_hash="em-1", pii={"phone": "+13055550123"})
    await ledger.file([record], [])
    filed = await ledger.lead(record.id)
    assert filed is not None
    assert filed.record == record
    assert filed.pii_erased_at is None
    assert await ledger.lead("ld_nobody") is None


async def test_a_final_record_replaces_a_pending_one(ledger: SqlLedger) -> None:
    pending = make_record(1, status="pending", buyer="b-slow")
    await ledger.file([pending], [])
    before = (await report_of(ledger)).totals
    assert (before.leads, before.sold, before.post_accept_rate) == (1, 0, Decimal(0))

    final = make_record(1, status="sold", buyer="b-slow", price="31.00", payout="20.00")
    await ledger.file([final], [])

    filed = await ledger.lead(final.id)
    assert filed is not None and filed.record.outcome == final.outcome
    after = (await report_of(ledger)).totals
    assert (after.leads, after.sold, after.revenue, after.margin) == (1, 1, 31, 11)
    assert (after.pings, after.bids, after.wins) == (2, 1, 1)  # the final trace's, not both
    by_buyer = await ledger.report(ReportQuery("buyer", DAY, DAY + timedelta(days=1)))
    assert {row.key: row.sold for row in by_buyer.rows} == {"b-decline": 0, "b-slow": 1}
    sold = await ledger.sold("b-slow", DAY, DAY + timedelta(days=1))
    assert [s.record.outcome.price for s in sold] == [final.outcome.price]


@pytest.mark.parametrize(
    "batches",
    [
        pytest.param(lambda p, f: [[f], [p]], id="pending-filed-after"),
        pytest.param(lambda p, f: [[f, p]], id="final-then-pending-in-one-batch"),
        pytest.param(lambda p, f: [[p, f]], id="pending-then-final-in-one-batch"),
        pytest.param(lambda p, f: [[p], [f], [p], [f]], id="back-and-forth"),
    ],
)
async def test_a_pending_record_never_replaces_a_final_one(
    ledger: SqlLedger, batches: Callable[[LeadRecord, LeadRecord], list[list[LeadRecord]]]
) -> None:
    pending = make_record(1, status="pending")
    final = make_record(1, status="sold")
    for batch in batches(pending, final):
        await ledger.file(batch, [])
    filed = await ledger.lead(final.id)
    assert filed is not None and filed.record.outcome.status == "sold"
    totals = (await report_of(ledger)).totals
    assert (totals.leads, totals.sold, totals.pings) == (1, 1, 2)


# lists and lookups ------------------------------------------------------------------------------


async def test_pages_of_leads_are_newest_first_with_no_repeats_or_gaps(ledger: SqlLedger) -> None:
    # Three leads share each minute: the id breaks the tie.
    records = [make_record(n, at=DAY + timedelta(minutes=n // 3)) for n in range(40)]
    records += [
        make_record(100 + n, seller="other", at=DAY + timedelta(minutes=n)) for n in range(9)
    ]
    await ledger.file(records, [])
    newest_first = sorted(records, key=lambda r: (r.outcome.received_at, r.id), reverse=True)

    assert await every_id(ledger, LeadQuery(limit=6)) == [r.id for r in newest_first]
    acme = await every_id(ledger, LeadQuery(Filters(seller="acme"), limit=4))
    assert acme == [r.id for r in newest_first if r.outcome.seller_id == "acme"]
    window = LeadQuery(start=DAY + timedelta(minutes=3), end=DAY + timedelta(minutes=7), limit=2)
    assert await every_id(ledger, window) == [
        r.id for r in newest_first if "00:03" <= r.outcome.received_at[11:16] < "00:07"
    ]


async def test_a_lead_filed_between_two_pages_does_not_shift_them(ledger: SqlLedger) -> None:
    await ledger.file([make_record(n) for n in range(10)], [])
    first = await ledger.leads(LeadQuery(limit=4))
    await ledger.file([make_record(99), make_record(100, at=DAY - timedelta(hours=1))], [])
    second = await ledger.leads(LeadQuery(limit=4, cursor=first.next_cursor))
    assert [f.record.id for f in first.leads + second.leads] == [
        f"ld_{n:08d}" for n in (9, 8, 7, 6, 5, 4, 3, 2)
    ]


async def test_leads_are_filtered_and_test_leads_listed_only_when_asked(ledger: SqlLedger) -> None:
    records = [
        make_record(1, status="sold", buyer="b-one", state="CA", sub_id="x", vertical="mva"),
        make_record(2, status="sold", buyer="b-two", state="TX", sub_id="y", vertical="solar"),
        make_record(3, status="unsold", state="CA", sub_id="y", vertical="mva"),
        make_record(4, status="sold", test=True),
    ]
    await ledger.file(records, [])

    async def ids(**filters: object) -> list[str]:
        page = await ledger.leads(LeadQuery(Filters(**filters)))
        return sorted(filed.record.id[-1] for filed in page.leads)

    assert await ids() == ["1", "2", "3"]
    assert await ids(test=True) == ["1", "2", "3", "4"]
    assert await ids(status="sold") == ["1", "2"]
    assert await ids(buyer="b-two") == ["2"]
    assert await ids(state="CA") == ["1", "3"]
    assert await ids(sub_id="y", vertical="mva") == ["3"]
    assert await ids(seller="nobody") == []


async def test_q_finds_a_lead_by_id_lead_id_or_a_consumer_hash(ledger: SqlLedger) -> None:
    records = [
        make_record(1, lead_id="their-7", phone_hash="ph-a", email_hash="em-a"),
        make_record(2, lead_id="their-8", phone_hash="ph-b", email_hash="em-a"),
        make_record(3, lead_id="ld_00000001", phone_hash="ph-c", test=True),
    ]
    await ledger.file(records, [])

    async def found(q: str | None = None, hashes: tuple[str, ...] = ()) -> list[str]:
        page = await ledger.leads(LeadQuery(q=q, q_hashes=hashes))
        return sorted(filed.record.id for filed in page.leads)

    assert await found("ld_00000002") == ["ld_00000002"]
    assert await found("their-7") == ["ld_00000001"]
    # An id that is also a seller's lead_id finds both; a test lead is found when named.
    assert await found("ld_00000001") == ["ld_00000001", "ld_00000003"]
    assert await found(hashes=("em-a",)) == ["ld_00000001", "ld_00000002"]
    assert await found(hashes=("ph-b", "ph-c")) == ["ld_00000002", "ld_00000003"]
    assert await found("nothing", ("nothing",)) == []


@pytest.mark.parametrize(
    "made_up",
    [b"not json", b"[1]", b"{}", b'["2025", "ld_1"]', b'["2025-03-10T00:00:00", "ld_1"]'],
    ids=["not-json", "one-value", "object", "not-a-time", "naive-time"],
)
async def test_a_cursor_the_ledger_did_not_make_is_a_bad_request(
    ledger: SqlLedger, made_up: bytes
) -> None:
    for cursor in (base64.urlsafe_b64encode(made_up).decode(), "not base64 at all!"):
        with pytest.raises(BadRequest):
            await ledger.leads(LeadQuery(cursor=cursor))
        with pytest.raises(BadRequest):
            await ledger.audit(AuditQuery(cursor=cursor))


async def test_the_audit_is_paged_newest_first_and_filtered(ledger: SqlLedger) -> None:
    entries = [make_audit(n, operator="alice" if n % 2 else "bob") for n in range(11)]
    entries.append(make_audit(50, action="forget", target=None))
    await ledger.file([], entries)
    pages, cursor = [], None
    while True:
        page = await ledger.audit(AuditQuery(limit=5, cursor=cursor))
        pages.append([entry.id for entry in page.entries])
        if (cursor := page.next_cursor) is None:
            break
    newest_first = sorted(entries, key=lambda entry: entry.at, reverse=True)
    assert [entry_id for page in pages for entry_id in page] == [e.id for e in newest_first]
    assert [len(p) for p in pages] == [5, 5, 2]
    bobs = await ledger.audit(AuditQuery(operator="bob"))
    assert [e.id for e in bobs.entries] == [f"au_{n:08d}" for n in (10, 8, 6, 4, 2, 0)]
    forgets = await ledger.audit(AuditQuery(action="forget"))
    assert forgets.entries == [entries[-1]]


# erasure and retention --------------------------------------------------------------------------


async def test_forget_erases_pii_everywhere_in_the_ledger_and_on_the_way_in(
    ledger: SqlLedger,
) -> None:
    mine = [
        make_record(1, phone_hash="ph-me", email_hash="em-me"),
        make_record(2, phone_hash="ph-other", email_hash="em-me"),
    ]
    theirs = make_record(3, phone_hash="ph-them")
    await ledger.file([*mine, theirs], [])
    forgotten_at = DAY + timedelta(hours=2)

    erased = await ledger.forget(["ph-me", "em-me"], forgotten_at)

    assert erased.lead_ids == ["ld_00000001", "ld_00000002"]
    for record in mine:
        filed = await ledger.lead(record.id)
        assert filed is not None
        assert filed.record.pii == {} and filed.pii_erased_at == "2025-03-10T02:00:00.000Z"
        assert filed.record.facts == record.facts  # the facts stay
    kept = await ledger.lead(theirs.id)
    assert kept is not None and kept.record.pii == theirs.pii
    # Still in the outbox when the operator said forget: filed erased.
    on_its_way = make_record(4, phone_hash="ph-me", at=DAY + timedelta(hours=1))
    # Received after the forget: a new submission, which keeps its PII.
    later = make_record(5, email_hash="em-me", at=DAY + timedelta(hours=3))
    await ledger.file([on_its_way, later], [])
    filed_4, filed_5 = await ledger.lead(on_its_way.id), await ledger.lead(later.id)
    assert filed_4 is not None and filed_4.record.pii == {}
    assert filed_4.pii_erased_at == "2025-03-10T02:00:00.000Z"
    assert filed_5 is not None and filed_5.record.pii == later.pii
    again = await ledger.forget(["ph-me"], forgotten_at)
    assert again.lead_ids == ["ld_00000001", "ld_00000004"]  # erased before: still named


async def test_a_lead_filed_while_another_router_forgets_its_consumer_is_filed_erased(
    postgres_url: str,
) -> None:
    ledger, other_router = SqlLedger.open(postgres_url), SqlLedger.open(postgres_url)
    await ledger.migrate()
    try:
        with other_router.database.engine.connect() as forgetting:
            forgetting.begin()
            erasure.forget(forgetting, ["ph-me"], DAY + timedelta(hours=1))  # not committed yet
            filing = asyncio.create_task(ledger.file([make_record(1, phone_hash="ph-me")], []))
            await asyncio.sleep(0.5)
            assert not filing.done()  # it waits for the forget
            forgetting.commit()
        await filing
        filed = await ledger.lead("ld_00000001")
        assert filed is not None and filed.record.pii == {}
    finally:
        await ledger.close()
        await other_router.close()


async def test_purge_erases_old_pii_then_deletes_old_leads(ledger: SqlLedger) -> None:
    now = DAY + timedelta(days=100)
    ages_days = {1: 99.5, 2: 60, 3: 30, 4: 10}
    records = [make_record(n, at=now - timedelta(days=age)) for n, age in ages_days.items()]
    await ledger.file(records, [make_audit(1, at=now - timedelta(days=99)), make_audit(2, at=now)])

    assert await ledger.purge(now, pii_days=20, ledger_days=45) == (1, 2)

    assert await ledger.lead(records[0].id) is None
    assert await ledger.lead(records[1].id) is None
    aged, young = await ledger.lead(records[2].id), await ledger.lead(records[3].id)
    assert aged is not None and aged.record.pii == {} and aged.record.facts == records[2].facts
    assert young is not None and young.record.pii == records[3].pii
    assert [e.id for e in (await ledger.audit(AuditQuery())).entries] == ["au_00000002"]
    whole = await ledger.report(ReportQuery("day", now - timedelta(days=120), now))
    assert [row.leads for row in whole.rows] == [1, 1]  # the deleted leads' hours are gone too
    assert await ledger.sold(None, now - timedelta(days=120), now) == [aged, young]
    assert await ledger.purge(now, pii_days=20, ledger_days=45) == (0, 0)
