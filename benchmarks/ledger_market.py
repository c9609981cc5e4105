"""The market benchmarks/ledger_report.py fills the ledger with: lead records as the router makes
them, generated hour by hour, the same every run (seeded).

20 sellers, each selling one or two of 3 verticals through 5 sub_ids (the first ones busiest);
51 states, weighted as the US population is; 24 buyers, 8 a vertical, every lead pinged to its
vertical's 8: about 45 % bid, 40 % decline, the rest time out or fail; the best bids are posted to
until one accepts (about 60 % of posts do). Leads come more by day than by night (US time).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from pingtree.core.outcome import Outcome, Status, TraceEvent
from pingtree.core.record import LeadRecord

VERTICALS = ("mva", "solar", "final_expense")
SELLERS = tuple(f"seller-{i:02d}" for i in range(20))
SUB_IDS = tuple(f"sub-{i}" for i in range(5))
SUB_ID_WEIGHTS = (40, 25, 15, 12, 8)
BUYERS = {v: tuple(f"{v}-buyer-{i}" for i in range(8)) for v in VERTICALS}
# Share of the US population, per mille, by state (2020 census, rounded; DC and the smallest at 2).
STATE_WEIGHTS = {
    "CA": 118, "TX": 88, "FL": 65, "NY": 61, "PA": 39, "IL": 39, "OH": 36, "GA": 32, "NC": 32,
    "MI": 30, "NJ": 28, "VA": 26, "WA": 23, "AZ": 22, "MA": 21, "TN": 21, "IN": 21, "MD": 19,
    "MO": 19, "WI": 18, "CO": 17, "MN": 17, "SC": 15, "AL": 15, "LA": 14, "KY": 14, "OR": 13,
    "OK": 12, "CT": 11, "UT": 10, "IA": 10, "NV": 9, "AR": 9, "MS": 9, "KS": 9, "NM": 6, "NE": 6,
    "ID": 6, "WV": 5, "HI": 4, "NH": 4, "ME": 4, "RI": 3, "MT": 3, "DE": 3, "SD": 3, "ND": 2,
    "AK": 2, "DC": 2, "VT": 2, "WY": 2,
}  # fmt: skip
# Leads an hour, relative, by UTC hour: US daytime is busy, US night quiet.
HOURLY_WEIGHT = (6, 5, 4, 3, 2, 1, 1, 1, 1, 1, 2, 3, 5, 7, 9, 10, 10, 10, 10, 10, 9, 9, 8, 7)


def _seller_verticals(rng: random.Random) -> dict[str, tuple[str, ...]]:
    return {
        seller: tuple(rng.sample(VERTICALS, 1 if rng.random() < 0.6 else 2)) for seller in SELLERS
    }


def _ping_trace(
    rng: random.Random, vertical: str
) -> tuple[list[TraceEvent], list[tuple[Decimal, str]]]:
    events, bids = [], []
    for buyer in BUYERS[vertical]:
        roll, ms = rng.random(), int(rng.lognormvariate(5.0, 0.6))
        if roll < 0.45:
            price = Decimal(rng.randint(300, 9000)).scaleb(-2)
            events.append(TraceEvent(5, buyer, "ping", "bid", duration_ms=ms, bid=price))
            bids.append((price, buyer))
        elif roll < 0.85:
            events.append(TraceEvent(5, buyer, "ping", "declined", "no_bid", duration_ms=ms))
        elif roll < 0.95:
            events.append(TraceEvent(5, buyer, "ping", "failed", "timeout", duration_ms=2000))
        else:
            events.append(TraceEvent(5, buyer, "ping", "failed", "http_error", duration_ms=ms))
    return events, bids


def _post_trace(
    rng: random.Random, bids: list[tuple[Decimal, str]]
) -> tuple[list[TraceEvent], Status, str | None, Decimal | None]:
    events: list[TraceEvent] = []
    for price, buyer in sorted(bids, reverse=True)[:3]:
        ms = int(rng.lognormvariate(5.5, 0.5))
        if rng.random() < 0.6:
            events.append(TraceEvent(900, buyer, "post", "accepted", bid=price, duration_ms=ms))
            return events, "sold", buyer, price
        events.append(
            TraceEvent(900, buyer, "post", "rejected", "post_rejected", bid=price, duration_ms=ms)
        )
    return events, "unsold", None, None


START = datetime(2025, 1, 1, tzinfo=UTC)  # fixed: the figures do not move with the calendar


class Market:
    def __init__(self, seed: int = 15) -> None:
        self._rng = random.Random(seed)
        self._verticals = _seller_verticals(self._rng)
        self._states = list(STATE_WEIGHTS)
        self._state_weights = list(STATE_WEIGHTS.values())
        self._n = 0

    def lead(self, received: datetime) -> LeadRecord:
        rng = self._rng
        self._n += 1
        seller = rng.choice(SELLERS)
        vertical = rng.choice(self._verticals[seller])
        pings, bids = _ping_trace(rng, vertical)
        posts, status, buyer, price = _post_trace(rng, bids)
        payout = None
        if price is not None:
            payout = (price * Decimal("0.7")).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
        stamp = received.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        outcome = Outcome(
            id=f"ld_{int(received.timestamp() * 1000):013d}{self._n:09d}",
            seller_id=seller,
            status=status,
            received_at=stamp,
            auction_ms=rng.randint(200, 1500),
            lead_id=f"{seller}-{self._n}",
            reason=None if status == "sold" else "no_buyer",
            buyer_id=buyer,
            price=price,
            payout=payout,
            vertical=vertical,
            trace=(*pings, *posts),
        )
        facts = {
            "vertical": vertical,
            "sub_id": rng.choices(SUB_IDS, SUB_ID_WEIGHTS)[0],
            "state": rng.choices(self._states, self._state_weights)[0],
            "zip": f"{rng.randint(10000, 99999)}",
            "attributes": {},
        }
        pii = {"first_name": "Ana", "phone": f"+1305{rng.randint(2000000, 9999999)}"}
        return LeadRecord(outcome, facts, pii, phone_hash=f"ph{rng.getrandbits(64):016x}")

    def hours(
        self, start: datetime, days: int, leads: int
    ) -> Iterator[tuple[datetime, list[LeadRecord]]]:
        """Each hour of `days` from `start` with its leads, `leads` in all, oldest first."""
        weights = [HOURLY_WEIGHT[(start + timedelta(hours=h)).hour] for h in range(days * 24)]
        whole = sum(weights)
        made = 0
        so_far = 0
        for h, weight in enumerate(weights):
            hour = start + timedelta(hours=h)
            so_far += weight
            count = round(leads * so_far / whole) - made
            made += count
            moments = sorted(self._rng.random() * 3600 for _ in range(count))
            yield hour, [self.lead(hour + timedelta(seconds=s)) for s in moments]
