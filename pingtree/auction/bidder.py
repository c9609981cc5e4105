"""One buyer's exchange with pingtree, its ping and its post, in one place: built (wire.py), sent
(transport/), read (the codec, through wire.read_ping and read_post), counted in the buyer's
breaker, its words cleaned of the lead's PII and the buyer's secrets, and traced.

It knows one buyer at a time. The auction across buyers (eligibility, tiers, the ping deadline,
ranking, caps and dedup, the journal, fallback) is auctioneer.py's: it says when to ping and whom
to post to, with how much time; the bidder says what came back. `pingtree try` (cli/try_buyer.py)
sends and reads through the same `send_ping`, `send_post` and `offer_for`, with no breaker or
trace: what it shows is what an auction would send and make of the answer.

Breaker: a call that timed out while this router's event loop ran late is not held against the
buyer (core/breaker.py's `call_evidence`); the trace then says so. A call is counted with the
auction's last writes (`LiveAuction.breaker_calls`, Store.finish), or the exchange ping's
(exchange.py): one round trip for every call of a lead, not one a call (issue 20). Another auction
meanwhile reads the breaker without it, for as long as this one still runs. A breaker record the
store misses is ignored: health statistics, not a lead's state (router.py's failure table).
"""

from __future__ import annotations

from pingtree.auction.live import LiveAuction, loop_time
from pingtree.auction.loop_lag import LoopLag
from pingtree.auction.wire import Target, Wire, mask_secrets, read_ping, read_post
from pingtree.config import BuyerConfig
from pingtree.core import ids
from pingtree.core.breaker import call_evidence
from pingtree.core.codec import Accepted, Bid, Decline, Failure, PingAnswer, PostAnswer, Unknown
from pingtree.core.codec.transforms import MappingError
from pingtree.core.errors import BuyerTimeout
from pingtree.core.lead import redact
from pingtree.core.ranking import Offer
from pingtree.core.rules import BidLimits, bid_reason
from pingtree.metrics import Metrics
from pingtree.store.state.base import BreakerCall
from pingtree.transport.client import Call, Transport, call

Built = tuple[Target, bytes]  # a request as wire.py builds it


async def send_ping(
    transport: Transport, buyer: BuyerConfig, built: Built, timeout_s: float, max_bytes: int
) -> tuple[Call, PingAnswer]:
    """One ping sent and its answer read."""
    assert buyer.ping is not None
    target, body = built
    answered = await call(
        transport,
        target,
        body,
        timeout_s,
        max_bytes,
        idempotent=True,  # a ping changes nothing at the buyer: safe to retry on a fresh socket
        tls=buyer.ping.tls,
    )
    return answered, read_ping(buyer, answered)


async def send_post(
    transport: Transport, buyer: BuyerConfig, built: Built, timeout_s: float, max_bytes: int
) -> tuple[Call, PostAnswer]:
    """One post sent and its answer read."""
    assert buyer.post is not None
    target, body = built
    answered = await call(transport, target, body, timeout_s, max_bytes, tls=buyer.post.tls)
    return answered, read_post(buyer, answered)


def offer_for(buyer: BuyerConfig, bid: Bid, *, ping_id: str, answered_ms: int, order: int) -> Offer:
    """A buyer's bid as an offer: what ranking compares and the post and deliveries carry."""
    expires = None if bid.expires_in_ms is None else answered_ms + bid.expires_in_ms
    return Offer(
        buyer_id=buyer.id,
        price=bid.price,
        priority=buyer.priority,
        answered_ms=answered_ms,
        order=order,
        ping_id=ping_id,
        bid_id=bid.bid_id,
        expires_at_ms=expires,
        carried=tuple(bid.carried.items()),
    )


class Bidder:
    def __init__(
        self,
        transport: Transport,
        loop_lag: LoopLag | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """`loop_lag`: this process's event loop lag, so that a timeout while the loop ran late
        is not held against the buyer (without one, every timeout counts)."""
        self._transport = transport
        self._loop_lag = loop_lag
        self._metrics = metrics

    async def ping(
        self,
        auction: LiveAuction,
        wire: Wire,
        buyer: BuyerConfig,
        timeout_s: float,
        limits: BidLimits,
        order: int,
    ) -> Offer | None:
        """Ping one buyer: its offer, or None (it declined, failed, or bid outside `limits`)."""
        ping_id = ids.ping_id()
        built = wire.ping(buyer, ping_id)
        if isinstance(built, MappingError):
            auction.note(
                loop_time(), buyer.id, "ping", "skipped", reason="mapping", detail=str(built)
            )
            return None
        max_bytes = auction.tree.max_response
        answered, answer = await send_ping(self._transport, buyer, built, timeout_s, max_bytes)
        excused = await self._record_call(auction, buyer.id, answered, answer)
        now = loop_time()
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
        return offer_for(buyer, answer, ping_id=ping_id, answered_ms=elapsed, order=order)

    async def ping_cut_off(
        self, auction: LiveAuction, wire: Wire, buyer: BuyerConfig, open_s: float
    ) -> None:
        """A ping still open when the ping phase closed (after `open_s`): a timeout."""
        excused = await self._breaker_record(auction, buyer.id, False, open_s)
        detail = "ping phase closed" + (f"; {excused}" if excused else "")
        pii = wire.ping_pii(buyer) or None
        auction.note(
            loop_time(), buyer.id, "ping", "failed", reason="timeout", detail=detail, pii=pii
        )

    async def post(
        self, auction: LiveAuction, buyer: BuyerConfig, offer: Offer, built: Built, timeout_s: float
    ) -> PostAnswer:
        """Post the lead to one buyer (the auctioneer has reserved and journaled it): its answer,
        traced. What the answer means for the sale, the caps and the lead is the auctioneer's."""
        max_bytes = auction.tree.max_response
        answered, answer = await send_post(self._transport, buyer, built, timeout_s, max_bytes)
        await self._record_call(auction, buyer.id, answered, answer)
        now, price, timing = loop_time(), offer.price, answered.timing
        if isinstance(answer, Unknown):
            # No answer, or a 2xx that says neither yes nor no: the buyer may have taken it.
            words = _buyer_words(answer.detail, auction, buyer)
            auction.note(
                now,
                buyer.id,
                "post",
                "unknown",
                reason="post_unknown",
                bid=price,
                detail=words,
                **timing,
            )
        elif isinstance(answer, Accepted):
            why = auction.rank_notes.get(buyer.id)  # ordering.py: why it ranked where it did
            auction.note(now, buyer.id, "post", "accepted", bid=price, detail=why, **timing)
        else:
            result, reason, detail = _refusal(answer, "rejected", "post_rejected")
            words = _buyer_words(detail, auction, buyer)
            auction.note(
                now, buyer.id, "post", result, reason=reason, bid=price, detail=words, **timing
            )
        return answer

    # the buyer's breaker ----------------------------------------------------------------------

    async def _record_call(
        self, auction: LiveAuction, buyer_id: str, answered: Call, answer: object
    ) -> str | None:
        """Count one ping or post in the buyer's breaker (see `_breaker_record`)."""
        timed_out_s = None
        if isinstance(answered.outcome, BuyerTimeout):
            timed_out_s = (answered.timing.get("duration_ms") or 0) / 1000
        # A post nobody can read as a yes or a no (Unknown) counts against the buyer, as a failure.
        ok = not isinstance(answer, Failure | Unknown)
        return await self._breaker_record(auction, buyer_id, ok, timed_out_s)

    async def _breaker_record(
        self, auction: LiveAuction, buyer_id: str, ok: bool, timed_out_s: float | None = None
    ) -> str | None:
        """Count one call in the buyer's breaker, unless it timed out (after `timed_out_s`)
        while this router's event loop ran late: then the trace's word on why it was not."""
        policy = auction.tree.settings.breaker
        if policy.mode == "off":
            return None
        lag_s = 0.0
        if timed_out_s is not None and self._loop_lag is not None:
            lag_s = self._loop_lag.worst_since(loop_time() - timed_out_s)
        evidence = call_evidence(ok, timed_out_s is not None, lag_s, policy)
        if evidence is None:
            if self._metrics is not None:
                self._metrics.breaker_excused.labels(buyer_id).inc()
            return (
                f"this router's event loop ran {lag_s * 1000:.0f} ms late meanwhile: not "
                "counted against the buyer's breaker"
            )
        auction.breaker_calls.append(BreakerCall(buyer_id, evidence, policy))
        return None


def _buyer_words(detail: str, auction: LiveAuction, buyer: BuyerConfig) -> str:
    """A buyer's words for the trace, as they came less the lead's PII and the buyer's own
    secrets: a buyer may echo the phone it was sent, or the credentials."""
    return mask_secrets(redact(detail, auction.lead), buyer)


def _refusal(answer: Decline | Failure, result: str, reason: str) -> tuple[str, str, str]:
    """(result, reason, detail) for the trace: a proper no, or a failure with its own reason."""
    if isinstance(answer, Decline):
        return result, answer.code if answer.code != "declined" else reason, answer.reason
    return "failed", answer.reason, answer.detail
