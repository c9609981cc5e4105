"""The ledger's side of a buyer's own API on each backend (SQLite file, in memory, PostgreSQL):
each buyer's return rate for expected-value ranking (approved returns over its sales, test leads
aside), and retention taking a buyer's rows with their lead. The rules and the money through
HTTP are tests/e2e/test_buyer_api.py's."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from pingtree.config.models.portal import ReturnRules
from pingtree.ledger.base import ReportQuery
from pingtree.ledger.buyer_leads import BuyerLeadQuery
from pingtree.ledger.buyer_stats import buyer_stats
from pingtree.ledger.portal import Portal
from pingtree.ledger.returns import ReturnClaim
from pingtree.ledger.sql import SqlLedger
from tests.ledger.records import DAY, lead_number, make_record

RULES = ReturnRules(window_days=365, reasons=("fraud",), auto_approve=())


def claim(n: int, buyer: str, now_days: float = 1) -> ReturnClaim:
    return ReturnClaim(
        buyer, lead_number(n), "fraud", None, RULES, frozenset(), DAY + timedelta(days=now_days)
    )


async def test_return_rates_for_ranking_count_approved_returns_over_sales(
    ledger: SqlLedger,
) -> None:
    records = [make_record(n, buyer="b-one") for n in range(1, 5)]
    records += [make_record(n, buyer="b-two") for n in range(5, 7)]
    records += [make_record(7, buyer="b-one", test=True), make_record(8, status="unsold")]
    await ledger.file(records, [])
    portal = Portal(ledger.database)
    approved = await portal.request_return(claim(1, "b-one"))
    await portal.decide(approved["id"], True, "alice", frozenset(), DAY + timedelta(days=1))
    denied = await portal.request_return(claim(2, "b-one"))
    await portal.decide(denied["id"], False, "alice", frozenset(), DAY + timedelta(days=1))
    await portal.request_return(claim(3, "b-one"))  # pending: not (yet) a return for ranking
    await portal.request_return(claim(7, "b-one"))  # a test lead: counts nowhere
    assert await portal.return_rates(DAY - timedelta(days=1)) == {
        "b-one": Decimal(1) / Decimal(4),
        "b-two": Decimal(0),
    }
    assert await portal.return_rates(DAY + timedelta(days=2)) == {}  # no sale since then


async def test_retention_takes_a_buyers_rows_with_their_lead(ledger: SqlLedger) -> None:
    now = DAY + timedelta(days=100)
    old, young = (
        make_record(1, at=now - timedelta(days=60)),
        make_record(2, at=now - timedelta(days=5)),
    )
    await ledger.file([old, young], [])
    portal = Portal(ledger.database)
    for n, at in ((1, now - timedelta(days=59)), (2, now - timedelta(days=4))):
        filed = await portal.request_return(
            ReturnClaim("b-one", lead_number(n), "fraud", "a note", RULES, frozenset(), at)
        )
        await portal.decide(filed["id"], True, "alice", frozenset({"acme"}), at)
        await portal.acknowledge("b-one", [lead_number(n)], at)
        await portal.feedback("b-one", lead_number(n), "contacted", None, at)
    assert await ledger.purge(now, pii_days=30, ledger_days=45) == (0, 1)
    found, _ = await portal.returns(None, None, None, 50)
    assert [(r["lead_id"], r["note"]) for r in found] == [(lead_number(2), "a note")]
    everything = await portal.leads(BuyerLeadQuery("b-one"))
    assert [filed.record.id for filed, _ in everything[0]] == [lead_number(2)]
    stats = await portal.stats("b-one", now, 400)
    assert (stats["feedback"]["contacted"], stats["returns"]["approved"]) == (1, 1)
    assert await ledger.purge(now + timedelta(days=26), pii_days=30, ledger_days=45) == (1, 0)
    (kept,) = (await portal.returns(None, None, None, 50))[0]
    assert kept["note"] is None  # gone with the lead's PII


async def test_reports_after_returns_and_chargebacks_equal_a_hand_count(ledger: SqlLedger) -> None:
    """b-one buys 3 leads of acme (chargeback) and 2 of zeta at 20.00, payout 15.00; one of each
    seller's is returned and approved, one of acme's denied."""
    records = [make_record(n, seller="acme") for n in range(1, 4)]
    records += [make_record(n, seller="zeta") for n in range(4, 6)]
    await ledger.file(records, [])
    portal = Portal(ledger.database)
    decided = DAY + timedelta(days=1)
    for n, approve in ((1, True), (2, False), (4, True)):
        filed = await portal.request_return(claim(n, "b-one"))
        await portal.decide(filed["id"], approve, "alice", frozenset({"acme"}), decided)
    span = (DAY - timedelta(days=1), DAY + timedelta(days=1))
    by_seller = await ledger.report(ReportQuery("seller", *span))
    names = ("revenue", "payout", "returns", "returns_amount", "net_revenue")
    names += ("chargebacks_amount", "return_rate")
    figures = {row.key: [str(getattr(row, name)) for name in names] for row in by_seller.rows}
    assert figures == {
        "acme": ["60.00", "45.00", "1", "20.00", "40.00", "15.00", "0.3333"],  # 3 x 20, 3 x 15
        "zeta": ["40.00", "30.00", "1", "20.00", "20.00", "0.00", "0.5000"],  # no chargeback
    }
    money = Decimal
    rows = (await ledger.report(ReportQuery("buyer", *span))).rows
    (buyer,) = [row for row in rows if row.key == "b-one"]
    assert (buyer.returns_amount, buyer.net_revenue, buyer.chargebacks_amount) == (
        money("40.00"),
        money("60.00"),
        money("15.00"),
    )


async def test_returns_asked_at_once_never_pass_the_cap_together(ledger: SqlLedger) -> None:
    """Twelve sales, max_pct 50: of twelve returns asked at the same moment (on PostgreSQL, on
    the ledger's connections at once), six pass and six are over the cap."""
    await ledger.file([make_record(n) for n in range(1, 13)], [])
    portal = Portal(ledger.database)
    capped = ReturnRules(window_days=365, max_pct=50, reasons=("fraud",))
    now = DAY + timedelta(days=1)
    claims = [
        ReturnClaim("b-one", lead_number(n), "fraud", None, capped, frozenset(), now)
        for n in range(1, 13)
    ]
    answers = await asyncio.gather(
        *(portal.request_return(c) for c in claims), return_exceptions=True
    )
    kinds = sorted(type(answer).__name__ for answer in answers)
    assert kinds == ["ReturnRateExceeded"] * 6 + ["dict"] * 6


async def test_expected_value_ranking_sees_approved_returns(ledger: SqlLedger) -> None:
    """The ranking's figures (ledger/buyer_stats.py) read the rollups an approval adds to."""
    await ledger.file([make_record(n) for n in range(1, 5)], [])
    portal = Portal(ledger.database)
    filed = await portal.request_return(claim(1, "b-one"))
    now = DAY + timedelta(days=1)
    assert (await buyer_stats(ledger, now, 30))["b-one"].return_rate == Decimal("0")
    await portal.decide(filed["id"], True, "alice", frozenset(), now)
    figures = (await buyer_stats(ledger, now, 30))["b-one"]
    assert (figures.sales, figures.return_rate) == (4, Decimal("0.25"))
