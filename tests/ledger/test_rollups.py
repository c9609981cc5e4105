"""The rollups' pure parts as tables: which grain a report reads, what a trace event counts, the
ping-time buckets and quantiles, a report's hours."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import combinations

import pytest

from pingtree.core.outcome import Outcome, TraceEvent
from pingtree.ledger.reports import hour_range, ping_quantile
from pingtree.ledger.rollups import GRAINS, grain_for, lead_counts, ping_bucket
from pingtree.ledger.schema import PING_BUCKET_COLUMNS, ROLLUP_COUNTS, ROLLUP_DIMENSIONS

FILTERED = ("buyer_id", "seller_id", "vertical", "sub_id", "state")


@pytest.mark.parametrize(
    ("needed", "grain"),
    [
        ((), 1),  # by hour or day, unfiltered: the smallest
        (("vertical",), 1),
        (("sub_id",), 2),
        (("state",), 3),
        (("seller_id",), 4),
        (("vertical", "state"), 5),  # by state for one vertical
        (("seller_id", "sub_id"), 6),  # by sub_id for one seller
        (("seller_id", "state"), 7),
        (("buyer_id",), 11),  # by buyer, or a buyer's day
        (("buyer_id", "sub_id"), 12),
        (("buyer_id", "state"), 13),  # where a buyer's leads come from
        (("buyer_id", "seller_id"), 14),  # a seller's leads, buyer by buyer
        (("buyer_id", "sub_id", "state"), 15),
    ],
)
def test_a_report_reads_the_smallest_grain_holding_what_it_needs(
    needed: tuple[str, ...], grain: int
) -> None:
    assert grain_for(needed).number == grain


def test_every_by_with_every_set_of_filters_has_a_grain() -> None:
    for size in range(len(FILTERED) + 1):
        for needed in combinations(FILTERED, size):
            chosen = grain_for(needed)
            assert set(needed) <= chosen.dimensions
            assert chosen.per_buyer == ("buyer_id" in needed)


def test_grains_are_numbered_once_and_name_rollup_columns() -> None:
    assert len({grain.number for grain in GRAINS}) == len(GRAINS)
    assert all(grain.dimensions <= set(ROLLUP_DIMENSIONS) for grain in GRAINS)


def _counted(*events: TraceEvent, status: str = "unsold") -> dict[str, int]:
    outcome = Outcome(
        id="ld_1",
        seller_id="acme",
        status=status,  # type: ignore[arg-type]
        received_at="2025-03-10T00:00:00.000Z",
        auction_ms=100,
        buyer_id="b" if status == "sold" else None,
        price=Decimal("20.00") if status == "sold" else None,
        payout=Decimal("15.50") if status == "sold" else None,
        trace=events,
    )
    lead, buyers = lead_counts(outcome)
    counts = {name: value for name, value in zip(ROLLUP_COUNTS, lead, strict=True) if value}
    counts["buyers"] = len(buyers)
    return counts


@pytest.mark.parametrize(
    ("story", "events", "counted"),
    [
        (
            "a ping that bid in 120 ms: a ping, a bid, the 125 ms bucket",
            [TraceEvent(1, "b", "ping", "bid", duration_ms=120, bid=Decimal("9"))],
            {"pings": 1, "bids": 1, "ping_le_125": 1},
        ),
        (
            "a ping declined in 10 ms: a ping in the first bucket, no bid",
            [TraceEvent(1, "b", "ping", "declined", "no_bid", duration_ms=10)],
            {"pings": 1, "ping_le_10": 1},
        ),
        (
            "a bid under the floor: a ping, declined, not a bid",
            [TraceEvent(1, "b", "ping", "declined", "floor", duration_ms=40, bid=Decimal("1"))],
            {"pings": 1, "ping_le_40": 1},
        ),
        (
            "a ping cut off when the phase closed: a ping with no time of its own",
            [TraceEvent(1, "b", "ping", "failed", "timeout")],
            {"pings": 1},
        ),
        (
            "a ping that timed out at 12 s: the slowest bucket",
            [TraceEvent(1, "b", "ping", "failed", "timeout", duration_ms=12_000)],
            {"pings": 1, "ping_slower": 1},
        ),
        (
            "a ping whose mapping failed never went out: no call, no buyer",
            [TraceEvent(1, "b", "ping", "skipped", "mapping")],
            {"buyers": 0},
        ),
        (
            "a skipped buyer (cap, pause, breaker) was not called",
            [TraceEvent(1, "b", "skip", "skipped", "cap:daily")],
            {"buyers": 0},
        ),
        (
            "a fixed-price offer asks for no price: counted as a ping and a bid, with no time",
            [TraceEvent(1, "b", "offer", "bid", bid=Decimal("12"))],
            {"pings": 1, "bids": 1},
        ),
        (
            "a post rejected then one accepted: two posts, one accepted",
            [
                TraceEvent(5, "a", "post", "rejected", "post_rejected", duration_ms=90),
                TraceEvent(6, "b", "post", "accepted", duration_ms=80),
            ],
            {"posts": 2, "posts_accepted": 1, "buyers": 2},
        ),
        (
            "a post skipped for a cap never went out",
            [TraceEvent(5, "b", "post", "skipped", "cap:hourly")],
            {"buyers": 0},
        ),
        (
            "a check before the auction (passed, rejected or failed) is no buyer's call",
            [
                TraceEvent(30, "phone", "check", "passed", duration_ms=29),
                TraceEvent(31, "tf", "check", "rejected", "check:tf", duration_ms=30),
                TraceEvent(300, "hang", "check", "failed", "timeout", duration_ms=300),
                TraceEvent(0, "consent", "check", "rejected", "consent_evidence"),
            ],
            {"buyers": 0},
        ),
        (
            "a post whose answer was lost: a post, not accepted",
            [TraceEvent(5, "b", "post", "unknown", "post_unknown")],
            {"posts": 1, "buyers": 1},
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_what_a_trace_event_counts(
    story: str, events: list[TraceEvent], counted: dict[str, int]
) -> None:
    del story
    assert _counted(*events) == {"leads": 1, "buyers": 1, **counted}


def test_a_sale_counts_once_for_the_lead_and_for_its_buyer() -> None:
    bid = TraceEvent(1, "b", "ping", "bid", duration_ms=60, bid=Decimal("20"))
    post = TraceEvent(2, "b", "post", "accepted", duration_ms=70, bid=Decimal("20"))
    outcome = Outcome(
        "ld_1", "acme", "sold", "2025-03-10T00:00:00.000Z", 100, buyer_id="b",
        price=Decimal("20.00"), payout=Decimal("15.50"), trace=(bid, post),
    )  # fmt: skip
    lead, buyers = lead_counts(outcome)
    assert lead == buyers["b"]
    counted = dict(zip(ROLLUP_COUNTS, lead, strict=True))
    assert (counted["sold"], counted["wins"]) == (1, 1)
    assert (counted["revenue_cents"], counted["payout_cents"]) == (2000, 1550)


@pytest.mark.parametrize(
    ("duration_ms", "column"),
    [
        (0, "ping_le_10"),
        (10, "ping_le_10"),  # a bound belongs to its bucket
        (11, "ping_le_20"),
        (125, "ping_le_125"),
        (126, "ping_le_150"),
        (10_000, "ping_le_10000"),
        (10_001, "ping_slower"),
    ],
)
def test_a_ping_time_falls_in_the_bucket_of_the_least_bound_it_does_not_pass(
    duration_ms: int, column: str
) -> None:
    assert ROLLUP_COUNTS[ping_bucket(duration_ms)] == column


def _buckets(**counts: int) -> list[int]:
    return [counts.get(column, 0) for column in PING_BUCKET_COLUMNS]


@pytest.mark.parametrize(
    ("buckets", "q", "reported"),
    [
        (_buckets(), 0.95, None),  # no ping with a time
        (_buckets(ping_le_100=1), 0.5, 100),
        (_buckets(ping_le_100=19, ping_le_500=1), 0.95, 100),  # the 19th of 20
        (_buckets(ping_le_100=18, ping_le_500=2), 0.95, 500),  # the 19th of 20
        (_buckets(ping_le_10=1, ping_le_20=1), 0.5, 10),  # nearest rank: the 1st of 2
        (_buckets(ping_slower=3), 0.5, 10_000),  # past the last bound: that bound
    ],
)
def test_a_ping_quantile_is_the_bound_of_its_nearest_ranks_bucket(
    buckets: list[int], q: float, reported: int | None
) -> None:
    assert ping_quantile(buckets, q) == reported


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        ("1970-01-01T00:00Z", "1970-01-02T00:00Z", (0, 24)),
        ("1970-01-01T10:30Z", "1970-01-01T12:00Z", (10, 12)),  # the 10:00 hour is touched
        ("1970-01-01T10:00Z", "1970-01-01T12:00:01Z", (10, 13)),  # and so is 12:00
        ("1970-01-01T00:00-05:00", "1970-01-02T00:00-05:00", (5, 29)),  # a day in New York
        ("1970-01-02T00:00+05:30", "1970-01-02T01:00+05:30", (18, 20)),  # India: two hours touched
    ],
)
def test_a_report_covers_the_hours_its_range_touches(
    start: str, end: str, hours: tuple[int, int]
) -> None:
    assert hour_range(_at(start), _at(end)) == hours
