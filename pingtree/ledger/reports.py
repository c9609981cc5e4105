"""Reports (DESIGN §13), read from the hourly rollups (rollups.py), never from the leads.

**Edges are whole hours.** A report covers the UTC hours that overlap [start, end): start is
rounded down to its hour and end up to its hour, so a report "from 10:30" counts the leads from
10:00, and one "to now" counts the current hour so far. Days and hours of `by=day|hour` are
`tz`'s: an hour belongs to the local day (and is keyed by the local time) it begins at. In a zone
whose offset is not whole hours (India's +05:30) an hour straddles local midnight and counts in
the day it begins in.

**Rows and totals.** A row per value of `by` that has leads or calls in the range (a missing
sub_id or state is the key ''), ordered by key (hours and days in time order). Rows of `by=buyer`,
and any report narrowed to a buyer, are buyers' shares: `leads` are the leads that buyer was
called for, `sold` and `revenue` what it bought. The totals are the same figures over the whole
range and filters: with `by=buyer` and no buyer filter, the leads themselves (each lead once,
however many buyers it called). `filters.status` does not narrow a report: sold and unsold are
its columns. Test leads are left out unless `filters.test`, which counts them with the others.

**Figures.** Money is Decimal to the cent (revenue_per_lead rounded half-up); rates are
fractions rounded half-up to 4 places, None when there is nothing to divide by: sold_pct =
sold / leads, bid_rate = bids / pings, win_rate = wins / bids, post_accept_rate = posts accepted
/ posts, return_rate = returns / wins; margin = revenue - payout, net_revenue = revenue -
returns_amount. Returns and charge-backs (approved returns, ledger/returns.py) count in the hour
their lead was received, beside the sale they reverse; payout stays gross, `chargebacks_amount`
beside it. Buyers' feedback counts the same way: `contacted` and `converted` once per lead and
buyer, `conversion_value` the values it gave, `conversion_rate` = converted / wins.
Ping times are quantiles of the rollups' histogram (schema.PING_BUCKETS_MS) by
nearest rank: the bucket holding the ceil(q·n)-th fastest ping, reported as that bucket's upper
bound ("p95 ≤ 300 ms"), so within one bucket of the true value: 10 ms below 50 ms, a third of it
above; pings slower than the last bound (10 s) are reported as that bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pingtree.core.errors import BadRequest
from pingtree.core.zones import named_zone
from pingtree.ledger.base import Filters, Report, ReportQuery, ReportRow
from pingtree.ledger.rollups import Grain, grain_for
from pingtree.ledger.schema import (
    PING_BUCKET_COLUMNS,
    PING_BUCKETS_MS,
    ROLLUP_COUNTS,
    from_cents,
    rollups,
)

_RATE = Decimal("0.0001")
_CENT = Decimal("0.01")
_FILTERED = {
    "seller": "seller_id",
    "buyer": "buyer_id",
    "vertical": "vertical",
    "sub_id": "sub_id",
    "state": "state",
}
_BY_COLUMN = {"buyer": "buyer_id", "seller": "seller_id"}
_BUCKETS = slice(ROLLUP_COUNTS.index(PING_BUCKET_COLUMNS[0]), None)

Counts = list[int]


def zone(name: str) -> ZoneInfo:
    found = named_zone(name)
    if found is None:
        raise BadRequest("tz is not an IANA time zone", fields={"tz": "unknown zone"})
    return found


def hour_range(start: datetime, end: datetime) -> tuple[int, int]:
    """The epoch hours overlapping [start, end): (first, past the last)."""
    return math.floor(start.timestamp() / 3600), math.ceil(end.timestamp() / 3600)


def _filter_values(filters: Filters) -> dict[str, str]:
    named = {column: getattr(filters, name) for name, column in _FILTERED.items()}
    return {column: value for column, value in named.items() if value is not None}


def _sums(
    connection: Connection,
    grain: Grain,
    hours: tuple[int, int],
    filters: Filters,
    group_by: str | None,
) -> dict[str | int | None, Counts]:
    """The summed counts of `grain`'s rows in `hours` matching `filters`, by `group_by` (a
    column of the rollups), or all together (key None)."""
    conditions = [rollups.c.grain == grain.number, rollups.c.hour >= hours[0]]
    conditions.append(rollups.c.hour < hours[1])
    if not filters.test:
        conditions.append(rollups.c.test.is_(False))
    conditions += [rollups.c[c] == value for c, value in _filter_values(filters).items()]
    sums = [sa.func.sum(rollups.c[name]) for name in ROLLUP_COUNTS]
    if group_by is None:
        statement = sa.select(sa.null(), *sums).where(*conditions)
    else:
        key = rollups.c[group_by]
        statement = sa.select(key, *sums).where(*conditions).group_by(key)
    found: dict[str | int | None, Counts] = {}
    for key_value, *values in connection.execute(statement):
        if values[0] is not None:  # an aggregate over no rows is one row of NULLs
            found[key_value] = [int(v) for v in values]
    return found


def _add(total: Counts | None, counts: Counts) -> Counts:
    return list(counts) if total is None else [a + b for a, b in zip(total, counts, strict=True)]


def _fold_hours(
    by_hour: dict[str | int | None, Counts], by: str, tz: ZoneInfo
) -> list[tuple[str, Counts]]:
    """Hours made the local hours or days they begin in, in time order."""
    folded: dict[str, Counts] = {}
    for hour in sorted(h for h in by_hour if isinstance(h, int)):
        local = datetime.fromtimestamp(hour * 3600, UTC).astimezone(tz)
        key = local.date().isoformat() if by == "day" else local.isoformat(timespec="minutes")
        folded[key] = _add(folded.get(key), by_hour[hour])
    return list(folded.items())


def report(connection: Connection, query: ReportQuery) -> Report:
    tz = zone(query.tz)
    hours = hour_range(query.start, query.end)
    filtered = set(_filter_values(query.filters))
    by_time = query.by in ("hour", "day")
    column = "hour" if by_time else _BY_COLUMN.get(query.by, query.by)
    grain = grain_for(filtered if by_time else filtered | {column})
    grouped = _sums(connection, grain, hours, query.filters, column)
    if by_time:
        keyed = _fold_hours(grouped, query.by, tz)
    else:
        keyed = sorted((str(key), counts) for key, counts in grouped.items())
    totals_grain = grain_for(filtered)
    if totals_grain == grain:
        total: Counts | None = None
        for _, counts in keyed:
            total = _add(total, counts)
    else:
        total = _sums(connection, totals_grain, hours, query.filters, None).get(None)
    rows = [report_row(key, counts) for key, counts in keyed]
    return Report(rows, report_row("total", total or [0] * len(ROLLUP_COUNTS)))


def _rate(part: int, whole: int) -> Decimal | None:
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(_RATE, rounding=ROUND_HALF_UP)


def _money(cents: int) -> Decimal:
    amount = from_cents(cents)
    assert amount is not None
    return amount


def ping_quantile(buckets: Sequence[int], q: float) -> int | None:
    """The upper bound of the bucket holding the nearest-rank q-quantile (module docstring)."""
    count = sum(buckets)
    if count == 0:
        return None
    rank, seen = max(1, math.ceil(q * count)), 0
    for i, in_bucket in enumerate(buckets):
        seen += in_bucket
        if seen >= rank:
            return PING_BUCKETS_MS[min(i, len(PING_BUCKETS_MS) - 1)]
    return PING_BUCKETS_MS[-1]  # not reached: the buckets add up to count


def report_row(key: str, counts: Counts) -> ReportRow:
    c = dict(zip(ROLLUP_COUNTS, counts, strict=True))
    leads, wins = c["leads"], c["wins"]
    revenue, payout = _money(c["revenue_cents"]), _money(c["payout_cents"])
    returned = _money(c["returns_cents"])
    per_lead = None if leads == 0 else (revenue / leads).quantize(_CENT, rounding=ROUND_HALF_UP)
    buckets = counts[_BUCKETS]
    return ReportRow(
        key=key,
        leads=leads,
        sold=c["sold"],
        sold_pct=_rate(c["sold"], leads),
        revenue=revenue,
        payout=payout,
        margin=revenue - payout,
        revenue_per_lead=per_lead,
        pings=c["pings"],
        bids=c["bids"],
        bid_rate=_rate(c["bids"], c["pings"]),
        wins=wins,
        win_rate=_rate(wins, c["bids"]),
        post_accept_rate=_rate(c["posts_accepted"], c["posts"]),
        returns=c["returns"],
        returns_amount=returned,
        net_revenue=revenue - returned,
        return_rate=_rate(c["returns"], wins),
        chargebacks_amount=_money(c["chargebacks_cents"]),
        contacted=c["contacted"],
        converted=c["converted"],
        conversion_rate=_rate(c["converted"], wins),
        conversion_value=_money(c["conversion_cents"]),
        rejected=c["rejected"],
        suppressed=c["suppressed"],
        consent_failed=c["consent_failed"],
        check_failed=c["check_failed"],
        ping_p50_ms=ping_quantile(buckets, 0.50),
        ping_p95_ms=ping_quantile(buckets, 0.95),
    )
