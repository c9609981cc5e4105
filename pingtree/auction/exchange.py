"""Exchange mode (DESIGN §14): a seller pings with the lead less its consumer, is quoted what it
would earn, and posts the full lead only if the quote suits it.

    ping   the ping phase of an auction, and nothing after it: business rules → eligible buyers
           (filters, schedule, caps checked, breaker, pauses) → tiers in order, each pinged at
           once, under the seller's `ping_budget_ms` → the valid offers in post order (tier by
           tier, ranked inside each) held in the store under the ping's id → a `Quote`
    post   run by the router as a lead's auction (its idempotency claim keyed on the ping id,
           its record, its deliveries, its answer), with `sell_held` in place of the auction:
           the hold checked (404, 410, 409), then the held offers posted to in order with the
           usual fallback (cap and dedup reserved now, journal, ambiguous posts), no new pings

The quote is the first held offer's payout to the seller (the offer the post goes to first),
rounded down to the seller's `price_step`; a sale's payout is capped at the quote, so a post
never pays more than quoted. A fallback offer that pays less than the quote still sells (at its
own, lower payout, which the answer says): docs/exchange.md gives the reasons.

Reuses the auctioneer's pieces (eligible buyers, a tier's offers, one offer's sale): the rules,
the trace and the store calls are the ones every auction makes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from pingtree.auction.auctioneer import Auctioneer, standing_reason
from pingtree.auction.live import LiveAuction, Sale, loop_time
from pingtree.auction.result import AuctionResult, StoreFailedMidAuction
from pingtree.auction.wire import Wire
from pingtree.config import SellerConfig
from pingtree.config.tree import Tree
from pingtree.core import ids
from pingtree.core.errors import PingExpired, PingMismatch, PingNotFound, StoreUnavailable
from pingtree.core.exchange import (
    HeldPing,
    Quote,
    decode_held,
    encode_held,
    encode_quote,
    held_until,
    lead_facts,
    mismatched,
    posted_quote,
    quote,
    rebased,
)
from pingtree.core.lead import Lead
from pingtree.core.ranking import Offer, plan_tiers
from pingtree.core.rules import rejection
from pingtree.gates.suppression import NOTHING, Screening
from pingtree.store.outbox.base import Entry
from pingtree.store.state.guard import GuardedStore

# A hold is kept this long past its lapse, so that a late post is told 410 `ping_expired`, not
# 404 `ping_not_found`; after that it is forgotten (most pings are never posted).
GONE_KEPT_S = 300.0

RunAuction = Callable[[LiveAuction], Awaitable[AuctionResult]]


class Exchange:
    def __init__(
        self,
        store: GuardedStore,
        auctioneer: Auctioneer,
        paused: Callable[[], frozenset[str]] = frozenset,
        records: bool = False,
    ) -> None:
        """`records`: each quote goes to the ledger (its `quotes` table, through the store's
        outbox, as lead records do), at the ping and again, with its lead, at the post."""
        self._store = store
        self._auctioneer = auctioneer
        self._paused = paused
        self._records = records

    # the ping ---------------------------------------------------------------------------------

    async def ping(self, tree: Tree, seller: SellerConfig, lead: Lead) -> Quote:
        """The ping phase of `lead` (PII already left out), its offers held for the post."""
        self._store.refuse_if_down()
        auction = self._open_ping(tree, seller, lead)
        received_at = auction.received_at.timestamp()
        offers, reason = await self._ping_phase(auction)
        # The pings' breaker calls, at once (no outcome is recorded for a ping to take them).
        if auction.breaker_calls:
            with suppress(StoreUnavailable):
                await self._store.breaker_record_all(auction.breaker_calls)
        quoted = Quote(
            auction.id, seller.id, lead.vertical, lead.sub_id, received_at, False, test=lead.test
        )
        if not offers:
            await self._on_record(replace(quoted, reason=reason))
            return replace(quoted, reason=reason)
        expires_at = held_until(received_at, offers, seller.ping_ttl_s)
        bid = quote(offers[0].price, seller)
        held = HeldPing(
            ping_id=auction.id,
            seller_id=seller.id,
            received_at=received_at,
            expires_at=expires_at,
            quote=bid,
            facts=lead_facts(lead, tree.ledger_pii(lead.vertical)),
            offers=tuple(offers),
            ping=auction.finish(loop_time(), "unsold", reason="exchange_ping"),
        )
        keep_s = expires_at - time.time() + GONE_KEPT_S
        await self._store.held_bids().hold(seller.id, auction.id, encode_held(held), keep_s)
        quoted = replace(quoted, accepted=True, bid=bid, expires_at=expires_at)
        await self._on_record(quoted)
        return quoted

    async def _on_record(self, quoted: Quote) -> None:
        """The quote for the ledger, before the seller hears it (as a lead's record is)."""
        if self._records:
            await self._store.outbox().put([Entry("quote", quoted.ping_id, encode_quote(quoted))])

    def _open_ping(self, tree: Tree, seller: SellerConfig, lead: Lead) -> LiveAuction:
        """The ping's auction: named by the ping's id, with no consumer hashes (a ping has no
        phone or email: dedup is claimed at the post), its ping phase closing after the seller's
        `ping_budget_ms` (the auctioneer closes it `post_reserve_ms` before the deadline)."""
        now = loop_time()
        reserve_s = tree.settings.post_reserve_ms / 1000
        return LiveAuction(
            lead=lead,
            seller=seller,
            tree=tree,
            id=ids.ping_id(),
            received_at=datetime.now(UTC),
            started=now,
            deadline=now + seller.ping_budget_ms / 1000 + reserve_s,
            paused=self._paused(),
        )

    async def _ping_phase(self, auction: LiveAuction) -> tuple[list[Offer], str]:
        """The valid offers in the order a post tries them, or none and why."""
        lead, seller, tree = auction.lead, auction.seller, auction.tree
        rejected = rejection(
            lead, seller, require_consent=tree.settings.require_consent, buys=tree.buys
        )
        if rejected is not None:
            return [], rejected
        candidates = tree.candidates(lead.vertical, lead.state)
        auction.excluded = candidates.excluded
        # No consumer in a ping: the suppression lists screen it at the post (`_sell`).
        eligible = await self._auctioneer.eligible(auction, candidates.buyers, NOTHING)
        if not eligible:
            return [], "no_eligible_buyer"
        wire = Wire(auction)
        order = {c.buyer.id: c.order for c in eligible}
        held: list[Offer] = []
        for tier in plan_tiers([c.buyer for c in eligible], tree.settings.mode):
            offers = await self._auctioneer.tier_offers(auction, wire, tier, order)
            held += await self._auctioneer.ranked(auction, offers)
        return held, "no_valid_bid"

    # the post ---------------------------------------------------------------------------------

    def sell_held(self, seller: SellerConfig, ping_id: str) -> RunAuction:
        """The post's auction, for the router to run in place of a whole one."""

        async def run(auction: LiveAuction) -> AuctionResult:
            try:
                return await self._checked_sale(auction, seller, ping_id)
            except StoreUnavailable as exc:  # as Auctioneer.run: the router's table decides
                posted, unknown = auction.posted(), auction.unknown_post
                raise StoreFailedMidAuction(exc, posted=posted, unknown_post=unknown) from exc

        return run

    async def _checked_sale(
        self, auction: LiveAuction, seller: SellerConfig, ping_id: str
    ) -> AuctionResult:
        """The hold found, live and matching the post (404, 410, 409 before any post), sold."""
        body = await self._store.held_bids().get(seller.id, ping_id)
        if body is None:
            raise PingNotFound("no such ping for this seller", fields={"ping_id": "unknown"})
        held = decode_held(body)
        if auction.received_at.timestamp() >= held.expires_at:
            lapsed = "this ping's bids have lapsed: ping again"
            raise PingExpired(lapsed, fields={"ping_id": "expired"})
        marked = auction.tree.ledger_pii(auction.lead.vertical)
        differ = mismatched(held.facts, auction.lead, marked)
        if differ:
            raise PingMismatch("the post is not the lead that was pinged", fields=differ)
        shift_ms = (auction.received_at.timestamp() - held.received_at) * 1000
        # The ping phase first, its times before the post's receipt (negative offsets).
        before = [replace(e, at_ms=e.at_ms - round(shift_ms)) for e in held.ping.trace]
        auction.trace[:0] = before
        auction.excluded = held.ping.excluded
        # The consumer is here now: the compliance gates a ping could not pass (consent evidence,
        # outside checks, suppression lists) before any post.
        gated = await self._auctioneer.gates(auction)
        if isinstance(gated, AuctionResult):
            result = gated
        else:
            result = await self._sell(auction, held, gated, shift_ms)
        await self._on_record(posted_quote(held, auction.id))  # which lead the quote became
        # The live events say the lead came from a ping, and what it was quoted.
        return replace(result, outcome=replace(result.outcome, quote=held.quote))

    async def _sell(
        self, auction: LiveAuction, held: HeldPing, screened: Screening, shift_ms: float
    ) -> AuctionResult:
        wire = Wire(auction)
        for offer in held.offers:
            reason = self._post_skip(auction, offer.buyer_id, screened)
            if reason is not None:
                detail = screened.detail(offer.buyer_id) if reason == "suppressed" else None
                auction.note(
                    loop_time(), offer.buyer_id, "post", "skipped", reason=reason, detail=detail
                )
                continue
            sale = await self._auctioneer.sell(auction, wire, rebased(offer, shift_ms))
            if sale is not None:
                return _ended(auction, sale, held.quote)
        if auction.unknown_post is not None:
            unknown = auction.unknown_post
            pending = auction.finish(
                loop_time(), "pending", reason="post_unknown", buyer_id=unknown
            )
            return AuctionResult(pending)
        return AuctionResult(auction.finish(loop_time(), "unsold", reason="no_buyer_accepted"))

    @staticmethod
    def _post_skip(auction: LiveAuction, buyer_id: str, screened: Screening) -> str | None:
        """Why a held offer is not posted to: its buyer removed by a reload or paused since the
        ping, on a suppression list scoped to it, or its filters refusing what the checks added
        to the lead (a filter on a check's attribute)."""
        buyer = auction.tree.buyers.get(buyer_id)
        return "buyer_removed" if buyer is None else standing_reason(auction, buyer, screened)


def _ended(auction: LiveAuction, sale: Sale, quoted: Decimal) -> AuctionResult:
    """A sale (its payout never above the quote), or a pending post."""
    reason = "post_unknown" if sale.status == "pending" else None
    outcome = auction.finish(loop_time(), sale.status, sale=sale, reason=reason)
    if outcome.payout is not None and outcome.payout > quoted:
        outcome = replace(outcome, payout=quoted)
    return AuctionResult(outcome, won=sale.offer if sale.status == "sold" else None)
