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

    grain  dimensions (and hour, test)          answers                      rows at 1M leads*
    1      vertical                              by hour, day, vertical           2 k
    2      seller, vertical                      by seller; seller filter        22 k
    3      vertical, state                       by state; state filter          95 k
    4      seller, vertical, sub_id              by sub_id; sub_id filter        70 k
    5      seller, vertical, sub_id, state       sub_id and state together      800 k
    11     buyer, vertical                       by buyer; buyer filter          17 k
    12     buyer, seller, vertical               buyer and seller together      170 k
    15     buyer, seller, vertical, sub_id, state  buyer with sub_id or state   6.5 M

    * benchmarks/ledger_report.py's market (20 sellers selling 1 or 2 of 3 verticals, 5 sub_ids
      each, 51 states, 24 buyers, 8 pinged per lead); docs/benchmarks.md has the measured counts.

Vertical is in every grain: there are few, a seller or a buyer mostly has one, so it costs little
and spares grains. The fine grains 5 and 15 make every combination answerable; what is asked
often (by buyer, by day, by seller) reads grains of thousands of rows per month. A lead costs one
row per lead grain and three per buyer called, fewer once a batch's leads share keys.

**Measures** (rates in reports.py): `leads`; `sold`; `wins` (sales); `revenue_cents` and
`payout_cents` of the sales; `pings`: requests for a price, a ping that went out or a fixed-price
buyer's offer (no call: its price answers at once); `bids`: valid bids among them (result `bid`);
`posts` that went out (a delivery buyer's assignment included) and `posts_accepted`; `returns`
and `returns_cents` (returns come with issue 18: zero until then); and a histogram of ping
durations (`ping_le_<ms>` … `ping_slower`, schema.PING_BUCKETS_MS: 10 ms wide up to 50 ms, then
at most a third wider than the bucket before, up to 10 s). A ping cut off when its tier's ping
phase closed has no duration of its own and is counted in `pings`, not in the histogram.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from pingtree.core.outcome import Outcome, TraceEvent
from pingtree.core.record import LeadRecord
from pingtree.ledger.bulk import insert_many
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
    _grain(2, "seller_id", "vertical"),
    _grain(3, "vertical", "state"),
    _grain(4, "seller_id", "vertical", "sub_id"),
    _grain(5, "seller_id", "vertical", "sub_id", "state"),
    _grain(11, "buyer_id", "vertical"),
    _grain(12, "buyer_id", "seller_id", "vertical"),
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


def epoch_hour(moment: datetime) -> int:
    """Whole UTC hours since the epoch: the rollups' hour of an aware datetime."""
    return int(moment.timestamp() // 3600)


def ping_bucket(duration_ms: int) -> int:
    """The histogram column (offset in ROLLUP_COUNTS) a ping of `duration_ms` counts in."""
    return _FIRST_BUCKET + bisect.bisect_left(PING_BUCKETS_MS, duration_ms)


@dataclass(frozen=True, slots=True)
class LeadKeys:
    """Where a lead is rolled up: its hour and its dimensions ('' for a missing one)."""

    hour: int
    test: bool
    seller_id: str
    vertical: str
    sub_id: str
    state: str

    @classmethod
    def of(cls, record: LeadRecord, received_at: datetime) -> LeadKeys:
        outcome, facts = record.outcome, record.facts
        return cls(
            hour=epoch_hour(received_at),
            test=outcome.test,
            seller_id=text_value(outcome.seller_id) or "",
            vertical=text_value(outcome.vertical or facts.get("vertical")) or "",
            sub_id=text_value(facts.get("sub_id")) or "",
            state=text_value(facts.get("state")) or "",
        )

    def row(self, grain: Grain, buyer_id: str = "") -> RowKey:
        kept = grain.dimensions
        return (
            grain.number,
            self.hour,
            self.test,
            buyer_id if "buyer_id" in kept else "",
            self.seller_id if "seller_id" in kept else "",
            self.vertical if "vertical" in kept else "",
            self.sub_id if "sub_id" in kept else "",
            self.state if "state" in kept else "",
        )


# Counts as (offset in ROLLUP_COUNTS, count) pairs, the non-zero ones only: a lead's row has a
# dozen of its 38 counts set at most, and a batch adds up tens of thousands of them.
Counts = list[tuple[int, int]]


def _count_call(counts: dict[int, int], event: TraceEvent) -> bool:
    """Add one trace event to `counts`; whether it was a call (the buyer took part)."""
    if event.step == "offer" or (event.step == "ping" and event.result != "skipped"):
        counts[_PINGS] = counts.get(_PINGS, 0) + 1
        if event.result == "bid":
            counts[_BIDS] = counts.get(_BIDS, 0) + 1
        if event.step == "ping" and event.duration_ms is not None:
            bucket = ping_bucket(event.duration_ms)
            counts[bucket] = counts.get(bucket, 0) + 1
        return True
    if event.step == "post" and event.result != "skipped":
        counts[_POSTS] = counts.get(_POSTS, 0) + 1
        if event.result == "accepted":
            counts[_ACCEPTED] = counts.get(_ACCEPTED, 0) + 1
        return True
    return False


def _add_sale(counts: dict[int, int], outcome: Outcome) -> None:
    counts[_SOLD] = counts[_WINS] = 1
    counts[_REVENUE] = to_cents(outcome.price) or 0
    counts[_PAYOUT] = to_cents(outcome.payout) or 0


def lead_counts(outcome: Outcome) -> tuple[Counts, dict[str, Counts]]:
    """What one lead adds: to its lead grains, and to each buyer it called, that buyer's share."""
    lead: dict[int, int] = {_LEADS: 1}
    buyers: dict[str, dict[int, int]] = {}
    for event in outcome.trace:
        share = buyers.get(event.buyer_id) or {}
        if _count_call(share, event):
            buyers[event.buyer_id] = share
            _count_call(lead, event)
    if outcome.status == "sold" and outcome.buyer_id is not None:
        _add_sale(lead, outcome)
        _add_sale(buyers.setdefault(outcome.buyer_id, {}), outcome)
    for share in buyers.values():
        share[_LEADS] = 1
    return list(lead.items()), {buyer: list(share.items()) for buyer, share in buyers.items()}


class Deltas:
    """A batch's additions to the rollups, summed by row."""

    def __init__(self) -> None:
        self.rows: dict[RowKey, list[int]] = {}

    def add(self, record: LeadRecord, received_at: datetime, sign: int = 1) -> None:
        """`record`'s counts, added (sign 1) or taken back (sign -1: a replaced pending one)."""
        keys = LeadKeys.of(record, received_at)
        lead, buyers = lead_counts(record.outcome)
        for grain in LEAD_GRAINS:
            self._add(keys.row(grain), lead, sign)
        for buyer_id, share in buyers.items():
            buyer = text_value(buyer_id) or ""
            for grain in BUYER_GRAINS:
                self._add(keys.row(grain, buyer), share, sign)

    def _add(self, key: RowKey, counts: Counts, sign: int) -> None:
        total = self.rows.get(key)
        if total is None:
            total = self.rows[key] = [0] * _N
        for i, count in counts:
            total[i] += sign * count

    def sorted_rows(self) -> list[tuple[Any, ...]]:
        """The rows to write, as (*key, *counts), in key order; rows that add nothing left out."""
        return [(*key, *self.rows[key]) for key in sorted(self.rows) if any(self.rows[key])]


_KEY_COLUMNS = ("grain", "hour", "test", *ROLLUP_DIMENSIONS)


def write(connection: Connection, deltas: Deltas) -> int:
    """Add `deltas` to the rollups (`row = row + delta`, a new row for a new key); how many rows
    it touched."""
    rows = deltas.sorted_rows()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = insert(rollups)
    statement = statement.on_conflict_do_update(
        index_elements=list(_KEY_COLUMNS),
        set_={name: rollups.c[name] + statement.excluded[name] for name in ROLLUP_COUNTS},
    )
    insert_many(connection, statement, (*_KEY_COLUMNS, *ROLLUP_COUNTS), rows)
    return len(rows)
