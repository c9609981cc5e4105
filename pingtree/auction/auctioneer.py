"""One auction, from the business rules to the sale: eligible buyers → tiers in order, each
pinged at once under the ping deadline → valid offers ranked → reserve cap and dedup, journal,
post, fallback (DESIGN §3). Every decision comes from the pure modules; this file sequences I/O
across buyers, and one buyer's ping or post is the bidder's (bidder.py: build, call, read,
breaker, trace). Router (router.py) owns what surrounds it: the idempotency claim, failures,
recording, answers. The auction returns what it decided (result.py's `AuctionResult`), or raises
`StoreFailedMidAuction` with what it knew.

Store calls here fail safe: a sale's reserve, journal and confirm are sale_claims.py's (its
docstring says how).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from functools import partial

from pingtree.auction.bidder import Bidder
from pingtree.auction.compliance import ComplianceGates
from pingtree.auction.live import LiveAuction, Sale, loop_time
from pingtree.auction.ordering import OfferOrder
from pingtree.auction.ranking_stats import RankingStats
from pingtree.auction.result import AuctionResult, StoreFailedMidAuction
from pingtree.auction.sale_claims import cap_request, claim_post, confirm, reserve
from pingtree.auction.shared_sale import SharedSale
from pingtree.auction.wire import Wire
from pingtree.config import BuyerConfig
from pingtree.config.tree import Candidate
from pingtree.core.codec import Accepted, PostAnswer, Unknown
from pingtree.core.codec.transforms import MappingError
from pingtree.core.errors import StoreUnavailable
from pingtree.core.money import breakeven
from pingtree.core.ranking import Offer, plan_tiers
from pingtree.core.rules import (
    BidLimits,
    bid_reason,
    filter_reason,
    local_time,
    pause_reason,
    schedule_open,
)
from pingtree.gates.checks import Checks
from pingtree.gates.suppression import Screening, SuppressionGate
from pingtree.store.state.base import Admission, Admitted, Refused, Reservation
from pingtree.store.state.guard import GuardedStore


def standing_reason(auction: LiveAuction, buyer: BuyerConfig, screened: Screening) -> str | None:
    """Why `buyer` may not have this lead whatever its caps, schedule and breaker say: paused by
    an operator, on a suppression list scoped to it, or refused by its filters. Asked of every
    candidate (`_eligible`) and again of every held offer at an exchange post (exchange.py),
    where the checks' attributes have joined the lead since its ping."""
    return (
        pause_reason(buyer, auction.paused)
        or screened.skip_reason(buyer.id)
        or filter_reason(buyer, auction.lead, auction.seller.id)
    )


class Auctioneer:
    def __init__(
        self,
        store: GuardedStore,
        bidder: Bidder,
        checks: Checks | None = None,
        ranking_stats: RankingStats | None = None,
        suppression: SuppressionGate | None = None,
    ) -> None:
        self._store = store
        self._bidder = bidder
        self._order = OfferOrder(store, ranking_stats)
        self._compliance = ComplianceGates(checks, suppression or SuppressionGate(store))

    async def run(self, auction: LiveAuction) -> AuctionResult:
        """The auction to its end. If the store fails meanwhile: StoreFailedMidAuction, with what
        the auction knew (result.py); TakenOver and any other failure propagate as they are."""
        try:
            return await self._auction(auction)
        except StoreUnavailable as exc:
            posted, unknown_post = auction.posted(), auction.unknown_post
            raise StoreFailedMidAuction(exc, posted=posted, unknown_post=unknown_post) from exc

    # the auction ------------------------------------------------------------------------------

    async def gates(self, auction: LiveAuction) -> AuctionResult | Screening:
        """The business rules and the compliance gates (compliance.py): the auction's result when
        they reject the lead, else the suppression lists' screening."""
        return await self._compliance.gates(auction)

    async def ranked(self, auction: LiveAuction, offers: list[Offer]) -> list[Offer]:
        """A tier's offers in post order: by price or expected value, ties by the tie-break."""
        return await self._order.ranked(auction, offers)

    async def _auction(self, auction: LiveAuction) -> AuctionResult:
        gated = await self.gates(auction)
        if isinstance(gated, AuctionResult):
            return gated
        screened, lead, tree = gated, auction.lead, auction.tree
        candidates = tree.candidates(lead.vertical, lead.state)
        auction.excluded = candidates.excluded
        eligible = await self._eligible(auction, candidates.buyers, screened)
        wire = Wire(auction)
        order = {c.buyer.id: c.order for c in eligible}
        offers_seen = 0
        shares = SharedSale.open(auction)  # None: the lead is sold exclusive
        for tier in plan_tiers([c.buyer for c in eligible], tree.settings.mode):
            offers = await self._tier_offers(auction, wire, tier, order)
            offers_seen += len(offers)
            ranked = await self.ranked(auction, offers)
            if shares is not None:
                if await shares.sell_tier(ranked, partial(self._sell, auction, wire)):
                    break
                continue
            for offer in ranked:
                sale = await self._sell(auction, wire, offer)
                if sale is not None:
                    return self._ended(auction, sale)
        if shares is not None and (ended := shares.ended()) is not None:
            return ended
        if auction.unknown_post is not None:
            return AuctionResult(
                auction.finish(
                    loop_time(), "pending", reason="post_unknown", buyer_id=auction.unknown_post
                )
            )
        if not eligible:
            return AuctionResult(auction.finish(loop_time(), "unsold", reason="no_eligible_buyer"))
        reason = "no_valid_bid" if offers_seen == 0 else "no_buyer_accepted"
        return AuctionResult(auction.finish(loop_time(), "unsold", reason=reason))

    @staticmethod
    def _ended(auction: LiveAuction, sale: Sale) -> AuctionResult:
        """A sale, or a post whose ambiguous answer stops the lead (pending, post_unknown)."""
        reason = "post_unknown" if sale.status == "pending" else None
        outcome = auction.finish(loop_time(), sale.status, sale=sale, reason=reason)
        return AuctionResult(outcome, won=sale.offer if sale.status == "sold" else None)

    async def _eligible(
        self, auction: LiveAuction, candidates: tuple[Candidate, ...], screened: Screening
    ) -> list[Candidate]:
        """Candidates minus those paused, or skipped by a suppression list, filters, schedule,
        caps, dedup or their breaker. What the store knows (caps, dedup, breakers) is asked of
        every candidate the rules leave at once, in one call (one round trip on Redis,
        whatever their number: issue 20)."""
        lead, now_utc = auction.lead, auction.received_at
        policy = auction.tree.settings.breaker
        reasons: dict[str, str | None] = {}
        admissions: list[Admission] = []
        for candidate in candidates:
            buyer = candidate.buyer
            reason = standing_reason(auction, buyer, screened)
            timezone = auction.tree.config.buyer_timezone(buyer)
            if reason is None and not schedule_open(buyer.schedule, local_time(now_utc, timezone)):
                reason = "schedule"
            reasons[buyer.id] = reason
            if reason is None:
                limited = not lead.test and buyer.limits_sales
                caps = cap_request(auction, buyer, Decimal(0)) if limited else None
                breaker = policy if policy.mode != "off" else None
                admissions.append(Admission(buyer.id, caps, breaker))
        admitted = await self._store.admit(admissions)
        answers = {a.buyer_id: answer for a, answer in zip(admissions, admitted, strict=True)}
        eligible: list[Candidate] = []
        for candidate in candidates:
            buyer = candidate.buyer
            reason = reasons[buyer.id]
            if buyer.id in answers:
                reason = answers[buyer.id].refused or self._breaker(auction, buyer, answers)
            if reason is not None:
                detail = screened.detail(buyer.id) if reason == "suppressed" else None
                auction.note(loop_time(), buyer.id, "skip", "skipped", reason=reason, detail=detail)
            else:
                eligible.append(candidate)
        return eligible

    @staticmethod
    def _breaker(
        auction: LiveAuction, buyer: BuyerConfig, answers: dict[str, Admitted]
    ) -> str | None:
        """`breaker_open` when the buyer's breaker would not let it be called. In shadow mode
        it is called anyway, and the call the breaker would have skipped is traced (`skip`,
        `shadow`, `breaker_open`) and counted: an operator sees what enforcing it would do
        before turning it on."""
        if not answers[buyer.id].breaker_open:
            return None
        if auction.tree.settings.breaker.mode == "enforce":
            return "breaker_open"
        detail = "shadow mode: the breaker would skip this buyer; called anyway"
        auction.note(loop_time(), buyer.id, "skip", "shadow", reason="breaker_open", detail=detail)
        return None

    @staticmethod
    def _limits(auction: LiveAuction) -> BidLimits:
        settings = auction.tree.settings
        return BidLimits(
            settings.floor,
            settings.max_bid,
            breakeven(auction.seller, settings.min_margin),
        )

    async def _tier_offers(
        self, auction: LiveAuction, wire: Wire, tier: list[BuyerConfig], order: dict[str, int]
    ) -> list[Offer]:
        """A tier's valid offers: its fixed prices, and the bids of its buyers pinged at once."""
        offers: list[Offer] = []
        limits = self._limits(auction)
        for buyer in tier:
            if buyer.pricing == "fixed" and buyer.price is not None:
                offers.extend(self._fixed_offer(auction, buyer, buyer.price, limits, order))
        bidders = [b for b in tier if b.pricing == "bid"]
        if bidders:
            offers.extend(await self._ping_all(auction, wire, bidders, limits, order))
        return offers

    @staticmethod
    def _fixed_offer(
        auction: LiveAuction,
        buyer: BuyerConfig,
        price: Decimal,
        limits: BidLimits,
        order: dict[str, int],
    ) -> list[Offer]:
        """A fixed-price buyer is not pinged: its price is its offer, traced as an `offer` step."""
        now = loop_time()
        invalid = bid_reason(price, limits, None, 0)
        result = "bid" if invalid is None else "declined"
        auction.note(now, buyer.id, "offer", result, reason=invalid, bid=price)
        if invalid is not None:
            return []
        offer = Offer(
            buyer_id=buyer.id,
            price=price,
            priority=buyer.priority,
            answered_ms=auction.elapsed_ms(now),
            order=order[buyer.id],
        )
        return [offer]

    # pings ------------------------------------------------------------------------------------

    async def _ping_all(
        self,
        auction: LiveAuction,
        wire: Wire,
        bidders: list[BuyerConfig],
        limits: BidLimits,
        order: dict[str, int],
    ) -> list[Offer]:
        """Ping a tier at once; the phase closes when all have answered or at the ping deadline
        (the budget less the post reserve). Pings still open then are cancelled: `timeout`."""
        settings = auction.tree.settings
        ping_deadline = auction.deadline - settings.post_reserve_ms / 1000
        min_ping_s = settings.min_ping_ms / 1000
        tasks: dict[asyncio.Task[Offer | None], BuyerConfig] = {}
        phase_opened = loop_time()
        for buyer in bidders:
            assert buyer.ping is not None
            now = loop_time()
            timeout_s = min(buyer.ping.timeout_ms / 1000, ping_deadline - now)
            if timeout_s < min_ping_s:
                auction.note(now, buyer.id, "skip", "skipped", reason="no_time_left")
                continue
            ping = self._bidder.ping(auction, wire, buyer, timeout_s, limits, order[buyer.id])
            tasks[asyncio.create_task(ping)] = buyer
        if not tasks:
            return []
        done, pending = await asyncio.wait(tasks, timeout=max(ping_deadline - loop_time(), 0))
        for task in pending:
            task.cancel()
        offers = [offer for task in done if (offer := task.result()) is not None]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            for task in pending:
                open_s = loop_time() - phase_opened
                await self._bidder.ping_cut_off(auction, wire, tasks[task], open_s)
        return offers

    # posts ------------------------------------------------------------------------------------

    async def _sell(self, auction: LiveAuction, wire: Wire, offer: Offer) -> Sale | None:
        """Post to one offer. A Sale ends the auction (sold, or pending on an ambiguous answer);
        None means go on to the next offer."""
        buyer = auction.tree.buyers[offer.buyer_id]
        if buyer.post is None:
            return await self._assign(auction, buyer, offer)
        now = loop_time()
        timeout_s = min(buyer.post.timeout_ms / 1000, auction.deadline - now)
        skip, detail = None, None
        if offer.expires_at_ms is not None and auction.elapsed_ms(now) > offer.expires_at_ms:
            skip = "bid_expired"
        elif timeout_s < auction.tree.settings.min_ping_ms / 1000:
            skip = "no_time_left"
        built = wire.post(buyer, offer) if skip is None else None
        if isinstance(built, MappingError):
            skip, detail = "mapping", str(built)
        reservation: Reservation | None = None
        if skip is None and built is not None and not isinstance(built, MappingError):
            request = None
            if not auction.lead.test and buyer.limits_sales:
                request = cap_request(auction, buyer, offer.price)
            claimed = await claim_post(self._store, auction, buyer.id, request)
            if isinstance(claimed, Refused):
                skip = claimed.reason
            else:
                reservation = claimed.reservation
        if skip is not None or built is None or isinstance(built, MappingError):
            auction.note(
                loop_time(),
                buyer.id,
                "post",
                "skipped",
                reason=skip,
                bid=offer.price,
                detail=detail,
            )
            return None
        answer = await self._bidder.post(auction, buyer, offer, built, timeout_s)
        return await self._settle(auction, buyer, offer, reservation, answer)

    async def _assign(self, auction: LiveAuction, buyer: BuyerConfig, offer: Offer) -> Sale | None:
        """A delivery buyer (pricing: fixed, no post) buys by assignment: its caps, schedule and
        dedup decide, and the lead reaches it through its deliveries once the sale is recorded.
        With no post there is nothing ambiguous to journal."""
        reservation: Reservation | None = None
        if not auction.lead.test and buyer.limits_sales:
            reserved = await reserve(self._store, cap_request(auction, buyer, offer.price))
            if isinstance(reserved, Refused):
                auction.note(
                    loop_time(),
                    buyer.id,
                    "post",
                    "skipped",
                    reason=reserved.reason,
                    bid=offer.price,
                )
                return None
            reservation = reserved
        confirm(auction, reservation)
        detail = "assigned: no post, the lead goes out by its deliveries"
        if offer.buyer_id in auction.rank_notes:  # ordering.py: why it ranked where it did
            detail += f"; {auction.rank_notes[offer.buyer_id]}"
        auction.note(loop_time(), buyer.id, "post", "accepted", bid=offer.price, detail=detail)
        return Sale("sold", offer)

    async def _settle(
        self,
        auction: LiveAuction,
        buyer: BuyerConfig,
        offer: Offer,
        reservation: Reservation | None,
        answer: PostAnswer,
    ) -> Sale | None:
        """Keep or release the cap and dedup claim by what the post's answer means."""
        if isinstance(answer, Unknown):
            # Ambiguous: the buyer may have taken it. Keep the cap and dedup claim (never over a
            # cap) and stop, unless the buyer's config lets the lead go on: on_post_timeout when
            # no status came back, on_post_unknown when one did.
            confirm(auction, reservation)
            then = buyer.on_post_timeout if answer.status is None else buyer.on_post_unknown
            if then == "stop":
                return Sale("pending", offer)
            auction.unknown_post = auction.unknown_post or buyer.id
            return None
        if isinstance(answer, Accepted):
            confirm(auction, reservation)
            return Sale("sold", offer, answer.redirect_url, answer.buyer_lead_id)
        if reservation is not None:
            await self._store.release_eventually(reservation)
        return None

    # The exchange's phases (auction/exchange.py) run these pieces on their own: a seller's
    # ping is eligible buyers and tier offers only; its post sells held offers, without pings.
    eligible = _eligible
    tier_offers = _tier_offers
    sell = _sell
