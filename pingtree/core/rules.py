"""Business rejections, eligibility and valid bids. PURE: takes `now` and inputs, returns a reason
code or None.

Reason codes are closed lists: a rejected lead's `reason` (DESIGN §2) and the trace's (DESIGN §7);
every one this module can return is named here so the docs (docs/seller-api.md, docs/operating.md
"The trace") and the tests can hold it to those lists.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pingtree.config import WEEKDAYS, BuyerConfig, Caps, Filters, Range, Schedule, SellerConfig
from pingtree.core.lead import Lead

REJECTION_REASONS = ("consent_required", "vertical_not_allowed", "no_buyer_for_vertical")
SKIP_REASONS = (
    "paused",
    "filter:vertical",
    "filter:state",
    "filter:zip",
    "filter:seller",
    "filter:field",
    "schedule",
    "cap:hourly",
    "cap:daily",
    "cap:budget",
    "dedup",
    "breaker_open",
    "no_time_left",
)
BID_REASONS = ("declined", "below_floor", "above_max_bid", "below_breakeven", "bid_expired")


def rejection(
    lead: Lead, seller: SellerConfig, *, require_consent: bool, buys: Callable[[str], bool]
) -> str | None:
    """Why this lead is rejected before any buyer is looked at, or None: no TCPA consent where the
    tree requires it, a vertical its seller may not send, or one no buyer takes (`buys`, the
    tree's). A test lead meets the same rules."""
    if require_consent and lead.tcpa_consent is not True:
        return "consent_required"
    if seller.verticals is not None and lead.vertical not in seller.verticals:
        return "vertical_not_allowed"
    if not buys(lead.vertical):
        return "no_buyer_for_vertical"
    return None


def pause_reason(buyer: BuyerConfig, paused: Collection[str]) -> str | None:
    """`paused` when an operator paused this buyer (`paused`: the ids paused when the auction
    opened). Asked first: whatever else the buyer would be skipped for, the operator's switch is
    what the trace names."""
    return "paused" if buyer.id in paused else None


def filter_reason(buyer: BuyerConfig, lead: Lead, seller_id: str) -> str | None:
    """Why this buyer does not want this lead by its static filters, or None."""
    if buyer.verticals is not None and lead.vertical not in buyer.verticals:
        return "filter:vertical"
    return filters_reason(buyer.filters, lead, seller_id)


def filters_reason(filters: Filters, lead: Lead, seller_id: str) -> str | None:
    if filters.sellers is not None and seller_id not in filters.sellers:
        return "filter:seller"
    if filters.states is not None and lead.state not in filters.states:
        return "filter:state"
    if filters.zip_prefixes is not None and not (
        lead.zip and any(lead.zip.startswith(prefix) for prefix in filters.zip_prefixes)
    ):
        return "filter:zip"
    for name, expected in filters.require.items():
        if not value_matches(lead.attributes.get(name), expected):
            return "filter:field"
    for name, bounds in filters.ranges.items():
        if not in_range(lead.attributes.get(name), bounds):
            return "filter:field"
    return None


def value_matches(actual: Any, expected: Any) -> bool:
    """`require: {has_attorney: false}` matches JSON false and the form word "false"; a list of
    expected values matches any of them. Text compares without regard to case."""
    if isinstance(expected, tuple | list):
        return any(value_matches(actual, option) for option in expected)
    if actual is None:
        return False
    if isinstance(expected, bool):
        return _as_bool(actual) is expected
    if isinstance(expected, int | float):
        number = as_number(actual)
        return number is not None and number == expected
    return str(actual).strip().lower() == str(expected).strip().lower()


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(
            value.strip().lower()
        )
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return None


def as_number(value: Any) -> float | None:
    """240, 240.0 and "240" are the same number; anything else (bool, "n/a", NaN) is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and "_" not in value:
        try:
            number = float(value.strip().replace(",", ""))
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def in_range(value: Any, bounds: Range) -> bool:
    number = as_number(value)
    if number is None:
        return False
    if bounds.min is not None and number < bounds.min:
        return False
    return not (bounds.max is not None and number > bounds.max)


def local_time(now: datetime, timezone: str) -> datetime:
    return now.astimezone(ZoneInfo(timezone))


def schedule_open(schedule: Schedule | None, local: datetime) -> bool:
    """Whether the buyer takes leads at this local time. A window like 20:00-02:00 spans midnight
    and belongs to the day it starts on."""
    if schedule is None:
        return True
    start, end = schedule.window_minutes
    minute = local.hour * 60 + local.minute
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    if start < end:
        return today in schedule.days and start <= minute < end
    return (today in schedule.days and minute >= start) or (
        yesterday in schedule.days and minute < end
    )


@dataclass(frozen=True, slots=True)
class CapWindows:
    """The buyer-local hour and day a sale counts in. The hour key carries the UTC offset so the
    repeated hour at a DST fall-back is two windows, not one twice as large."""

    hour: str
    day: str


def cap_windows(now: datetime, timezone: str) -> CapWindows:
    local = local_time(now, timezone)
    return CapWindows(hour=local.strftime("%Y-%m-%dT%H%z"), day=local.strftime("%Y-%m-%d"))


def cap_reason(
    caps: Caps, hour_count: int, day_count: int, day_spend: Decimal, price: Decimal
) -> str | None:
    """Whether one more sale at `price` would break a cap (price 0 asks only whether the buyer is
    already at one, as before a ping)."""
    if caps.hourly is not None and hour_count + 1 > caps.hourly:
        return "cap:hourly"
    if caps.daily is not None and day_count + 1 > caps.daily:
        return "cap:daily"
    if caps.daily_budget is not None and (
        day_spend + price > caps.daily_budget or day_spend >= caps.daily_budget
    ):
        return "cap:budget"
    return None


@dataclass(frozen=True, slots=True)
class BidLimits:
    floor: Decimal
    max_bid: Decimal
    breakeven: Decimal | None


def bid_reason(
    price: Decimal, limits: BidLimits, expires_at_ms: float | None, now_ms: float
) -> str | None:
    """Why an accepted bid is still not a valid one, or None (DESIGN §3)."""
    if price <= 0 or price < limits.floor:
        return "below_floor"
    if price > limits.max_bid:
        return "above_max_bid"
    if limits.breakeven is not None and price < limits.breakeven:
        return "below_breakeven"
    if expires_at_ms is not None and now_ms > expires_at_ms:
        return "bid_expired"
    return None
