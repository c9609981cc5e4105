"""Selling a lead shared (DESIGN §14; the rules, pure, are core/shares.py's): the auctioneer's
one post (`_sell`: cap reservation and dedup claim, journal entry, post, settle) made once per
share, in the order the share book gives, and the end of such an auction as an AuctionResult.

The auctioneer opens one (`SharedSale.open`) for a lead its seller or vertical sells shared, hands
it each tier's ranked offers, and asks it at the end how the lead ended (`ended`): None when no
one bought it, and the auctioneer's own unsold or pending answer stands."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from pingtree.auction.live import LiveAuction, Sale, loop_time
from pingtree.auction.result import AuctionResult
from pingtree.core.errors import StoreUnavailable
from pingtree.core.ranking import Offer
from pingtree.core.shares import PostResult, ShareBook, share_terms

log = logging.getLogger(__name__)

SellOne = Callable[[Offer], Awaitable[Sale | None]]


@dataclass
class SharedSale:
    auction: LiveAuction
    book: ShareBook
    sold: list[Sale] = field(default_factory=list)  # the shares, best first
    ambiguous: Sale | None = None  # the post that stopped the lead, when one did

    @classmethod
    def open(cls, auction: LiveAuction) -> SharedSale | None:
        """The shared sale of this auction's lead; None when the lead is sold exclusive."""
        config = auction.tree.config
        max_buyers = share_terms(auction.seller, config.verticals.get(auction.lead.vertical))
        if max_buyers is None:
            return None
        shared = frozenset(buyer.id for buyer in auction.tree.buyers.values() if buyer.shared)
        return cls(auction, ShareBook(max_buyers, shared))

    async def sell_tier(self, ranked: Sequence[Offer], sell: SellOne) -> bool:
        """Post to this tier's offers (ranking.rank's order) as the book says; whether the lead
        is done with (every place taken, sold exclusive, or stopped by an ambiguous post)."""
        for offer in self.book.order(ranked):
            if self.book.done:
                break
            if not self.book.wants(offer):
                continue
            try:
                sale = await sell(offer)
            except StoreUnavailable:
                if not self.sold:
                    raise  # nothing sold: the auction's failure, as an exclusive lead's (router.py)
                # Shares are sold and stand: the lead ends with them. The share whose reservation
                # or journal entry failed was never posted (the auctioneer freed its slot), and no
                # other is, without a store to reserve and journal it.
                log.warning("lead %s: the store failed: sold shared to fewer", self.auction.id)
                self.book.stopped = True
                return True
            result = self._result(offer, sale)
            self.book.settle(offer, result)
            if sale is not None and result == "sold":
                self.sold.append(sale)
            elif sale is not None:
                self.ambiguous = sale
        return self.book.done

    def _result(self, offer: Offer, sale: Sale | None) -> PostResult:
        if sale is not None:
            return "sold" if sale.status == "sold" else "ambiguous_stop"
        # No sale: refused, or an ambiguous answer its buyer lets the lead go on past (its trace
        # event, the last of that buyer's posts, says so); either way it was the buyer's one post.
        for event in reversed(self.auction.trace):
            if event.buyer_id == offer.buyer_id and event.step == "post":
                return "ambiguous_go_on" if event.result == "unknown" else "refused"
        return "refused"

    def ended(self) -> AuctionResult | None:
        """How the lead ended if anyone bought it (or stopped it): sold exclusive, sold shared
        (also when an ambiguous post stopped it after a share sold: its claim stays held for the
        operator), or pending on an ambiguous post before any sale."""
        exclusive = next((s for s in self.sold if s.offer is self.book.exclusive), None)
        if exclusive is not None:
            outcome = self.auction.finish(loop_time(), "sold", sale=exclusive)
            return AuctionResult(outcome, won=exclusive.offer)
        if self.sold:
            outcome = self.auction.finish(loop_time(), "sold", shares=tuple(self.sold))
            offers = tuple(sale.offer for sale in self.sold)
            return AuctionResult(outcome, won=offers[0], won_shares=offers)
        if self.ambiguous is not None:
            outcome = self.auction.finish(
                loop_time(), "pending", sale=self.ambiguous, reason="post_unknown"
            )
            return AuctionResult(outcome)
        return None
