"""The hourly rollups reports read (DESIGN §12: "a 30-day report costs the same at 10k or 10M
leads"): what one lead adds to them, and how a batch's additions are written.

**Rows.** One row per (grain, UTC hour, test, dimensions), holding counts and cent sums that only
ever add up: a lead filed adds its row's counts; a pending lead replaced by its final record
subtracts what it added and adds the final one's. A batch's additions are summed in Python first
(`Deltas`), then written with one upsert per row (`row = row + delta`), rows in key order so two
routers' batches on PostgreSQL lock them in the same order.

**Grains.** A report asks for rows by one dimension (buyer, seller, vertical, sub_id, state, or
the hour or day, which is the hour folded), narrowed by any of seller, buyer, vertical, sub_id
and state. Rolling up by all five at once answers every such question, but then a rollup has
nearly a row per lead and call (at 1M leads a month, ~1M rows of leads and ~8M of buyer calls),
and a report over it costs as much as reading the leads. So each lead is rolled up at several
grains, each a set of dimensions, and a report reads the smallest grain holding every dimension
it needs (`grain_for`). The lead grains hold a lead's counts; the buyer grains hold, per buyer
the lead called, that buyer's share (its calls, and the sale if it bought).

    grain  dimensions (and hour, test)          what reads it
    1      vertical                             by hour, day, vertical
    2      sub_id                               by sub_id
    3      state                                by state
    4      seller, vertical                     by seller; a seller's
    5      vertical, state                      a vertical's states
    6      seller, vertical, sub_id             a seller's sub_ids
    7      seller, vertical, sub_id, state      sub_id or seller with state
    11     buyer, vertical                      by buyer; a buyer's
    12     buyer, vertical, sub_id              a buyer's sub_ids
    13     buyer, vertical, state               a buyer's states
    14     buyer, seller, vertical              a buyer's sellers
    15     buyer, seller, vertical, sub_id, state   the rest with a buyer

Vertical is in most grains: there are few, a seller or a buyer mostly has one, so it costs little
and spares grains. Grains 7 and 15 make every combination answerable; the others make what is
asked often cheap. A lead costs a row per lead grain and five per buyer called, fewer once a
batch's leads share keys (an hour's leads of one seller, vertical and state share most).

What it costs (benchmarks/ledger_report.py; docs/benchmarks.md): on a market of 1M leads in 30
days (20 sellers, 3 verticals, 5 sub_ids a seller, 51 states, 24 buyers, 8 pinged a lead) the
grains hold 2k, 3.6k, 35k, 19k, 94k, 90k, 720k (7); 17k, 86k, 755k, 156k and 5.8M (15) rows.
The rows of a grain grow with the hours and the keys an hour holds, not with the leads once an
hour holds every key; 7 and 15 hold nearly a row per lead and per call at such a volume. By buyer
(grain 11) answers in 56 ms on SQLite and 27 ms on PostgreSQL, by day (grain 1) in 22 and 20 ms;
by state for one buyer (13), the slowest asked, in ~200 ms.

**Measures** (rates in reports.py): `leads`; `sold`; `wins` (sales); `revenue_cents` and
`payout_cents` of the sales; `pings`: requests for a price, a ping that went out or a fixed-price
buyer's offer (no call: its price answers at once); `bids`: valid bids among them (result `bid`);
`posts` that went out (a delivery buyer's assignment included) and `posts_accepted`; `returns`,
`returns_cents` and `chargebacks_cents` (approved returns, added by ledger/returns.py); and a
histogram of ping durations (`ping_le_<ms>` … `ping_slower`, schema.PING_BUCKETS_MS: 10 ms wide
up to 50 ms, then at most a third wider than the bucket before, up to 10 s). A ping cut off when
its tier's ping phase closed has no duration of its own and is counted in `pings`, not in the
histogram.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from pingtree.core.outcome import Outcome
from pingtree.core.record import LeadRecord
from pingtree.ledger.bulk import add_counts
from pingtree.ledger.schema import (
    PING_BUCKET_COLUMNS,
    PING_BUCKETS_MS,
    ROLLUP_COUNTS,
    ROLLUP_DIMENSIONS,
    rollups,
    text_value,
    to_cents,
)


@dataclass(frozen=True, slots=True)
class Grain:
    number: int
    dimensions: frozenset[str]
    per_buyer: bool


def _grain(number: int, *dimensions: str) -> Grain:
    return Grain(number, frozenset(dimensions), "buyer_id" in dimensions)


# Smallest first: grain_for takes the first that holds what a report needs.
GRAINS: tuple[Grain, ...] = (
    _grain(1, "vertical"),
    _grain(2, "sub_id"),
    _grain(3, "state"),
    _grain(4, "seller_id", "vertical"),
    _grain(5, "vertical", "state"),
    _grain(6, "seller_id", "vertical", "sub_id"),
    _grain(7, "seller_id", "vertical", "sub_id", "state"),
    _grain(11, "buyer_id", "vertical"),
    _grain(12, "buyer_id", "vertical", "sub_id"),
    _grain(13, "buyer_id", "vertical", "state"),
    _grain(14, "buyer_id", "seller_id", "vertical"),
    _grain(15, "buyer_id", "seller_id", "vertical", "sub_id", "state"),
)
LEAD_GRAINS = tuple(grain for grain in GRAINS if not grain.per_buyer)
BUYER_GRAINS = tuple(grain for grain in GRAINS if grain.per_buyer)


def grain_for(dimensions: Iterable[str]) -> Grain:
    """The smallest grain holding `dimensions` (a report's `by` and its filters). Any dimension
    of a buyer makes it a buyer grain: a report narrowed to a buyer is that buyer's share."""
    needed = frozenset(dimensions)
    return next(grain for grain in GRAINS if needed <= grain.dimensions)


# A rollup row's key: (grain, hour, test, buyer_id, seller_id, vertical, sub_id, state).
RowKey = tuple[int, int, bool, str, str, str, str, str]
_N = len(ROLLUP_COUNTS)
_FIRST_BUCKET = ROLLUP_COUNTS.index(PING_BUCKET_COLUMNS[0])
_LEADS, _SOLD, _WINS = (ROLLUP_COUNTS.index(name) for name in ("leads", "sold", "wins"))
_REVENUE, _PAYOUT = ROLLUP_COUNTS.index("revenue_cents"), ROLLUP_COUNTS.index("payout_cents")
_PINGS, _BIDS = ROLLUP_COUNTS.index("pings"), ROLLUP_COUNTS.index("bids")
_POSTS, _ACCEPTED = ROLLUP_COUNTS.index("posts"), ROLLUP_COUNTS.index("posts_accepted")


_REJECTED = ROLLUP_COUNTS.index("rejected")
_GATES = {
    "suppressed": ROLLUP_COUNTS.index("suppressed"),
    "consent_evidence": ROLLUP_COUNTS.index("consent_failed"),
}
_CHECK_FAILED = ROLLUP_COUNTS.index("check_failed")


def _gate_count(reason: str | None) -> int | None:
    """The column of the compliance gate that rejected a lead for `reason`, if one did."""
    if reason is None:
        return None
    if reason.startswith("check:"):
        return _CHECK_FAILED
    return _GATES.get(reason)


def epoch_hour(moment: datetime) -> int:
    """Whole UTC hours since the epoch: the rollups' hour of an aware datetime."""
    return int(moment.timestamp() // 3600)


def ping_bucket(duration_ms: int) -> int:
    """The histogram column (offset in ROLLUP_COUNTS) a ping of `duration_ms` counts in."""
    return _FIRST_BUCKET + bisect.bisect_left(PING_BUCKETS_MS, duration_ms)


# Where a lead is rolled up: (hour, test, seller_id, vertical, sub_id, state), '' for none.
LeadKey = tuple[int, bool, str, str, str, str]


def lead_key(record: LeadRecord, received_at: datetime) -> LeadKey:
    outcome, facts = record.outcome, record.facts
    return (
        epoch_hour(received_at),
        outcome.test,
        text_value(outcome.seller_id) or "",
        text_value(outcome.vertical or facts.get("vertical")) or "",
        text_value(facts.get("sub_id")) or "",
        text_value(facts.get("state")) or "",
    )


def row_key(grain: Grain, lead: LeadKey, buyer_id: str = "") -> RowKey:
    """The key of `grain`'s row for a lead (and, for a buyer grain, one of its buyers)."""
    hour, test, seller_id, vertical, sub_id, state = lead
    kept = grain.dimensions
    return (
        grain.number,
        hour,
        test,
        buyer_id if "buyer_id" in kept else "",
        seller_id if "seller_id" in kept else "",
        vertical if "vertical" in kept else "",
        sub_id if "sub_id" in kept else "",
        state if "state" in kept else "",
    )


def _new_counts() -> list[int]:
    counts = [0] * _N
    counts[_LEADS] = 1
    return counts


def lead_counts(outcome: Outcome) -> tuple[list[int], dict[str, list[int]]]:
    """What one lead adds: to its lead grains, and to each buyer it called, that buyer's share
    (each a list of ROLLUP_COUNTS' values). A skip, or a ping or post that never went out,
    called no one. (One loop, no call per event: this runs for every lead filed.)"""
    lead = _new_counts()
    buyers: dict[str, list[int]] = {}
    for event in outcome.trace:
        step, result = event.step, event.result
        if result == "skipped" or step == "skip" or step == "check":  # a gate calls no buyer
            continue
        share = buyers.get(event.buyer_id)
        if share is None:
            share = buyers[event.buyer_id] = _new_counts()
        if step == "post":
            share[_POSTS] += 1
            lead[_POSTS] += 1
            if result == "accepted":
                share[_ACCEPTED] += 1
                lead[_ACCEPTED] += 1
            continue
        share[_PINGS] += 1  # a ping, or a fixed-price offer
        lead[_PINGS] += 1
        if result == "bid":
            share[_BIDS] += 1
            lead[_BIDS] += 1
        if step == "ping" and event.duration_ms is not None:
            bucket = ping_bucket(event.duration_ms)
            share[bucket] += 1
            lead[bucket] += 1
    if outcome.status == "rejected":
        lead[_REJECTED] = 1
        gate = _gate_count(outcome.reason)
        if gate is not None:
            lead[gate] = 1
    # A lead is sold once, whatever its sales; each sale is a win, its money its buyer's.
    for line in outcome.sale_lines():
        share = buyers.get(line.buyer_id)
        if share is None:
            share = buyers[line.buyer_id] = _new_counts()
        revenue, payout = to_cents(line.price) or 0, to_cents(line.payout) or 0
        for counts in (lead, share):
            counts[_SOLD] = 1
            counts[_WINS] += 1
            counts[_REVENUE] += revenue
            counts[_PAYOUT] += payout
    return lead, buyers


def _accumulate(totals: dict[Any, list[int]], key: Any, counts: list[int]) -> None:
    total = totals.get(key)
    if total is None:
        totals[key] = list(counts)
    else:
        totals[key] = [a + b for a, b in zip(total, counts, strict=True)]


def _spread(rows: dict[RowKey, list[int]], keys: list[RowKey], counts: list[int]) -> None:
    """Add `counts` to each of `keys`' rows: a copy for a new row, its non-zero counts (a dozen
    of 38 at most) to one there already."""
    set_counts: list[tuple[int, int]] | None = None
    for key in keys:
        total = rows.get(key)
        if total is None:
            rows[key] = list(counts)
            continue
        if set_counts is None:
            set_counts = [(i, count) for i, count in enumerate(counts) if count]
        for i, count in set_counts:
            total[i] += count


class Deltas:
    """A batch's additions to the rollups, summed by row.

    Summed first by lead key (and buyer), the finest there is, then spread over the grains once
    per key: leads of a batch often share their keys (one seller's traffic of the hour), and a
    lead then costs two dictionary additions instead of one per grain."""

    def __init__(self) -> None:
        self._leads: dict[LeadKey, list[int]] = {}
        self._shares: dict[tuple[LeadKey, str], list[int]] = {}

    def add(self, record: LeadRecord, received_at: datetime, sign: int = 1) -> None:
        """`record`'s counts, added (sign 1) or taken back (sign -1: a replaced pending one)."""
        key = lead_key(record, received_at)
        lead, buyers = lead_counts(record.outcome)
        if sign != 1:
            lead = [sign * c for c in lead]
        _accumulate(self._leads, key, lead)
        for buyer_id, share in buyers.items():
            if sign != 1:
                share = [sign * c for c in share]
            _accumulate(self._shares, (key, text_value(buyer_id) or ""), share)

    def rows(self) -> dict[RowKey, list[int]]:
        rows: dict[RowKey, list[int]] = {}
        for key, counts in self._leads.items():
            _spread(rows, [row_key(grain, key) for grain in LEAD_GRAINS], counts)
        for (key, buyer_id), counts in self._shares.items():
            _spread(rows, [row_key(grain, key, buyer_id) for grain in BUYER_GRAINS], counts)
        return rows

    def sorted_rows(self) -> list[tuple[Any, ...]]:
        """The rows to write, as (*key, *counts), in key order; rows that add nothing left out."""
        rows = self.rows()
        return [(*key, *rows[key]) for key in sorted(rows) if any(rows[key])]


_KEY_COLUMNS = ("grain", "hour", "test", *ROLLUP_DIMENSIONS)


def write(connection: Connection, deltas: Deltas) -> int:
    """Add `deltas` to the rollups (`row = row + delta`, a new row for a new key); how many rows
    it touched."""
    rows = deltas.sorted_rows()
    add_counts(connection, rollups, _KEY_COLUMNS, ROLLUP_COUNTS, rows)
    return len(rows)
