"""The ledger's side of a buyer's own API on each backend (SQLite file, in memory, PostgreSQL):
each buyer's return rate for expected-value ranking (approved returns over its sales, test leads
aside), and retention taking a buyer's rows with their lead. The rules and the money through
HTTP are tests/e2e/test_buyer_api.py's."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from pingtree.config.models.portal import ReturnRules
from pingtree.ledger.buyer_leads import BuyerLeadQuery
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
