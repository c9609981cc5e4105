"""Shared leads (DESIGN §14): which offers a lead sold shared is posted to, and in what order.
PURE: no await, no clock, no I/O. The auction (auction/shared_sale.py) posts; this module says
to whom next and keeps the count.

The rules, each a promise an operator relies on:

- A lead is sold shared when its seller says `sell: shared` (or, when the seller says nothing,
  its vertical does): up to `max_buyers` sales, each to a buyer whose config says `shared: true`.
- The shared plan of a tier is the best `max_buyers` offers of distinct shared buyers. A bid of a
  buyer that does not take shared leads buys the lead exclusive, and only when it is strictly
  above the sum of the plan's prices (equal loses: the shared sale pays the seller as much and
  serves more buyers). Exclusive offers that beat the sum are posted to first, best first; once
  one sells, the lead is sold.
- A shared offer that is refused (a rejected post, a cap reached meanwhile) frees its place for
  the next shared offer of the tier, then of the tiers after it, until `max_buyers` are sold or
  the tiers run out. Once a share is sold the lead is shared: no exclusive offer is taken after.
- Never two sales to one buyer (a buyer is posted to once per lead), never more than
  `max_buyers`: a post whose answer is ambiguous may be a sale, so it holds its place; if its
  buyer's config says stop, no one else is posted to.
- Each sale's price is a valid bid, so with a fixed seller payout each sale is above breakeven
  on its own (the seller is paid its payout per sale: the sum, DESIGN §4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from pingtree.config import BuyerConfig, SellerConfig
from pingtree.config.verticals import VerticalSchema
from pingtree.core.ranking import Offer

PostResult = Literal["sold", "refused", "ambiguous_go_on", "ambiguous_stop"]


def share_terms(seller: SellerConfig, vertical: VerticalSchema | None) -> int | None:
    """`max_buyers` when this seller's lead of this vertical is sold shared, None when it is sold
    exclusive. The seller's `sell` wins; without one, the vertical's; without either, exclusive."""
    if seller.sell is not None:
        return seller.max_buyers if seller.sell == "shared" else None
    if vertical is not None and vertical.sell == "shared":
        return vertical.max_buyers
    return None


def shared_buyers(buyers: Sequence[BuyerConfig]) -> frozenset[str]:
    return frozenset(buyer.id for buyer in buyers if buyer.shared)


@dataclass
class ShareBook:
    """One shared lead's sales as they are made, across its tiers. `order` gives a tier's offers
    in post order; `settle` records what each post came to. Every offer is posted to at most once
    and only while `wants` it."""

    max_buyers: int
    shared: frozenset[str]  # ids of the buyers that take shared leads
    sales: list[Offer] = field(default_factory=list)  # in the order they sold
    maybe: list[Offer] = field(default_factory=list)  # ambiguous posts: a place each, kept
    posted: set[str] = field(default_factory=set)  # every buyer posted to (or tried)
    exclusive: Offer | None = None  # sold exclusive: the lead is gone
    stopped: bool = False  # an ambiguous post whose buyer says stop

    @property
    def places_left(self) -> int:
        return self.max_buyers - len(self.sales) - len(self.maybe)

    @property
    def done(self) -> bool:
        return self.exclusive is not None or self.stopped or self.places_left <= 0

    def order(self, ranked: Sequence[Offer]) -> list[Offer]:
        """A tier's offers (`ranked`: ranking.rank's order) in the order to post to them:
        the exclusive offers strictly above the sum of the shared plan (while no share is sold),
        then the best offer of each shared buyer not posted to yet."""
        fresh = [offer for offer in ranked if offer.buyer_id not in self.posted]
        shared: list[Offer] = []
        seen: set[str] = set()
        for offer in fresh:
            if offer.buyer_id in self.shared and offer.buyer_id not in seen:
                seen.add(offer.buyer_id)
                shared.append(offer)
        if self.sales or self.maybe:
            return shared
        plan_sum = sum((offer.price for offer in shared[: self.places_left]), Decimal(0))
        exclusive = [o for o in fresh if o.buyer_id not in self.shared and o.price > plan_sum]
        return exclusive + shared

    def wants(self, offer: Offer) -> bool:
        """Whether to post to `offer` now (it comes from `order`, in turn)."""
        if self.done or offer.buyer_id in self.posted:
            return False
        return offer.buyer_id in self.shared or not (self.sales or self.maybe)

    def settle(self, offer: Offer, result: PostResult) -> None:
        """What the post to `offer` came to; its buyer is never posted to again for this lead."""
        self.posted.add(offer.buyer_id)
        if result == "sold":
            if offer.buyer_id in self.shared:
                self.sales.append(offer)
            else:
                self.exclusive = offer
        elif result in ("ambiguous_go_on", "ambiguous_stop"):
            self.maybe.append(offer)
            self.stopped = result == "ambiguous_stop"
