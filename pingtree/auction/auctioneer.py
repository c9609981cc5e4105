"""One auction, from the business rules to the sale: eligible buyers → tiers in order, each
pinged at once under the ping deadline → valid offers ranked → reserve cap and dedup, journal,
post, fallback (DESIGN §3). Every decision comes from the pure modules; this file sequences I/O.
Router (router.py) owns what surrounds it: the idempotency claim, failures, recording, answers.

Store calls here fail safe (router.py's docstring has the table): a reserve or journal that fails
means no post; a confirm or breaker record that fails is ignored on the safe side.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import UTC, datetime
from decimal import Decimal

from pingtree.auction.loop_lag import LoopLag
from pingtree.auction.wire import Wire, mask_secrets, read_ping, read_post
from pingtree.config import BuyerConfig
from pingtree.config.tree import Candidate
from pingtree.core import ids
from pingtree.core.breaker import call_evidence
from pingtree.core.codec import Accepted, Decline, Failure, PostAnswer, Unknown
from pingtree.core.codec.transforms import MappingError
from pingtree.core.errors import BuyerTimeout, StoreUnavailable, TakenOver
from pingtree.core.lead import redact
from pingtree.core.money import breakeven
from pingtree.core.outcome import Auction, Outcome, Sale
from pingtree.core.ranking import Offer, plan_tiers, rank
from pingtree.core.rules import (
    BidLimits,
    bid_reason,
    cap_windows,
    filter_reason,
    local_time,
    schedule_open,
)
from pingtree.metrics import Metrics
from pingtree.store.state.base import CapRequest, Refused, Reservation
from pingtree.store.state.guard import GuardedStore
from pingtree.transport.client import Call, Transport, call

log = logging.getLogger(__name__)


class Auctioneer:
    def __init__(
        self,
        store: GuardedStore,
        transport: Transport,
        loop_lag: LoopLag | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """`loop_lag`: this process's event loop lag, so that a timeout while the loop ran late
        is not held against the buyer (without one, every timeout counts)."""
        self._store = store
        self._transport = transport
        self._loop_lag = loop_lag
        self._metrics = metrics

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    async def run(self, auction: Auction) -> Outcome:
        return await self._auction(auction)

    # the auction ------------------------------------------------------------------------------

    async def _auction(self, auction: Auction) -> Outcome:
        lead, seller, tree = auction.lead, auction.seller, auction.tree
        if tree.settings.require_consent and lead.tcpa_consent is not True:
            return auction.finish(self._now(), "rejected", reason="consent_required")
        if seller.verticals is not None and lead.vertical not in seller.verticals:
            return auction.finish(self._now(), "rejected", reason="vertical_not_allowed")
        if not tree.buys(lead.vertical):
            return auction.finish(self._now(), "rejected", reason="no_buyer_for_vertical")
        candidates = tree.candidates(lead.vertical, lead.state)
        auction.excluded = candidates.excluded
        eligible = await self._eligible(auction, candidates.buyers)
        wire = Wire(auction)
        for tier in plan_tiers([c.buyer for c in eligible], tree.settings.mode):
            sale = await self._run_tier(
                auction, wire, tier, {c.buyer.id: c.order for c in eligible}
            )
            if sale is not None:
                return auction.finish(
                    self._now(),
                    sale.status,
                    sale=sale,
                    reason="post_unknown" if sale.status == "pending" else None,
                )
        if auction.unknown_post is not None:
            return auction.finish(
                self._now(), "pending", reason="post_unknown", buyer_id=auction.unknown_post
            )
        if not eligible:
            return auction.finish(self._now(), "unsold", reason="no_eligible_buyer")
        return auction.finish(
            self._now(),
            "unsold",
            reason="no_valid_bid" if auction.offers_seen == 0 else "no_buyer_accepted",
        )

    async def _eligible(
        self, auction: Auction, candidates: tuple[Candidate, ...]
    ) -> list[Candidate]:
        """Candidates minus those skipped by filters, schedule, caps, dedup or their breaker."""
        lead, now_utc = auction.lead, auction.received_at
        eligible: list[Candidate] = []
        for candidate in candidates:
            buyer = candidate.buyer
            reason = filter_reason(buyer, lead, auction.seller.id)
            timezone = auction.tree.config.buyer_timezone(buyer)
            if reason is None and not schedule_open(buyer.schedule, local_time(now_utc, timezone)):
                reason = "schedule"
            if reason is None and not lead.test and buyer.limits_sales:
                refused = await self._store.check(self._cap_request(auction, buyer, Decimal(0)))
                reason = refused.reason if refused else None
            if reason is None and not await self._breaker_admits(auction, buyer):
                reason = "breaker_open"
            if reason is not None:
                auction.note(self._now(), buyer.id, "skip", "skipped", reason=reason)
            else:
                eligible.append(candidate)
        return eligible

    async def _breaker_admits(self, auction: Auction, buyer: BuyerConfig) -> bool:
        """Whether the breaker lets this buyer be called. In shadow mode it always does, and a
        call the breaker would have skipped is traced (`skip`, `shadow`, `breaker_open`) and
        counted: an operator sees what enforcing it would do before turning it on."""
        policy = auction.tree.settings.breaker
        if policy.mode == "off":
            return True
        if await self._store.breaker_admit(buyer.id, policy):
            return True
        if policy.mode == "enforce":
            return False
        detail = "shadow mode: the breaker would skip this buyer; called anyway"
        auction.note(self._now(), buyer.id, "skip", "shadow", reason="breaker_open", detail=detail)
        return True

    def _cap_request(self, auction: Auction, buyer: BuyerConfig, price: Decimal) -> CapRequest:
        dedup = buyer.dedup_days is not None
        return CapRequest(
            buyer_id=buyer.id,
            lead_id=auction.id,
            caps=buyer.caps,
            windows=cap_windows(datetime.now(UTC), auction.tree.config.buyer_timezone(buyer)),
            price=price,
            dedup_keys=auction.dedup_keys if dedup else (),
            dedup_ttl_s=buyer.dedup_days * 86400 if buyer.dedup_days else None,
        )

    def _limits(self, auction: Auction) -> BidLimits:
        settings = auction.tree.settings
        return BidLimits(
            settings.floor,
            settings.max_bid,
            breakeven(auction.seller, settings.min_margin),
        )

    async def _run_tier(
        self, auction: Auction, wire: Wire, tier: list[BuyerConfig], order: dict[str, int]
    ) -> Sale | None:
        offers: list[Offer] = []
        limits = self._limits(auction)
        for buyer in tier:
            if buyer.pricing == "fixed" and buyer.price is not None:
                offers.extend(self._fixed_offer(auction, buyer, buyer.price, limits, order))
        bidders = [b for b in tier if b.pricing == "bid"]
        if bidders:
            offers.extend(await self._ping_all(auction, wire, bidders, limits, order))
        auction.offers_seen += len(offers)
        for offer in rank(offers):
            sale = await self._sell(auction, wire, offer)
            if sale is not None:
                return sale
        return None

    def _fixed_offer(
        self,
        auction: Auction,
        buyer: BuyerConfig,
        price: Decimal,
        limits: BidLimits,
        order: dict[str, int],
    ) -> list[Offer]:
        """A fixed-price buyer is not pinged: its price is its offer, traced as an `offer` step."""
        now = self._now()
        invalid = bid_reason(price, limits, None, 0)
        result = "bid" if invalid is None else "declined"
        auction.note(now, buyer.id, "offer", result, reason=invalid, bid=price)
        if invalid is not None:
            return []
        return [Offer(buyer.id, price, buyer.priority, auction.elapsed_ms(now), order[buyer.id])]

    # pings ------------------------------------------------------------------------------------

    async def _ping_all(
        self,
        auction: Auction,
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
        phase_opened = self._now()
        for buyer in bidders:
            assert buyer.ping is not None
            now = self._now()
            timeout_s = min(buyer.ping.timeout_ms / 1000, ping_deadline - now)
            if timeout_s < min_ping_s:
                auction.note(now, buyer.id, "skip", "skipped", reason="no_time_left")
                continue
            task = asyncio.create_task(
                self._ping(auction, wire, buyer, timeout_s, limits, order[buyer.id])
            )
            tasks[task] = buyer
        if not tasks:
            return []
        done, pending = await asyncio.wait(tasks, timeout=max(ping_deadline - self._now(), 0))
        for task in pending:
            task.cancel()
        offers = [offer for task in done if (offer := task.result()) is not None]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            for task in pending:
                buyer = tasks[task]
                open_s = self._now() - phase_opened
                excused = await self._breaker_record(buyer.id, False, auction, open_s)
                detail = "ping phase closed" + (f"; {excused}" if excused else "")
                auction.note(
                    self._now(),
                    buyer.id,
                    "ping",
                    "failed",
                    reason="timeout",
                    detail=detail,
                    pii=wire.ping_pii(buyer) or None,
                )
        return offers

    async def _ping(
        self,
        auction: Auction,
        wire: Wire,
        buyer: BuyerConfig,
        timeout_s: float,
        limits: BidLimits,
        order: int,
    ) -> Offer | None:
        ping_id = ids.ping_id()
        built = wire.ping(buyer, ping_id)
        if isinstance(built, MappingError):
            auction.note(
                self._now(), buyer.id, "ping", "skipped", reason="mapping", detail=str(built)
            )
            return None
        target, body = built
        answered = await call(
            self._transport,
            target,
            body,
            timeout_s,
            auction.tree.max_response,
            idempotent=True,  # a ping changes nothing at the buyer: safe to retry on a fresh socket
            tls=buyer.ping.tls if buyer.ping is not None else None,
        )
        answer = read_ping(buyer, answered)
        excused = await self._record_call(buyer.id, answered, answer, auction)
        now = self._now()
        marks = {"pii": wire.ping_pii(buyer) or None, **answered.timing}
        if isinstance(answer, Decline | Failure):
            result, reason, detail = _refusal(answer, "declined", "declined")
            words = _buyer_words(detail, auction, buyer)
            words += f"; {excused}" if excused else ""
            auction.note(now, buyer.id, "ping", result, reason=reason, detail=words, **marks)
            return None
        elapsed = auction.elapsed_ms(now)
        invalid = bid_reason(answer.price, limits, None, elapsed)
        result = "bid" if invalid is None else "declined"
        auction.note(now, buyer.id, "ping", result, reason=invalid, bid=answer.price, **marks)
        if invalid is not None:
            return None
        expires = None if answer.expires_in_ms is None else elapsed + answer.expires_in_ms
        return Offer(
            buyer.id,
            answer.price,
            buyer.priority,
            elapsed,
            order,
            ping_id,
            answer.bid_id,
            expires,
            tuple(answer.carried.items()),
        )

    # posts ------------------------------------------------------------------------------------

    async def _sell(self, auction: Auction, wire: Wire, offer: Offer) -> Sale | None:
        """Post to one offer. A Sale ends the auction (sold, or pending on an ambiguous answer);
        None means go on to the next offer."""
        buyer = auction.tree.buyers[offer.buyer_id]
        if buyer.post is None:
            return await self._assign(auction, buyer, offer)
        now = self._now()
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
        if skip is None and not auction.lead.test and buyer.limits_sales:
            reserved = await self._reserve(self._cap_request(auction, buyer, offer.price))
            if isinstance(reserved, Refused):
                skip = reserved.reason
            else:
                reservation = reserved
        if skip is not None or built is None or isinstance(built, MappingError):
            auction.note(
                self._now(),
                buyer.id,
                "post",
                "skipped",
                reason=skip,
                bid=offer.price,
                detail=detail,
            )
            return None
        await self._journal_post(auction, buyer.id, reservation)
        target, body = built
        answered = await call(
            self._transport, target, body, timeout_s, auction.tree.max_response, tls=buyer.post.tls
        )
        answer = read_post(buyer, answered)
        await self._record_call(buyer.id, answered, answer, auction)
        return await self._settle(auction, buyer, offer, reservation, answered, answer)

    async def _assign(self, auction: Auction, buyer: BuyerConfig, offer: Offer) -> Sale | None:
        """A delivery buyer (pricing: fixed, no post) buys by assignment: its caps, schedule and
        dedup decide, and the lead reaches it through its deliveries once the sale is recorded.
        With no post there is nothing ambiguous to journal."""
        reservation: Reservation | None = None
        if not auction.lead.test and buyer.limits_sales:
            reserved = await self._reserve(self._cap_request(auction, buyer, offer.price))
            if isinstance(reserved, Refused):
                auction.note(
                    self._now(),
                    buyer.id,
                    "post",
                    "skipped",
                    reason=reserved.reason,
                    bid=offer.price,
                )
                return None
            reservation = reserved
        await self._confirm(reservation)
        detail = "assigned: no post, the lead goes out by its deliveries"
        auction.note(self._now(), buyer.id, "post", "accepted", bid=offer.price, detail=detail)
        auction.won = offer
        return Sale("sold", buyer.id, offer.price)

    async def _settle(
        self,
        auction: Auction,
        buyer: BuyerConfig,
        offer: Offer,
        reservation: Reservation | None,
        answered: Call,
        answer: PostAnswer,
    ) -> Sale | None:
        """Keep or release the cap and dedup claim by what the post's answer means."""
        now, price = self._now(), offer.price
        if isinstance(answer, Unknown):
            # Ambiguous (no answer, or a 2xx that says neither yes nor no): the buyer may have
            # taken it. Keep the cap and dedup claim (never over a cap) and stop, unless the
            # buyer's config lets the lead go on: on_post_timeout when no status came back,
            # on_post_unknown when one did.
            words = _buyer_words(answer.detail, auction, buyer)
            auction.note(
                now,
                buyer.id,
                "post",
                "unknown",
                reason="post_unknown",
                bid=price,
                detail=words,
                **answered.timing,
            )
            await self._confirm(reservation)
            then = buyer.on_post_timeout if answer.status is None else buyer.on_post_unknown
            if then == "stop":
                return Sale("pending", buyer.id, price)
            auction.unknown_post = auction.unknown_post or buyer.id
            return None
        if isinstance(answer, Accepted):
            await self._confirm(reservation)
            auction.note(now, buyer.id, "post", "accepted", bid=price, **answered.timing)
            auction.won = offer
            return Sale("sold", buyer.id, price, answer.redirect_url, answer.buyer_lead_id)
        if reservation is not None:
            await self._store.release_eventually(reservation)
        result, reason, detail = _refusal(answer, "rejected", "post_rejected")
        words = _buyer_words(detail, auction, buyer)
        auction.note(
            now, buyer.id, "post", result, reason=reason, bid=price, detail=words, **answered.timing
        )
        return None

    # store calls that fail safe (the table in the module docstring) ---------------------------

    async def _reserve(self, request: CapRequest) -> Reservation | Refused:
        try:
            return await self._store.reserve(request)
        except StoreUnavailable:
            # The script may have run and only its answer been lost: free what it may hold.
            await self._store.release_eventually(Reservation(request))
            raise

    async def _journal_post(
        self, auction: Auction, buyer_id: str, reservation: Reservation | None
    ) -> None:
        """Journal the post before it goes out. If the store fails, or another router took the
        lead over (its journal is sealed), the post does not go out and the slot is freed."""
        try:
            journaled = await self._store.journal_post(auction.id, buyer_id)
        except StoreUnavailable:
            if reservation is not None:
                await self._store.release_eventually(reservation)
            raise
        if not journaled:
            if reservation is not None:
                await self._store.release_eventually(reservation)
            log.warning("auction %s outlived its lease: another router took it over", auction.id)
            raise TakenOver(
                "another router took this lead over when this one outlived its lease; "
                "resend it to read the answer"
            )

    async def _confirm(self, reservation: Reservation | None) -> None:
        if reservation is None:
            return
        # Unconfirmed, the slot stays counted until its held marker expires: the safe side.
        with suppress(StoreUnavailable):
            await self._store.confirm(reservation)

    async def _record_call(
        self, buyer_id: str, answered: Call, answer: object, auction: Auction
    ) -> str | None:
        """Count one ping or post in the buyer's breaker (see `_breaker_record`)."""
        timed_out_s = None
        if isinstance(answered.outcome, BuyerTimeout):
            timed_out_s = (answered.timing.get("duration_ms") or 0) / 1000
        # A post nobody can read as a yes or a no (Unknown) counts against the buyer, as a failure.
        ok = not isinstance(answer, Failure | Unknown)
        return await self._breaker_record(buyer_id, ok, auction, timed_out_s)

    async def _breaker_record(
        self, buyer_id: str, ok: bool, auction: Auction, timed_out_s: float | None = None
    ) -> str | None:
        """Count one call in the buyer's breaker, unless it timed out (after `timed_out_s`)
        while this router's event loop ran late: then the trace's word on why it was not."""
        policy = auction.tree.settings.breaker
        if policy.mode == "off":
            return None
        lag_s = 0.0
        if timed_out_s is not None and self._loop_lag is not None:
            lag_s = self._loop_lag.worst_since(self._now() - timed_out_s)
        evidence = call_evidence(ok, timed_out_s is not None, lag_s, policy)
        if evidence is None:
            if self._metrics is not None:
                self._metrics.breaker_excused.labels(buyer_id).inc()
            return (
                f"this router's event loop ran {lag_s * 1000:.0f} ms late meanwhile: not "
                "counted against the buyer's breaker"
            )
        # The breaker's statistics miss a call: no lead's state depends on it.
        with suppress(StoreUnavailable):
            await self._store.breaker_record(buyer_id, evidence, policy)
        return None


def _buyer_words(detail: str, auction: Auction, buyer: BuyerConfig) -> str:
    """A buyer's words for the trace, as they came less the lead's PII and the buyer's own
    secrets: a buyer may echo the phone it was sent, or the credentials."""
    return mask_secrets(redact(detail, auction.lead), buyer)


def _refusal(answer: Decline | Failure, result: str, reason: str) -> tuple[str, str, str]:
    """(result, reason, detail) for the trace: a proper no, or a failure with its own reason."""
    if isinstance(answer, Decline):
        return result, answer.code if answer.code != "declined" else reason, answer.reason
    return "failed", answer.reason, answer.detail
