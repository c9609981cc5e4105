"""Reports against a hand count: a generated day and a half of leads with known outcomes (real
Outcome and TraceEvent objects: pings bid, decline, time out or fail; fixed-price offers; posts
accepted, rejected, unknown or skipped), filed into an SQLite file and a real PostgreSQL, then
every `by`, with filters, in UTC and in other zones, compared field by field with figures counted
here with plain loops over the records.

The hand count follows the definitions reports.py documents, not its code: a lead is in a report
when its hour overlaps the range; a buyer's row counts the leads it was called for; the ping
percentiles are nearest-rank, reported as the upper bound of the histogram bucket they fall in
(schema.PING_BUCKETS_MS: the resolution the report states).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pingtree.core.outcome import Outcome, Status, TraceEvent
from pingtree.core.record import LeadRecord
from pingtree.ledger.base import REPORT_BY, Filters, ReportQuery, ReportRow
from pingtree.ledger.schema import PING_BUCKETS_MS
from pingtree.ledger.sql import SqlLedger
from tests.ledger.records import iso, lead_number

# Across New York's spring change of clocks (2025-03-09, 07:00 UTC): a 23-hour local day.
START = datetime(2025, 3, 8, 20, tzinfo=UTC)
HOURS = 34
PING_BUYERS = ("b-ace", "b-bolt", "b-cove", "b-dune")
FIXED_BUYER = "b-fixed"  # a delivery buyer at a fixed price: an offer, no ping, no wire post
SELLERS = ("acme", "bravo", "cedar")
SUB_IDS = ("s1", "s2", "s3", None)
STATES = ("CA", "TX", "FL", None)


# The day of leads -------------------------------------------------------------------------------


def _duration(rng: random.Random) -> int:
    # Now and then exactly on a bucket's bound: the bound belongs to its bucket.
    return rng.choice(PING_BUCKETS_MS) if rng.random() < 0.2 else rng.randint(3, 2600)


def _pings(rng: random.Random, at_ms: int) -> tuple[list[TraceEvent], list[tuple[Decimal, str]]]:
    events, bids = [], []
    for buyer in rng.sample(PING_BUYERS, rng.randint(1, 4)):
        roll, ms = rng.random(), _duration(rng)
        if roll < 0.45:
            price = Decimal(rng.randint(500, 6000)).scaleb(-2)
            events.append(TraceEvent(at_ms, buyer, "ping", "bid", duration_ms=ms, bid=price))
            bids.append((price, buyer))
        elif roll < 0.55:  # a bid under the floor: declined, with its price
            low = Decimal("0.50")
            events.append(
                TraceEvent(at_ms, buyer, "ping", "declined", "floor", bid=low, duration_ms=ms)
            )
        elif roll < 0.7:
            events.append(TraceEvent(at_ms, buyer, "ping", "declined", "no_bid", duration_ms=ms))
        elif roll < 0.8:
            events.append(TraceEvent(at_ms, buyer, "ping", "failed", "timeout", duration_ms=ms))
        elif roll < 0.85:  # cut off when the ping phase closed: no duration of its own
            events.append(TraceEvent(at_ms, buyer, "ping", "failed", "timeout"))
        elif roll < 0.92:
            events.append(TraceEvent(at_ms, buyer, "ping", "failed", "http_error", duration_ms=ms))
        else:  # never sent: the buyer's mapping failed for this lead
            events.append(TraceEvent(at_ms, buyer, "ping", "skipped", "mapping"))
    return events, bids


def _sell(
    rng: random.Random, bids: list[tuple[Decimal, str]]
) -> tuple[list[TraceEvent], Status, str | None, Decimal | None]:
    """Post to the bids, best first, until one takes the lead or leaves it pending."""
    events: list[TraceEvent] = []
    for price, buyer in sorted(bids, reverse=True):
        roll = rng.random()
        if buyer == FIXED_BUYER:
            events.append(TraceEvent(900, buyer, "post", "accepted", bid=price))
            return events, "sold", buyer, price
        ms = _duration(rng)
        if roll < 0.08:
            events.append(TraceEvent(900, buyer, "post", "skipped", "cap:daily", bid=price))
        elif roll < 0.6:
            events.append(TraceEvent(900, buyer, "post", "accepted", bid=price, duration_ms=ms))
            return events, "sold", buyer, price
        elif roll < 0.9:
            reason = "post_rejected"
            events.append(
                TraceEvent(900, buyer, "post", "rejected", reason, bid=price, duration_ms=ms)
            )
        else:
            events.append(TraceEvent(900, buyer, "post", "unknown", "post_unknown", bid=price))
            return events, "pending", buyer, None
    return events, "unsold", None, None


def _lead(rng: random.Random, n: int) -> LeadRecord:
    received = START + timedelta(seconds=rng.randint(0, HOURS * 3600 - 1))
    trace: list[TraceEvent] = []
    status: Status = "rejected"
    buyer = price = payout = None
    if rng.random() > 0.06:  # else rejected: no consent, no buyer called
        if rng.random() < 0.2:
            trace.append(TraceEvent(1, "b-dune", "skip", "skipped", "cap:hourly"))
        pings, bids = _pings(rng, 5)
        trace += pings
        if rng.random() < 0.3:
            result = "bid" if rng.random() < 0.8 else "declined"
            trace.append(TraceEvent(6, FIXED_BUYER, "offer", result, bid=Decimal("12.00")))
            if result == "bid":
                bids.append((Decimal("12.00"), FIXED_BUYER))
        posts, status, buyer, price = _sell(rng, bids)
        trace += posts
        if price is not None:
            payout = (price * Decimal("0.8")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    outcome = Outcome(
        id=lead_number(n),
        seller_id=rng.choice(SELLERS),
        status=status,
        received_at=iso(received),
        auction_ms=rng.randint(50, 2900),
        reason=rng.choice(REJECTIONS)
        if status == "rejected"
        else {"unsold": "no_bids"}.get(status),
        buyer_id=buyer,
        price=price,
        payout=payout,
        vertical=rng.choice(("mva", "solar")),
        test=rng.random() < 0.05,
        trace=tuple(trace),
    )
    facts = {"sub_id": rng.choice(SUB_IDS), "state": rng.choice(STATES), "zip": "33101"}
    return LeadRecord(outcome, facts, {"phone": "+13055550100"})


# A business rule, or one of the compliance gates the reports count apart.
REJECTIONS = ("consent_required", "suppressed", "consent_evidence", "check:phone")
RECORDS = [_lead(random.Random(1500 + n), n) for n in range(900)]


# The hand count ---------------------------------------------------------------------------------


@dataclass
class Tally:
    leads: int = 0
    sold: int = 0
    revenue: Decimal = Decimal("0.00")
    payout: Decimal = Decimal("0.00")
    pings: int = 0
    bids: int = 0
    posts: int = 0
    accepted: int = 0
    durations: list[int] = field(default_factory=list)
    rejected: int = 0  # a lead's own count: a buyer's share of a lead never holds it
    gates: Counter[str] = field(default_factory=Counter)

    def count(self, record: LeadRecord, buyer: str | None) -> None:
        """One lead: all of it (buyer None), or the share of one buyer."""
        outcome = record.outcome
        self.leads += 1
        if outcome.status == "rejected" and buyer is None:
            self.rejected += 1
            self.gates[outcome.reason or ""] += 1
        if outcome.status == "sold" and buyer in (None, outcome.buyer_id):
            self.sold += 1
            self.revenue += outcome.price or 0
            self.payout += outcome.payout or 0
        for event in outcome.trace:
            if buyer is not None and event.buyer_id != buyer:
                continue
            asked_a_price = event.step == "offer" or (
                event.step == "ping" and event.result != "skipped"
            )
            if asked_a_price:
                self.pings += 1
                if event.result == "bid":
                    self.bids += 1
                if event.step == "ping" and event.duration_ms is not None:
                    self.durations.append(event.duration_ms)
            if event.step == "post" and event.result != "skipped":
                self.posts += 1
                if event.result == "accepted":
                    self.accepted += 1


def buyers_called(record: LeadRecord) -> set[str]:
    called = set()
    for event in record.outcome.trace:
        if event.step == "offer" or (event.step in ("ping", "post") and event.result != "skipped"):
            called.add(event.buyer_id)
    return called


def in_range(record: LeadRecord, start: datetime, end: datetime) -> bool:
    received = datetime.fromisoformat(record.outcome.received_at)
    hour = received.replace(minute=0, second=0, microsecond=0)
    return hour < end and hour + timedelta(hours=1) > start


def passes(record: LeadRecord, filters: Filters) -> bool:
    outcome, facts = record.outcome, record.facts
    if outcome.test and not filters.test:
        return False
    checks = [
        (filters.seller, outcome.seller_id),
        (filters.vertical, outcome.vertical),
        (filters.sub_id, facts["sub_id"] or ""),
        (filters.state, facts["state"] or ""),
    ]
    return all(wanted is None or wanted == value for wanted, value in checks)


def key_of(record: LeadRecord, by: str, tz: ZoneInfo) -> str:
    outcome, facts = record.outcome, record.facts
    hour = datetime.fromisoformat(outcome.received_at).replace(minute=0, second=0, microsecond=0)
    local = hour.astimezone(tz)
    keys = {
        "seller": outcome.seller_id,
        "vertical": outcome.vertical or "",
        "sub_id": facts["sub_id"] or "",
        "state": facts["state"] or "",
        "hour": local.isoformat(timespec="minutes"),
        "day": local.date().isoformat(),
    }
    return keys[by]


def hand_count(query: ReportQuery) -> tuple[dict[str, Tally], Tally]:
    rows: dict[str, Tally] = {}
    total = Tally()
    tz = ZoneInfo(query.tz)
    wanted_buyer = query.filters.buyer
    for record in RECORDS:
        if not in_range(record, query.start, query.end) or not passes(record, query.filters):
            continue
        if wanted_buyer is None:
            total.count(record, None)
        shares = buyers_called(record) | ({record.outcome.buyer_id} - {None})
        if query.by == "buyer" or wanted_buyer is not None:
            for buyer in sorted(shares):
                if wanted_buyer is not None and buyer != wanted_buyer:
                    continue
                key = buyer if query.by == "buyer" else key_of(record, query.by, tz)
                rows.setdefault(key, Tally()).count(record, buyer)
                if wanted_buyer is not None:
                    total.count(record, buyer)
        else:
            rows.setdefault(key_of(record, query.by, tz), Tally()).count(record, None)
    return rows, total


def rate(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / whole).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def percentile(durations: list[int], q: float) -> int | None:
    """The nearest-rank percentile, as the report gives it: its bucket's upper bound."""
    if not durations:
        return None
    exact = sorted(durations)[math.ceil(q * len(durations)) - 1]
    bound = next((b for b in PING_BUCKETS_MS if exact <= b), PING_BUCKETS_MS[-1])
    below = max((b for b in PING_BUCKETS_MS if b < bound), default=0)
    assert below < exact <= bound or exact > PING_BUCKETS_MS[-1]  # the stated resolution
    return bound


def expected(tally: Tally) -> dict[str, Any]:
    per_lead = None
    if tally.leads:
        per_lead = (tally.revenue / tally.leads).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return {
        "leads": tally.leads,
        "sold": tally.sold,
        "sold_pct": rate(tally.sold, tally.leads),
        "revenue": tally.revenue,
        "payout": tally.payout,
        "margin": tally.revenue - tally.payout,
        "revenue_per_lead": per_lead,
        "pings": tally.pings,
        "bids": tally.bids,
        "bid_rate": rate(tally.bids, tally.pings),
        "wins": tally.sold,
        "win_rate": rate(tally.sold, tally.bids),
        "post_accept_rate": rate(tally.accepted, tally.posts),
        "returns": 0,
        "returns_amount": Decimal("0.00"),
        "net_revenue": tally.revenue,
        "return_rate": rate(0, tally.sold),
        "chargebacks_amount": Decimal("0.00"),
        "contacted": 0,
        "converted": 0,
        "conversion_rate": rate(0, tally.sold),
        "conversion_value": Decimal("0.00"),
        "rejected": tally.rejected,
        "suppressed": tally.gates["suppressed"],
        "consent_failed": tally.gates["consent_evidence"],
        "check_failed": tally.gates["check:phone"],
        "ping_p50_ms": percentile(tally.durations, 0.50),
        "ping_p95_ms": percentile(tally.durations, 0.95),
    }


def as_figures(row: ReportRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in ReportRow.__dataclass_fields__ if name != "key"}


# The ledgers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def filed_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database holding RECORDS, filed in batches as the writer would (one module each)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('reports')}/ledger.db"
    else:
        url = request.getfixturevalue("postgres_server").create_database()

    async def file_all() -> None:
        ledger = SqlLedger.open(url)
        await ledger.migrate()
        for first in range(0, len(RECORDS), 128):
            await ledger.file(RECORDS[first : first + 128], [])
        await ledger.file(RECORDS[::7], [])  # a writer's retry files some again: no change
        await ledger.close()

    asyncio.run(file_all())
    return url


@pytest.fixture
async def ledger(filed_url: str) -> AsyncIterator[SqlLedger]:
    ledger = SqlLedger.open(filed_url)
    try:
        yield ledger
    finally:
        await ledger.close()


async def assert_report_is_the_hand_count(ledger: SqlLedger, query: ReportQuery) -> None:
    report = await ledger.report(query)
    rows, total = hand_count(query)
    in_time = query.by in ("hour", "day")
    assert [row.key for row in report.rows] == sorted(
        rows, key=datetime.fromisoformat if in_time else None
    )
    for row in report.rows:
        assert as_figures(row) == expected(rows[row.key]), row.key
    assert as_figures(report.totals) == expected(total)


FILTERS = {
    "none": Filters(),
    "seller": Filters(seller="acme"),
    "buyer": Filters(buyer="b-ace"),
    "fixed-buyer": Filters(buyer=FIXED_BUYER),
    "vertical": Filters(vertical="solar"),
    "sub_id": Filters(sub_id="s2"),
    "no-sub_id": Filters(sub_id=""),
    "state": Filters(state="CA"),
    "seller+state": Filters(seller="bravo", state="TX"),
    "buyer+sub_id+state": Filters(buyer="b-bolt", sub_id="s1", state="FL"),
    "with-test-leads": Filters(test=True),
}


@pytest.mark.parametrize("filters", FILTERS.values(), ids=FILTERS.keys())
@pytest.mark.parametrize("by", REPORT_BY)
async def test_a_report_is_the_hand_count(ledger: SqlLedger, by: str, filters: Filters) -> None:
    end = START + timedelta(hours=HOURS)
    await assert_report_is_the_hand_count(ledger, ReportQuery(by, START, end, filters=filters))


@pytest.mark.parametrize("tz", ["America/New_York", "Asia/Kolkata", "Pacific/Chatham"])
@pytest.mark.parametrize("by", ["hour", "day", "buyer"])
async def test_hours_and_days_are_the_zones(ledger: SqlLedger, by: str, tz: str) -> None:
    query = ReportQuery(by, START, START + timedelta(hours=HOURS), tz=tz)
    await assert_report_is_the_hand_count(ledger, query)


async def test_new_york_has_a_23_hour_day_in_march(ledger: SqlLedger) -> None:
    query = ReportQuery("hour", START, START + timedelta(hours=HOURS), tz="America/New_York")
    keys = [row.key for row in (await ledger.report(query)).rows]
    assert "2025-03-09T01:00-05:00" in keys and "2025-03-09T03:00-04:00" in keys
    assert not any(key.startswith("2025-03-09T02:") for key in keys)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (START + timedelta(hours=3, minutes=30), START + timedelta(hours=9, minutes=10)),
        (START + timedelta(hours=5), START + timedelta(hours=5, seconds=1)),
        (START - timedelta(days=3), START - timedelta(days=2)),
    ],
    ids=["mid-hour-edges", "one-second", "before-any-lead"],
)
@pytest.mark.parametrize("by", ["day", "seller", "buyer"])
async def test_a_report_covers_the_whole_hours_its_range_touches(
    ledger: SqlLedger, by: str, start: datetime, end: datetime
) -> None:
    await assert_report_is_the_hand_count(ledger, ReportQuery(by, start, end))


def test_the_generated_day_has_what_the_figures_are_about() -> None:
    """Enough of each outcome that a wrong definition shows in the figures."""
    statuses = [r.outcome.status for r in RECORDS]
    results = {(e.step, e.result) for r in RECORDS for e in r.outcome.trace}
    assert min(statuses.count(s) for s in ("sold", "unsold", "rejected", "pending")) >= 20
    assert {
        ("ping", "bid"),
        ("ping", "declined"),
        ("ping", "failed"),
        ("ping", "skipped"),
        ("offer", "bid"),
        ("offer", "declined"),
        ("post", "accepted"),
        ("post", "rejected"),
        ("post", "unknown"),
        ("post", "skipped"),
        ("skip", "skipped"),
    } <= results
    assert any(r.outcome.test for r in RECORDS)
