"""Tiers and ranking. PURE: no await, no clock, no I/O.

The router asks this module two questions: in what groups are buyers pinged (`plan_tiers`), and in
what order are a tier's offers posted to (`rank`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby
from typing import Literal

from pingtree.config import BuyerConfig

Mode = Literal["tiered", "waterfall", "parallel"]


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


def rank(offers: Sequence[Offer]) -> list[Offer]:
    """Post order: highest price; ties to the lower priority number, then the earlier answer, then
    the file order (so a replay ranks the same)."""
    return sorted(offers, key=lambda o: (-o.price, o.priority, o.answered_ms, o.order))
