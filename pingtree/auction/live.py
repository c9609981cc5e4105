"""One lead's auction while it runs (`LiveAuction`): its clocks, its trace as it is written, and
how it is frozen into the finished record (core/outcome.py's `Outcome`, plain data that store/ and
deliveries/ read without knowing this module).

Two clocks, never mixed. The wall clock is read once per auction, at receipt (`received_at`):
the outcome's time, the caps' buyer-local hour and day, the buyers' schedules and the wire's
`today` all read that one reading, so an auction never straddles two hours or two days. Deadlines
and the trace's offsets are on the event loop's clock (`loop_time`): monotonic, so a wall clock
stepped meanwhile (NTP) moves no deadline.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pingtree.config import SellerConfig
from pingtree.config.tree import Tree
from pingtree.core import ids
from pingtree.core.lead import Lead
from pingtree.core.money import seller_payout
from pingtree.core.outcome import Outcome, SaleLine, Status, Step, TraceEvent
from pingtree.core.ranking import Offer
from pingtree.store.state.base import BreakerCall, Reservation


def loop_time() -> float:
    """The auction's clock for deadlines and trace offsets: the running event loop's, in seconds."""
    return asyncio.get_running_loop().time()


@dataclass(frozen=True, slots=True)
class Sale:
    """How an auction ended with a buyer: sold, or pending on an ambiguous post (post_unknown).
    `offer` is the offer posted to (or assigned): the buyer, the price and its ping's ids."""

    status: Literal["sold", "pending"]
    offer: Offer
    redirect_url: str | None = None
    buyer_lead_id: str | None = None


@dataclass
class LiveAuction:
    """One lead's auction in progress: what it runs on, its clocks, its trace so far. Written by
    the auctioneer and its bidder while it runs; the router opens it, and freezes what it holds
    when the auction could not finish (`finish`), or stands in with it for an earlier auction
    of the same key whose router died."""

    lead: Lead
    seller: SellerConfig
    tree: Tree  # the config it started on: a reload meanwhile does not change it
    id: str
    received_at: datetime  # the wall clock, read once (the module's docstring)
    started: float  # loop_time() at receipt
    deadline: float  # loop_time() when the budget runs out
    dedup_keys: tuple[str, ...] = ()  # keyed hashes of the consumer's phone and email
    excluded: tuple[tuple[str, int], ...] = ()  # buyers the index left out, by reason
    paused: frozenset[str] = frozenset()  # buyers an operator paused, as the auction opened
    trace: list[TraceEvent] = field(default_factory=list)
    unknown_post: str | None = None  # the buyer whose post was ambiguous, when the lead went on
    # Why each offer ranked where it did (auction/ordering.py), for the winner's post event.
    rank_notes: dict[str, str] = field(default_factory=dict)
    # Store writes that can wait for the auction's last (Store.finish: one round trip on Redis,
    # issue 20): the pings' and posts' breaker calls, and the slots of sales to confirm.
    breaker_calls: list[BreakerCall] = field(default_factory=list)
    confirms: list[Reservation] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        tree: Tree,
        seller: SellerConfig,
        lead: Lead,
        now: float,
        paused: frozenset[str] = frozenset(),
    ) -> LiveAuction:
        """A new auction of `lead` on `tree` (its snapshot, whatever reloads come), received now:
        its loop clock started at `now` (`loop_time()`), its deadline the tree's budget after it,
        the wall clock read here, once; `paused` the buyers it skips (auction/pauses.py)."""
        return cls(
            lead=lead,
            seller=seller,
            tree=tree,
            id=ids.lead_id(),
            received_at=datetime.now(UTC),
            started=now,
            deadline=now + tree.settings.budget_ms / 1000,
            dedup_keys=tree.dedup_keys(lead.phone, lead.email),
            paused=paused,
        )

    def elapsed_ms(self, now: float) -> int:
        return int((now - self.started) * 1000)

    def note(self, now: float, buyer_id: str, step: Step, result: str, **kw: Any) -> None:
        self.trace.append(TraceEvent(self.elapsed_ms(now), buyer_id, step, result, **kw))

    def posted(self) -> bool:
        """Whether a post went out (or a delivery buyer was assigned the lead) and was answered.
        Store calls and posts take turns, so the trace knows every such post."""
        return any(event.step == "post" and event.result != "skipped" for event in self.trace)

    def finish(
        self,
        now: float,
        status: Status,
        *,
        reason: str | None = None,
        sale: Sale | None = None,
        buyer_id: str | None = None,
        shares: tuple[Sale, ...] = (),
    ) -> Outcome:
        """The finished record: this auction's trace and what it came to, frozen. A lead sold
        shared gives its `shares` (best first) and no `sale`: the first stands for the sale, the
        price and payout are the sums (core/outcome.py)."""
        if shares:
            return self._finish_shared(now, status, reason, shares)
        sold = sale is not None and status == "sold"
        return Outcome(
            id=self.id,
            seller_id=self.seller.id,
            lead_id=self.lead.lead_id,
            vertical=self.lead.vertical,
            status=status,
            reason=reason,
            buyer_id=sale.offer.buyer_id if sale else buyer_id,
            price=sale.offer.price if sale else None,
            payout=seller_payout(sale.offer.price, self.seller) if sale and sold else None,
            redirect_url=sale.redirect_url if sale else None,
            buyer_lead_id=sale.buyer_lead_id if sale else None,
            received_at=self.received_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            auction_ms=self.elapsed_ms(now),
            test=self.lead.test,
            excluded=self.excluded,
            trace=tuple(self.trace),
        )

    def _finish_shared(
        self, now: float, status: Status, reason: str | None, shares: tuple[Sale, ...]
    ) -> Outcome:
        # The seller is paid per sale (its revshare of each price, or its fixed payout for each),
        # each rounded down on its own: the payout is their sum (docs/shared-leads.md).
        lines = tuple(
            SaleLine(
                share.offer.buyer_id,
                share.offer.price,
                seller_payout(share.offer.price, self.seller),
                share.buyer_lead_id,
                share.redirect_url,
            )
            for share in shares
        )
        first = shares[0]
        outcome = self.finish(now, status, reason=reason, sale=first)
        return replace(
            outcome,
            price=sum((line.price for line in lines), Decimal(0)),
            payout=sum((line.payout for line in lines), Decimal(0)),
            sales=lines,
        )
