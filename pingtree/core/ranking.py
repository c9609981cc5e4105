"""Tiers and ranking. PURE: no await, no clock, no I/O.

The router asks this module two questions: in what groups are buyers pinged (`plan_tiers`), and in
what order are a tier's offers posted to (`rank`).

**Ranking** (DESIGN §14, docs/ranking.md). Offers are ordered by their value: the price, or with
`by: expected_value` the price x the buyer's factor (post acceptance x (1 - return rate), given
only for buyers past `min_sales`), rounded to the cent so that near-equal values tie as equal
prices do. The price charged stays the bid. Offers of equal value are a tie, broken by
`tie_break`: `priority` (lower priority number, earlier answer, file order: today's order),
`round_robin` (a rotation of the tied buyers by a turn number) or `weighted` (the turn's place in a
smooth weighted round-robin sequence of the tied buyers' weights). The turn comes from a counter
the store keeps per tie group (`tie_group`), shared by every router; without one (`turn=None`,
the store failed) ties go by priority.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from itertools import groupby
from types import MappingProxyType
from typing import Literal

from pingtree.config import BuyerConfig

Mode = Literal["tiered", "waterfall", "parallel"]
TieBreak = Literal["priority", "round_robin", "weighted"]
_CENT = Decimal("0.01")


def plan_tiers(buyers: Sequence[BuyerConfig], mode: Mode) -> list[list[BuyerConfig]]:
    """Group eligible buyers (given in file order) into the tiers that are pinged one after another.

    tiered: one tier per priority, lowest number first; waterfall: one buyer per tier, by priority
    then file order; parallel: everyone in one tier.
    """
    if not buyers:
        return []
    if mode == "parallel":
        return [list(buyers)]
    ordered = sorted(buyers, key=lambda buyer: buyer.priority)  # stable: file order within ties
    if mode == "waterfall":
        return [[buyer] for buyer in ordered]
    return [list(tier) for _, tier in groupby(ordered, key=lambda buyer: buyer.priority)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    """A valid price for the lead: a bid that passed the rules, or a fixed-price buyer's price.
    Built with keywords only: nine fields, several of one type, are too many to pass by position.
    The winning one travels on to the deliveries (its ping's ids and carried values)."""

    buyer_id: str
    price: Decimal
    priority: int
    answered_ms: float
    order: int
    ping_id: str | None = None
    bid_id: str | None = None
    expires_at_ms: float | None = None  # ms after receipt, when the buyer gave expires_in_ms
    carried: tuple[tuple[str, str], ...] = ()  # values the ping's answer gave for the post


@dataclass(frozen=True, slots=True)
class Ranking:
    """What orders offers beyond their price. `factors`: per buyer id, the expected-value factor
    of a buyer past min_sales (a buyer without one ranks by its price); `weights`: per buyer id
    (default 1), read under `weighted`."""

    factors: Mapping[str, Decimal] = field(default_factory=lambda: MappingProxyType({}))
    tie_break: TieBreak = "priority"
    weights: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


BY_PRICE = Ranking()


def offer_value(offer: Offer, ranking: Ranking = BY_PRICE) -> Decimal:
    """What the offer ranks by: its price, or its expected value when its buyer has a factor."""
    factor = ranking.factors.get(offer.buyer_id)
    if factor is None:
        return offer.price
    return (offer.price * factor).quantize(_CENT, rounding=ROUND_HALF_UP)


def _by_priority(offer: Offer) -> tuple[int, float, int]:
    return (offer.priority, offer.answered_ms, offer.order)


def _by_file_order(offer: Offer) -> tuple[int, str]:
    # A tie group's stable order: the same on every router and every lead (answers' times vary).
    return (offer.order, offer.buyer_id)


def _value_groups(offers: Sequence[Offer], ranking: Ranking) -> list[list[Offer]]:
    """Offers by value, highest first; each group in priority order."""
    valued = sorted(offers, key=lambda o: (-offer_value(o, ranking), *_by_priority(o)))
    return [list(group) for _, group in groupby(valued, key=lambda o: offer_value(o, ranking))]


def tie_group(offers: Sequence[Offer], ranking: Ranking = BY_PRICE) -> tuple[str, ...] | None:
    """The buyer ids of the highest-valued tie (two offers or more of one value), in file order:
    the group whose turn counter the store keeps. None when no offers tie."""
    for group in _value_groups(offers, ranking):
        if len(group) > 1:
            return tuple(o.buyer_id for o in sorted(group, key=_by_file_order))
    return None


def tie_group_key(buyer_ids: Sequence[str]) -> str:
    """The name of a tie group's counter: its buyers, in file order (ids are [A-Za-z0-9._-])."""
    return ",".join(buyer_ids)


def rank(
    offers: Sequence[Offer], ranking: Ranking = BY_PRICE, turn: int | None = None
) -> list[Offer]:
    """Post order: highest value first (the price, by default); ties to the lower priority
    number, then the earlier answer, then the file order (so a replay ranks the same), unless
    `ranking.tie_break` rotates them by `turn` (every tie of this auction by the same turn)."""
    if not ranking.factors and (ranking.tie_break == "priority" or turn is None):
        return sorted(offers, key=lambda o: (-o.price, *_by_priority(o)))
    ordered: list[Offer] = []
    for group in _value_groups(offers, ranking):
        if len(group) > 1 and turn is not None and ranking.tie_break != "priority":
            group = _turned(group, ranking, turn)
        ordered.extend(group)
    return ordered


def _turned(group: list[Offer], ranking: Ranking, turn: int) -> list[Offer]:
    """A tie's order at `turn` (1, 2, 3…): round_robin starts the rotation of its file order at
    the turn's buyer; weighted puts first the buyer the weighted sequence gives the turn, then the
    others as that sequence next names them."""
    stable = sorted(group, key=_by_file_order)
    if ranking.tie_break == "round_robin":
        start = (turn - 1) % len(stable)
        return stable[start:] + stable[:start]
    weights = tuple(ranking.weights.get(o.buyer_id, 1) for o in stable)
    sequence = weighted_sequence(weights)
    start = (turn - 1) % len(sequence)
    order: list[int] = []
    for place in sequence[start:] + sequence[:start]:
        if place not in order:
            order.append(place)
            if len(order) == len(stable):
                break
    return [stable[i] for i in order]


@lru_cache(maxsize=256)
def weighted_sequence(weights: tuple[int, ...]) -> tuple[int, ...]:
    """One period (sum of weights long) of smooth weighted round robin (nginx's): each step every
    index gains its weight, the highest total (the first on equal totals) is picked and loses the
    sum. Each index appears exactly its weight's times a period, spread out rather than in runs,
    so any stretch of turns gives each buyer close to its share. Cached: ties repeat."""
    total = sum(weights)
    current = [0] * len(weights)
    picked: list[int] = []
    for _ in range(total):
        for i, weight in enumerate(weights):
            current[i] += weight
        best = max(range(len(weights)), key=lambda i: (current[i], -i))
        current[best] -= total
        picked.append(best)
    return tuple(picked)


@dataclass(frozen=True, slots=True)
class BuyerStats:
    """A buyer's figures over the ranking window (ledger/buyer_stats.py): its sales, and the
    shares of its posts accepted and of its sales returned (None: nothing to divide by)."""

    sales: int
    acceptance: Decimal | None
    return_rate: Decimal | None = None


def expected_value_factors(stats: Mapping[str, BuyerStats], min_sales: int) -> dict[str, Decimal]:
    """Per buyer past `min_sales` sales: acceptance x (1 - return rate), what its bid is
    multiplied by to rank. A buyer below it, or with no post to measure, has none: it ranks by
    its bid (a newcomer is not judged on a handful of posts)."""
    return {
        buyer_id: figures.acceptance * (1 - (figures.return_rate or Decimal(0)))
        for buyer_id, figures in stats.items()
        if figures.sales >= min_sales and figures.acceptance is not None
    }
