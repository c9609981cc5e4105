"""The one orchestrator: the life of a lead, top to bottom (DESIGN §1).

submit: idempotency claim → auction (shielded: a seller who hangs up does not cancel a sale) →
record outcome → answer. The auction: business rules → eligible buyers → tiers in order, each
pinged at once under the ping deadline → valid offers ranked → reserve cap + dedup, journal, post,
fallback → outcome. Every decision comes from the pure modules; this file only sequences I/O.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pingtree import ids
from pingtree.auction import Offer, plan_tiers, rank
from pingtree.codec import (
    Accepted,
    Bid,
    Decline,
    Failure,
    encode_ping,
    encode_post,
    parse_ping_answer,
    parse_post_answer,
    post_body,
)
from pingtree.config import BuyerConfig, Config, SellerConfig
from pingtree.errors import BuyerCallFailed, BuyerTimeout, IdempotencyConflict, PingtreeError
from pingtree.lead import Lead, anonymize, redact
from pingtree.metrics import Metrics
from pingtree.money import breakeven, seller_payout
from pingtree.outcome import Outcome, Status, Step, TraceEvent
from pingtree.rules import (
    BidLimits,
    bid_reason,
    cap_windows,
    filter_reason,
    local_time,
    schedule_open,
)
from pingtree.store.base import CapRequest, Claimed, Conflict, Done, IdempotencyKey, Refused, Store
from pingtree.transport import Transport
from pingtree.tree import Candidate, Tree

log = logging.getLogger(__name__)

# A replayed request waits for the first one's auction at most this long past the budget.
_REPLAY_GRACE_S = 5.0


@dataclass
class Auction:
    """One lead's auction in progress: its clock, its trace, and what is known so far."""

    lead: Lead
    seller: SellerConfig
    id: str
    received_at: datetime
    started: float  # loop time
    deadline: float  # loop time
    trace: list[TraceEvent] = field(default_factory=list)
    offers_seen: int = 0
    unknown_post: str | None = None  # the buyer whose post timed out, when the lead went on

    def elapsed_ms(self, now: float) -> int:
        return int((now - self.started) * 1000)

    def note(
        self,
        now: float,
        buyer_id: str,
        step: Step,
        result: str,
        **kw: object,
    ) -> None:
        self.trace.append(TraceEvent(self.elapsed_ms(now), buyer_id, step, result, **kw))  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Sale:
    status: Literal["sold", "pending"]
    buyer_id: str
    price: Decimal
    redirect_url: str | None = None
    buyer_lead_id: str | None = None


class Router:
    def __init__(
        self, config: Config, store: Store, transport: Transport, metrics: Metrics
    ) -> None:
        self.tree = Tree(config)
        self._store = store
        self._transport = transport
        self._metrics = metrics
        self._settings = config.router
        self._max_response = config.router.max_response_kb * 1024
        self._idempotency_ttl_s = config.router.retention.idempotency_days * 86400

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    # the seller's request --------------------------------------------------------------------

    async def submit(
        self, seller: SellerConfig, lead: Lead, key: IdempotencyKey | None
    ) -> tuple[Outcome, bool]:
        """Run the lead's auction once per idempotency key; returns (outcome, replayed)."""
        if key is not None:
            claim = await self._store.claim_idempotency(key, self._idempotency_ttl_s)
            if isinstance(claim, Conflict):
                raise IdempotencyConflict(
                    "this idempotency key was used for a different lead",
                    fields={key.source: "already used for a different lead"},
                )
            if isinstance(claim, Done):
                return claim.outcome, True
            if not isinstance(claim, Claimed):
                first = await claim.wait(self._settings.budget_ms / 1000 + _REPLAY_GRACE_S)
                if first is None:
                    raise IdempotencyConflict(
                        "the first request with this key has not finished; retry later"
                    )
                return first, True
        # Shielded: if the seller disconnects, the auction still finishes and is recorded.
        task = asyncio.create_task(self._run(seller, lead, key))
        return await asyncio.shield(task), False

    async def _run(self, seller: SellerConfig, lead: Lead, key: IdempotencyKey | None) -> Outcome:
        auction = self._open(seller, lead)
        try:
            outcome = await self._auction(auction)
        except Exception as exc:
            outcome = await self._after_crash(auction, exc, key)
        await self._store.record_outcome(outcome)
        if key is not None:
            await self._store.complete_idempotency(key, outcome)
        self._metrics.observe(outcome)
        return outcome

    async def _after_crash(
        self, auction: Auction, exc: Exception, key: IdempotencyKey | None
    ) -> Outcome:
        """An auction that failed midway: if a post may have gone out, the lead is `pending` for
        the operator (never sold twice); otherwise the key is released so a resend can run."""
        posted = await self._store.journal(auction.id)
        if posted:
            log.error(
                "auction %s failed after posting to %s: %s",
                auction.id,
                posted[-1],
                type(exc).__name__,
            )
            return self._finish(auction, "pending", reason="router_error", buyer_id=posted[-1])
        if key is not None:
            await self._store.abandon_idempotency(key)
        if isinstance(exc, PingtreeError):
            raise exc
        log.exception("auction %s failed before any post", auction.id)
        raise exc

    def _open(self, seller: SellerConfig, lead: Lead) -> Auction:
        now = self._now()
        return Auction(
            lead=lead,
            seller=seller,
            id=ids.lead_id(),
            received_at=datetime.now(UTC),
            started=now,
            deadline=now + self._settings.budget_ms / 1000,
        )

    def _finish(
        self,
        auction: Auction,
        status: Status,
        *,
        reason: str | None = None,
        sale: Sale | None = None,
        buyer_id: str | None = None,
    ) -> Outcome:
        price = sale.price if sale else None
        payout = seller_payout(sale.price, auction.seller) if sale and status == "sold" else None
        return Outcome(
            id=auction.id,
            seller_id=auction.seller.id,
            lead_id=auction.lead.lead_id,
            vertical=auction.lead.vertical,
            status=status,
            reason=reason,
            buyer_id=sale.buyer_id if sale else buyer_id,
            price=price,
            payout=payout,
            redirect_url=sale.redirect_url if sale else None,
            buyer_lead_id=sale.buyer_lead_id if sale else None,
            received_at=auction.received_at.isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
            auction_ms=auction.elapsed_ms(self._now()),
            test=auction.lead.test,
            trace=tuple(auction.trace),
        )

    # the auction ------------------------------------------------------------------------------

    async def _auction(self, auction: Auction) -> Outcome:
        lead, seller = auction.lead, auction.seller
        if self._settings.require_consent and lead.tcpa_consent is not True:
            return self._finish(auction, "rejected", reason="consent_required")
        if seller.verticals is not None and lead.vertical not in seller.verticals:
            return self._finish(auction, "rejected", reason="vertical_not_allowed")
        candidates = self.tree.candidates(lead.vertical)
        if not candidates:
            return self._finish(auction, "rejected", reason="no_buyer_for_vertical")
        eligible = await self._eligible(auction, candidates)
        for tier in plan_tiers([c.buyer for c in eligible], self._settings.mode):
            sale = await self._run_tier(auction, tier, {c.buyer.id: c.order for c in eligible})
            if sale is not None:
                return self._finish(
                    auction,
                    sale.status,
                    sale=sale,
                    reason="post_unknown" if sale.status == "pending" else None,
                )
        if auction.unknown_post is not None:
            return self._finish(
                auction, "pending", reason="post_unknown", buyer_id=auction.unknown_post
            )
        if not eligible:
            return self._finish(auction, "unsold", reason="no_eligible_buyer")
        return self._finish(
            auction,
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
            timezone = self.tree.config.buyer_timezone(buyer)
            if reason is None and not schedule_open(buyer.schedule, local_time(now_utc, timezone)):
                reason = "schedule"
            if reason is None and not lead.test and (buyer.caps.any or buyer.dedup_days):
                refused = await self._store.check(self._cap_request(auction, buyer, Decimal(0)))
                reason = refused.reason if refused else None
            if reason is None and not await self._store.breaker_admit(
                buyer.id, self._settings.breaker
            ):
                reason = "breaker_open"
            if reason is not None:
                auction.note(self._now(), buyer.id, "skip", "skipped", reason=reason)
            else:
                eligible.append(candidate)
        return eligible

    def _cap_request(self, auction: Auction, buyer: BuyerConfig, price: Decimal) -> CapRequest:
        dedup = buyer.dedup_days is not None
        return CapRequest(
            buyer_id=buyer.id,
            lead_id=auction.id,
            caps=buyer.caps,
            windows=cap_windows(datetime.now(UTC), self.tree.config.buyer_timezone(buyer)),
            price=price,
            dedup_keys=self.tree.dedup_keys(auction.lead.phone, auction.lead.email)
            if dedup
            else (),
            dedup_ttl_s=buyer.dedup_days * 86400 if buyer.dedup_days else None,
        )

    def _limits(self, seller: SellerConfig) -> BidLimits:
        return BidLimits(
            self._settings.floor,
            self._settings.max_bid,
            breakeven(seller, self._settings.min_margin),
        )

    async def _run_tier(
        self, auction: Auction, tier: list[BuyerConfig], order: dict[str, int]
    ) -> Sale | None:
        offers: list[Offer] = []
        limits = self._limits(auction.seller)
        for buyer in tier:
            if buyer.pricing == "fixed" and buyer.price is not None:
                now = self._now()
                reason = bid_reason(buyer.price, limits, None, 0)
                # Not pinged: its price is its offer, traced as an `offer` step.
                if reason is None:
                    auction.note(now, buyer.id, "offer", "bid", bid=buyer.price)
                    answered_ms = auction.elapsed_ms(now)
                    offers.append(
                        Offer(buyer.id, buyer.price, buyer.priority, answered_ms, order[buyer.id])
                    )
                else:
                    auction.note(now, buyer.id, "offer", "declined", reason=reason, bid=buyer.price)
        bidders = [b for b in tier if b.pricing == "bid"]
        if bidders:
            offers.extend(await self._ping_all(auction, bidders, limits, order))
        auction.offers_seen += len(offers)
        for offer in rank(offers):
            sale = await self._sell(auction, offer)
            if sale is not None:
                return sale
        return None

    # pings ------------------------------------------------------------------------------------

    async def _ping_all(
        self, auction: Auction, bidders: list[BuyerConfig], limits: BidLimits, order: dict[str, int]
    ) -> list[Offer]:
        """Ping a tier at once; the phase closes when all have answered or at the ping deadline
        (the budget less the post reserve). Pings still open then are cancelled: `timeout`."""
        ping_deadline = auction.deadline - self._settings.post_reserve_ms / 1000
        min_ping_s = self._settings.min_ping_ms / 1000
        tasks: dict[asyncio.Task[Offer | None], BuyerConfig] = {}
        for buyer in bidders:
            assert buyer.ping is not None
            now = self._now()
            timeout_s = min(buyer.ping.timeout_ms / 1000, ping_deadline - now)
            if timeout_s < min_ping_s:
                auction.note(now, buyer.id, "skip", "skipped", reason="no_time_left")
                continue
            task = asyncio.create_task(
                self._ping(auction, buyer, timeout_s, limits, order[buyer.id])
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
                auction.note(
                    self._now(),
                    buyer.id,
                    "ping",
                    "failed",
                    reason="timeout",
                    detail="ping phase closed",
                )
                await self._store.breaker_record(buyer.id, False, self._settings.breaker)
        return offers

    async def _ping(
        self, auction: Auction, buyer: BuyerConfig, timeout_s: float, limits: BidLimits, order: int
    ) -> Offer | None:
        assert buyer.ping is not None
        ping_id = ids.ping_id()
        pii = self.tree.config.pii_for(buyer)
        body = encode_ping(
            anonymize(auction.lead, seller_id=auction.seller.id, ping_id=ping_id, pii=pii)
        )
        try:
            response = await self._transport.post(
                buyer.ping.url, body, timeout_s=timeout_s, max_bytes=self._max_response
            )
        except BuyerCallFailed as exc:
            now = self._now()
            auction.note(
                now,
                buyer.id,
                "ping",
                "failed",
                reason=exc.reason,
                http_status=exc.http_status,
                duration_ms=int(timeout_s * 1000) if isinstance(exc, BuyerTimeout) else None,
                detail=exc.detail,
            )
            await self._store.breaker_record(buyer.id, False, self._settings.breaker)
            return None
        now = self._now()
        answer = parse_ping_answer(response.status, response.body)
        await self._store.breaker_record(
            buyer.id, not isinstance(answer, Failure), self._settings.breaker
        )
        timing = {"http_status": response.status, "duration_ms": int(response.duration_ms)}
        if isinstance(answer, Bid):
            elapsed = auction.elapsed_ms(now)
            reason = bid_reason(answer.price, limits, None, elapsed)
            if reason is not None:
                auction.note(
                    now, buyer.id, "ping", "declined", reason=reason, bid=answer.price, **timing
                )
                return None
            auction.note(now, buyer.id, "ping", "bid", bid=answer.price, **timing)
            expires = elapsed + answer.expires_in_ms if answer.expires_in_ms is not None else None
            return Offer(
                buyer.id,
                answer.price,
                buyer.priority,
                elapsed,
                order,
                ping_id,
                answer.bid_id,
                expires,
            )
        if isinstance(answer, Decline):
            auction.note(
                now, buyer.id, "ping", "declined", reason="declined", detail=answer.reason, **timing
            )
        else:
            auction.note(
                now,
                buyer.id,
                "ping",
                "failed",
                reason=answer.reason,
                detail=answer.detail,
                **timing,
            )
        return None

    # posts ------------------------------------------------------------------------------------

    async def _sell(self, auction: Auction, offer: Offer) -> Sale | None:
        """Post to one offer. A Sale ends the auction (sold, or pending on an ambiguous timeout);
        None means go on to the next offer."""
        buyer = self.tree.buyers[offer.buyer_id]
        now = self._now()
        if offer.expires_at_ms is not None and auction.elapsed_ms(now) > offer.expires_at_ms:
            auction.note(now, buyer.id, "post", "skipped", reason="bid_expired", bid=offer.price)
            return None
        timeout_s = min(buyer.post.timeout_ms / 1000, auction.deadline - now)
        if timeout_s < self._settings.min_ping_ms / 1000:
            auction.note(now, buyer.id, "post", "skipped", reason="no_time_left", bid=offer.price)
            return None
        reservation = None
        if not auction.lead.test:
            reserved = await self._store.reserve(self._cap_request(auction, buyer, offer.price))
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
        await self._store.journal_post(auction.id, buyer.id)
        body = encode_post(
            post_body(
                auction.lead,
                lead_id=auction.id,
                seller_id=auction.seller.id,
                ping_id=offer.ping_id,
                bid_id=offer.bid_id,
                price=offer.price,
            )
        )
        answer: Accepted | Decline | Failure | BuyerCallFailed
        try:
            response = await self._transport.post(
                buyer.post.url, body, timeout_s=timeout_s, max_bytes=self._max_response
            )
        except BuyerTimeout as exc:
            # Ambiguous: the buyer may have taken it. Keep the cap and dedup claim (never over a
            # cap) and stop, unless the buyer's config lets the lead go on.
            now = self._now()
            auction.note(
                now,
                buyer.id,
                "post",
                "unknown",
                reason="post_unknown",
                duration_ms=int(timeout_s * 1000),
                bid=offer.price,
                detail=exc.detail,
            )
            await self._store.breaker_record(buyer.id, False, self._settings.breaker)
            if reservation is not None:
                await self._store.confirm(reservation)
            if buyer.on_post_timeout == "stop":
                return Sale("pending", buyer.id, offer.price)
            auction.unknown_post = auction.unknown_post or buyer.id
            return None
        except BuyerCallFailed as exc:
            answer = exc
            timing: dict[str, object] = {"http_status": exc.http_status}
        else:
            answer = parse_post_answer(response.status, response.body)
            timing = {"http_status": response.status, "duration_ms": int(response.duration_ms)}
        now = self._now()
        await self._store.breaker_record(
            buyer.id, not isinstance(answer, Failure | BuyerCallFailed), self._settings.breaker
        )
        if isinstance(answer, Accepted):
            if reservation is not None:
                await self._store.confirm(reservation)
            auction.note(now, buyer.id, "post", "accepted", bid=offer.price, **timing)
            return Sale("sold", buyer.id, offer.price, answer.redirect_url, answer.buyer_lead_id)
        if reservation is not None:
            await self._store.release(reservation)
        if isinstance(answer, Decline):
            auction.note(
                now,
                buyer.id,
                "post",
                "rejected",
                reason="post_rejected",
                bid=offer.price,
                detail=redact(answer.reason, auction.lead),
                **timing,
            )
        else:
            auction.note(
                now,
                buyer.id,
                "post",
                "failed",
                reason=answer.reason,
                bid=offer.price,
                detail=redact(answer.detail, auction.lead),
                **timing,
            )
        return None
