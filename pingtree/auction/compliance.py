"""The gates before any ping, for the auctioneer (auctioneer.py) and the exchange's post
(exchange.py): the business rules, then the compliance gates (DESIGN §16)."""

from __future__ import annotations

from pingtree.auction.live import LiveAuction, loop_time
from pingtree.auction.result import AuctionResult
from pingtree.core.rules import rejection
from pingtree.gates.checks import Checks
from pingtree.gates.consent import consent_rejection
from pingtree.gates.suppression import Screening, SuppressionGate

__all__ = ["ComplianceGates"]


class ComplianceGates:
    def __init__(self, checks: Checks | None, suppression: SuppressionGate) -> None:
        self._checks = checks
        self._suppression = suppression

    async def gates(self, auction: LiveAuction) -> AuctionResult | Screening:
        """The business rules, then the compliance gates (DESIGN §16): consent evidence, the
        outside checks (which may add attributes to the lead, `auction.lead`, that the filters
        read), the suppression lists. A rejection ends the auction (its result); otherwise the
        lists' screening, which skips the buyers a list is scoped to. An exchange post passes
        them too (auction/exchange.py): its ping carried no consumer to check."""
        lead, seller, tree = auction.lead, auction.seller, auction.tree
        rejected = rejection(
            lead, seller, require_consent=tree.settings.require_consent, buys=tree.buys
        )
        rejected = rejected or consent_rejection(auction)
        if rejected is None and self._checks is not None:
            rejected = await self._checks.rejection(auction)
        if rejected is not None:
            return AuctionResult(auction.finish(loop_time(), "rejected", reason=rejected))
        screened = await self._suppression.screen(lead)  # gates/suppression.py
        if screened.rejected_by is not None:
            detail = f"on suppression list {screened.rejected_by} (scope: all)"
            auction.note(loop_time(), "*", "skip", "rejected", reason="suppressed", detail=detail)
            return AuctionResult(auction.finish(loop_time(), "rejected", reason="suppressed"))
        return screened
