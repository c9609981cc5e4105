"""The one orchestrator: the life of a lead, top to bottom (DESIGN §1).

submit: idempotency claim → auction (shielded: a seller who hangs up does not cancel a sale) →
record outcome → answer. The auction (auctioneer.py): business rules → eligible buyers → tiers in
order, each pinged at once under the ping deadline → valid offers ranked → reserve cap + dedup,
journal, post, fallback → an `AuctionResult` (result.py): the outcome, and the winning offer that
the deliveries carry on. Every decision comes from the pure modules; this file only sequences I/O.

When the store fails (StoreUnavailable; store/guard.py keeps it down and refuses new leads until a
probe finds it back), each store call fails safe:

  claim, check, breaker_admit, takeover reads    before any post: 503, the claim freed (later)
  the suppression lists' added entries          before any ping: 503 (never sold unchecked)
  reserve                                       no post; the slot it may have taken freed (later)
  journal_post                                  no post (a post without its entry could be sold
                                                twice after a crash); the slot freed (later)
  any of these after a refused post             the auction stops: unsold, store_unavailable
                                                (pending, post_unknown, after an ambiguous post
                                                the lead went on past)
  confirm (after a sale or a post timeout)      with the last writes; ignored if they fail: the
                                                slot stays counted, the safe side
  release (after a refused post)                queued until the store is back
  breaker calls (with the last writes)          ignored: health statistics, not state
  record_outcome, complete_idempotency          queued: the seller still gets the outcome

A lead costs the Redis store a handful of round trips whatever the number of buyers (issue 20):
the claim; every candidate's caps at once, when buyers have caps or dedup, and breakers not seen
closed lately (Store.admit); each post's slot, if it has one, and journal entry
(Store.journal_and_reserve); the last writes (Store.finish: confirms, the ledger's record, the
outcome, the answer; the breaker calls held with them). 3 a sold lead, 5 with caps or dedup.

The auctioneer says whether a post went out when the store failed (`StoreFailedMidAuction`); after
a crash, the journal does (result.py says why).

A claim holds its key for a lease (the budget and `_LEASE_GRACE_S`). A resend that comes after the
lease of a claim that was never answered takes the key over (`_take_over`): the journal of the
auction that held it says whether a post went out, and if one did, the answer is `pending`
(reason `router_died`), never a second auction. A resend that comes during the lease waits for the
answer until the lease runs out, then takes the key over the same way.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from pingtree.auction.auctioneer import Auctioneer
from pingtree.auction.bidder import Bidder
from pingtree.auction.exchange import Exchange, RunAuction
from pingtree.auction.live import LiveAuction, loop_time
from pingtree.auction.loop_lag import LoopLag
from pingtree.auction.pauses import PausedBuyers
from pingtree.auction.ranking_stats import RankingStats
from pingtree.auction.result import AuctionResult, StoreFailedMidAuction
from pingtree.auction.shared_sale import SharedSale
from pingtree.config import Config, SellerConfig
from pingtree.config.tree import Tree
from pingtree.core.errors import (
    IdempotencyConflict,
    PingtreeError,
    StoreUnavailable,
    TakenOver,
)
from pingtree.core.lead import Lead
from pingtree.core.outcome import Outcome
from pingtree.core.ranking import Offer
from pingtree.core.record import LeadRecord, encode_record
from pingtree.gates.checks import Checks
from pingtree.gates.suppression import SuppressionGate
from pingtree.metrics import Metrics
from pingtree.store.outbox.base import Entry
from pingtree.store.state.base import (
    Claimed,
    Conflict,
    Done,
    IdempotencyClaim,
    IdempotencyKey,
    InFlight,
    Store,
)
from pingtree.store.state.guard import GuardedStore
from pingtree.transport.client import Transport

if TYPE_CHECKING:  # deliveries/ imports the router's neighbours, not the router
    from pingtree.deliveries.service import Deliveries

log = logging.getLogger(__name__)

# A replayed request waits for the first one's auction at most this long past the budget, and
# never past the first one's lease: then it takes the key over.
_REPLAY_GRACE_S = 5.0
# The store decides a lease's end on its own clock (to the ms): a claim this much later finds it
# ended rather than waiting again for a few ms.
_LEASE_SLACK_S = 0.01
# A claim's lease: the budget and this much more, time to record the outcome and answer the key.
# Too short costs little: a live router outlived by its lease cannot post any more (its journal
# is sealed), and its own answer replaces the takeover's `pending` verdict (store/base.py).
_LEASE_GRACE_S = 2.0


class Router:
    def __init__(
        self,
        config: Config,
        store: Store,
        transport: Transport,
        metrics: Metrics,
        deliveries: Deliveries | None = None,
        loop_lag: LoopLag | None = None,
        records: bool = False,
        *,
        paused: PausedBuyers | None = None,
        on_finished: Callable[[Outcome], None] | None = None,
        ranking_stats: RankingStats | None = None,
        suppression: SuppressionGate | None = None,
    ) -> None:
        """`records`: each answered lead's record goes to the ledger (the store's outbox, with
        its outcome: Store.record_outcome). `paused`: the buyers operators paused (none without
        it). `on_finished` hears of every auction this router finishes, as the metrics do (the
        live events, the recent calls of GET /admin/buyers); it must not block, and what it
        raises is logged, never the lead's. `suppression`: the lists in force (none without
        it; app.py loads them)."""
        self.tree = Tree(config)
        self._store = store if isinstance(store, GuardedStore) else GuardedStore(store)
        self._metrics = metrics
        bidder = Bidder(transport, loop_lag, metrics)
        self.suppression = suppression or SuppressionGate(self._store)
        # ranking_stats: the expected-value figures (ranking_stats.py); none: by bid only.
        self._auctioneer = Auctioneer(
            self._store, bidder, Checks(transport), ranking_stats, self.suppression
        )
        self.exchange = Exchange(self._store, self._auctioneer, self._paused_ids, records)
        self._deliveries = deliveries
        self._records = records
        self._paused = paused
        self._on_finished = on_finished
        # The store was built with this retention: a reload's new value waits for a restart.
        self._idempotency_ttl_s = config.router.retention.idempotency_days * 86400

    def reload(self, config: Config) -> Tree:
        """Swap in the tree of a new config for the leads that arrive from now on. An auction
        under way keeps the tree it started with (`LiveAuction.tree`) until it ends."""
        self.tree = self.tree.rebuilt(config)
        return self.tree

    # the seller's request --------------------------------------------------------------------

    async def submit(
        self,
        seller: SellerConfig,
        lead: Lead,
        key: IdempotencyKey | None,
        run: RunAuction | None = None,
    ) -> tuple[Outcome, bool]:
        """Run the lead's auction once per idempotency key; returns (outcome, replayed).
        StoreUnavailable (503) while the store is down, or when it fails before any post.
        `run`: the auction to run in place of the whole one (an exchange post's sale of its
        held bids, auction/exchange.py); a PingtreeError it raises before any post frees the key."""
        self._store.refuse_if_down()
        auction = self._open(seller, lead)  # its id names the claim, for a takeover to find
        if key is not None:
            answered = await self._claim(auction, key)
            if answered is not None:
                return answered, True
        # Shielded: if the seller disconnects, the auction still finishes and is recorded.
        task = asyncio.create_task(self._run(auction, key, run or self._auctioneer.run))
        return await asyncio.shield(task), False

    async def _claim(self, auction: LiveAuction, key: IdempotencyKey) -> Outcome | None:
        """Own the key (None: run the auction), or the answer of the auction that owned it.
        While another auction holds the key, wait for its answer, but only as long as its lease
        runs: past it (its router died, or stalled), claim again, which takes the key over."""
        budget_s = auction.tree.settings.budget_ms / 1000
        give_up = loop_time() + budget_s + _REPLAY_GRACE_S
        while True:
            claim = await self._claim_once(auction, key, budget_s)
            if isinstance(claim, Conflict):
                raise IdempotencyConflict(
                    "this idempotency key was used for a different lead",
                    fields={key.source: "already used for a different lead"},
                )
            if isinstance(claim, Done):
                return claim.outcome
            if isinstance(claim, Claimed):
                if claim.takeover:
                    return await self._take_over(auction, key, claim.previous_lead_ids)
                return None
            first = await self._wait_for_first(claim, give_up)
            if first is not None:
                return first

    async def _claim_once(
        self, auction: LiveAuction, key: IdempotencyKey, budget_s: float
    ) -> IdempotencyClaim:
        try:
            return await self._store.claim_idempotency(
                key,
                self._idempotency_ttl_s,
                lead_id=auction.id,
                lease_s=budget_s + _LEASE_GRACE_S,
            )
        except StoreUnavailable:
            # The claim may have been written and only its answer lost: free it once it can be.
            await self._store.abandon_eventually(key, lead_id=auction.id)
            raise

    async def _wait_for_first(self, claim: InFlight, give_up: float) -> Outcome | None:
        """The first auction's answer; None to claim again (its lease ran out, or it let go of
        the key). A 409 with Retry-After (when its lease runs out) if neither by `give_up`."""
        now = loop_time()
        lease_end = None if claim.lease_left_s is None else now + claim.lease_left_s
        until = give_up if lease_end is None else min(give_up, lease_end + _LEASE_SLACK_S)
        first = await claim.wait(max(until - now, 0.0))
        now = loop_time()
        if first is not None or now < give_up or (lease_end is not None and now >= lease_end):
            return first
        retry_after_s = 1 if lease_end is None else max(1, math.ceil(lease_end - now))
        raise IdempotencyConflict(
            f"the first request with this key has not finished; retry after {retry_after_s} s",
            retry_after_s=retry_after_s,
        )

    async def _take_over(
        self, auction: LiveAuction, key: IdempotencyKey, previous: tuple[str, ...]
    ) -> Outcome | None:
        """The auctions that held the key before ran out of lease unanswered: their router died
        (or stalled). Their journals are sealed first, so none of them can post from now on; then
        the newest that left an outcome, or a post, decides the answer: that outcome, or `pending`
        with the last buyer posted to. None when none of them posted: a new auction runs."""
        posted = [await self._store.seal_journal(lead_id) for lead_id in previous]
        for lead_id, buyers in reversed(list(zip(previous, posted, strict=True))):
            answer = await self._store.get_outcome(lead_id)
            if answer is None and buyers:
                log.warning(
                    "lead %s: its router stopped after posting to %s; pending for the operator",
                    lead_id,
                    buyers[-1],
                )
                answer = self._router_died(auction, lead_id, buyers)
                self._observe(answer)
                # A verdict made here: on record like any answer. (An outcome the dead router
                # recorded had its record with it.)
                entries = self._ledger_entry(auction, answer)
                await self._store.record(answer, key, lead_id=auction.id, ledger=entries)
                return answer
            if answer is not None:
                await self._store.record(answer, key, lead_id=auction.id)
                return answer
        return None

    def _router_died(self, auction: LiveAuction, lead_id: str, buyers: tuple[str, ...]) -> Outcome:
        """`pending` for an earlier auction of this key that posted to `buyers` (the journal's,
        in order) and never said how it ended: the last buyer posted to, or, for a lead sold
        shared, every one (any of them may hold a share). The earlier receipt time is not kept:
        this one's stands in for it."""
        earlier = replace(auction, id=lead_id, trace=[])
        now = loop_time()
        detail = "the router running this auction stopped after this post; found on a resend"
        shared = SharedSale.open(earlier) is not None
        for buyer_id in buyers if shared else buyers[-1:]:
            earlier.note(now, buyer_id, "post", "unknown", reason="router_died", detail=detail)
        return earlier.finish(now, "pending", reason="router_died", buyer_id=buyers[-1])

    async def _run(
        self, auction: LiveAuction, key: IdempotencyKey | None, run: RunAuction
    ) -> Outcome:
        try:
            result = await run(auction)
        except StoreFailedMidAuction as exc:
            result = await self._after_store_failure(auction, exc, key)
        except TakenOver:
            raise  # the key and its answer belong to another auction now
        except Exception as exc:
            result = await self._after_crash(auction, exc, key)
        outcome = result.outcome
        # Deliveries first: a router that dies between the two leaves a sale whose resend reads
        # `sold` (or `pending` from the journal) with its jobs queued, never without them (a
        # job's id makes queuing it again on a later path harmless).
        if outcome.status == "sold" and result.won is not None:
            await self._deliver(auction, outcome, result.won, result.won_shares)
        # The ledger's record with the outcome (the store puts it in its outbox no later than
        # the outcome), before the answer: an answered lead is on record (filing it twice,
        # after a resend, is harmless: the ledger files by id).
        # With the auction's breaker calls and confirms: its last writes in one (Store.finish).
        await self._store.record(
            outcome,
            key,
            lead_id=auction.id,
            ledger=self._ledger_entry(auction, outcome),
            confirms=auction.confirms,
            calls=auction.breaker_calls,
        )
        self._observe(outcome)
        return outcome

    def _observe(self, outcome: Outcome) -> None:
        """A finished auction, counted and told to whoever listens."""
        self._metrics.observe(outcome)
        if self._on_finished is not None:
            try:
                self._on_finished(outcome)
            except Exception:
                log.exception("lead %s: a listener to finished auctions failed", outcome.id)

    async def _deliver(
        self, auction: LiveAuction, outcome: Outcome, won: Offer, shares: tuple[Offer, ...] = ()
    ) -> None:
        """Hand a sale to its deliveries (CRMs, the seller's postback, the CSV mirror) before the
        seller hears of it: once answered, the jobs are durable. If the queue is down, they are
        queued with the store's deferred writes (a job's id makes a second enqueue harmless);
        the sale stands and the seller is told so either way."""
        deliveries = self._deliveries
        if deliveries is None:
            return

        async def hand_over() -> None:
            await deliveries.sold(auction.tree, outcome, auction.lead, won, shares)

        try:
            await hand_over()
        except StoreUnavailable:
            await self._store.write_eventually(f"the deliveries of {outcome.id}", hand_over)
        except Exception:
            # Not the queue being down (that is StoreUnavailable): a fault, logged with its
            # traceback. The jobs, or the ledger row after them, may be missing.
            log.exception(
                "lead %s sold to %s: handing its deliveries over failed", outcome.id, won.buyer_id
            )

    def _ledger_entry(self, auction: LiveAuction, outcome: Outcome) -> tuple[Entry, ...]:
        """The lead's record for the ledger's outbox (DESIGN §12), which the ledger files later,
        off this path; none without a ledger."""
        if not self._records:
            return ()
        return (Entry("lead", outcome.id, encode_record(self._record(auction, outcome))),)

    def _record(self, auction: LiveAuction, outcome: Outcome) -> LeadRecord:
        """The record of a lead: its PII apart (every attribute any buyer or the vertical marks
        pii, as well as the PII fields) and the tree's keyed hashes of its phone and email."""
        lead, tree = auction.lead, auction.tree
        marked = tree.ledger_pii(lead.vertical)
        hashes = auction.dedup_keys  # the tree's keyed hashes, made once when the lead came
        return LeadRecord.of(outcome, lead, pii_attributes=marked, hashes=hashes)

    async def _after_store_failure(
        self, auction: LiveAuction, exc: StoreFailedMidAuction, key: IdempotencyKey | None
    ) -> AuctionResult:
        """The store failed mid-auction; the auctioneer says whether a post went out. None: 503,
        and the key is freed for a resend. Otherwise the auction stops with what is known:
        `pending` if a post's answer was ambiguous, else `unsold`."""
        if not exc.posted:
            if key is not None:
                await self._store.abandon_eventually(key, lead_id=auction.id)
            raise exc
        log.warning("auction %s stopped after a post: the store is unavailable", auction.id)
        if exc.unknown_post is not None:
            pending = auction.finish(
                loop_time(), "pending", reason="post_unknown", buyer_id=exc.unknown_post
            )
            return AuctionResult(pending)
        return AuctionResult(auction.finish(loop_time(), "unsold", reason="store_unavailable"))

    async def _after_crash(
        self, auction: LiveAuction, exc: Exception, key: IdempotencyKey | None
    ) -> AuctionResult:
        """An auction that failed midway: if its journal says a post may have gone out, the lead
        is `pending` for the operator (never sold twice); otherwise the key is released so a
        resend can run."""
        try:
            posted: tuple[str, ...] | None = await self._store.journal(auction.id)
        except StoreUnavailable:
            posted = None  # cannot tell: assume the worst
        if posted is None or posted:
            failure = type(exc).__name__
            buyer_id = posted[-1] if posted else None
            log.error("auction %s failed after posting to %s: %s", auction.id, buyer_id, failure)
            pending = auction.finish(
                loop_time(), "pending", reason="router_error", buyer_id=buyer_id
            )
            return AuctionResult(pending)
        if key is not None:
            await self._store.abandon_eventually(key, lead_id=auction.id)
        if isinstance(exc, PingtreeError):
            raise exc
        log.exception("auction %s failed before any post", auction.id)
        raise exc

    def _open(self, seller: SellerConfig, lead: Lead) -> LiveAuction:
        return LiveAuction.open(self.tree, seller, lead, loop_time(), self._paused_ids())

    def _paused_ids(self) -> frozenset[str]:
        return self._paused.ids if self._paused is not None else frozenset()
