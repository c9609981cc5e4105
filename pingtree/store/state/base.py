"""The Store protocol: state, spoken in intents, so each method can be one atomic Redis script.

Implementations: `memory.MemoryStore` (embedded default) and `redis.RedisStore` (shared by every
router on one Redis); `guard.GuardedStore` wraps either with the health state the router uses.
Every method is async and atomic with respect to every other call on the same store: no caller
ever reads-then-writes across two calls.

**Leases and takeovers.** An idempotency claim names the auction that owns the key (`lead_id`) and
holds it for a lease (the budget and a grace). A router that dies mid-auction leaves its claim
unanswered; once the lease has run out, the next claim of the key takes it over and is told which
auctions owned it before (`Claimed.previous_lead_ids`). The new owner seals their journals
(`seal_journal`: no post can be journaled for them any more, so a router that was only stalled can
no longer post) and reads what they posted: a post that went out makes the answer `pending`, never
a second auction. Writes on the key after the claim name their auction (`lead_id=`), so a stalled
router cannot answer or free a key another auction owns; the one exception is the auction a
takeover's verdict was about, whose real answer replaces that verdict.

**An answer outlives its claim.** A router that holds an auction's final outcome writes it to the
key whether or not the claim is still there: a store that lost its state (a Redis restarted
empty) would otherwise let a resend run, and sell, the lead a second time. Where the claim is
gone the answer recreates the record; where a claim that knows nothing of this auction holds the
key unanswered (one made after the loss) the answer is written into it, since this auction ran
first; an answer already there, or a key that names another lead, is never overwritten.
`complete_idempotency` says which (`AnswerWrite`), so a write that did not land is reported as
such.

**Pauses** (DESIGN §13) are an operator's switch per buyer, shared by every router on the store and
kept until resumed: no expiry, no retention. Routers read them all at once (`pauses`), in the
background, never per lead. `buyer_usage` reads what GET /admin/buyers shows of every buyer in
one call (one round trip on Redis), never one per buyer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from pingtree.config import BreakerPolicy, Caps
from pingtree.core.breaker import Phase
from pingtree.core.outcome import Outcome
from pingtree.core.rules import CapWindows
from pingtree.store.held.base import HeldBids
from pingtree.store.outbox.base import Entry, Outbox
from pingtree.store.suppression.base import SuppressionEntries
from pingtree.store.turns.base import Turns


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    seller_id: str
    key: str
    fingerprint: str  # hash of the normalized lead: the same key with another lead is a conflict
    source: str = "Idempotency-Key"  # where the key came from, to name it in a 409


@dataclass(frozen=True, slots=True)
class Claimed:
    """This request owns the key: run the auction, then `complete_idempotency`.

    After a takeover, `previous_lead_ids` are the auctions that owned the key before, oldest first,
    whose leases ran out without an answer: their journals say whether a post went out."""

    previous_lead_ids: tuple[str, ...] = ()

    @property
    def takeover(self) -> bool:
        return bool(self.previous_lead_ids)


@dataclass(frozen=True, slots=True)
class InFlight:
    """Another request owns the key and its auction is running; `wait(timeout_s)` returns its
    outcome when it is recorded, or None if it was not within the timeout (or the claim was
    abandoned or taken over meanwhile). `lease_left_s`: how long its owner's lease still runs
    (None: no lease, the claim holds the key for its whole ttl); past it, a claim takes over."""

    wait: Callable[[float], Awaitable[Outcome | None]]
    lease_left_s: float | None = None


@dataclass(frozen=True, slots=True)
class Done:
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Conflict:
    """The key was used for a different lead."""


IdempotencyClaim = Claimed | InFlight | Done | Conflict

# What became of an answer written to a key (`complete_idempotency`):
#   answered    the key holds this outcome now (written now, or already)
#   superseded  another auction took the key over after this one's lease ran out: it answers the
#               key from this auction's outcome or journal (sealed, so this one posted no more)
#   conflict    the key now names another lead (its record was lost, then claimed again)
#   taken       the key holds the answer of another auction that knew nothing of this one: the
#               store lost the record and a resend ran a second auction meanwhile
AnswerWrite = Literal["answered", "superseded", "conflict", "taken"]


@dataclass(frozen=True, slots=True)
class CapRequest:
    """One sale the router wants to make: caps in the buyer's windows, dedup claims together."""

    buyer_id: str
    lead_id: str
    caps: Caps
    windows: CapWindows
    price: Decimal
    dedup_keys: tuple[str, ...] = ()
    dedup_ttl_s: float | None = None


@dataclass(frozen=True, slots=True)
class Reservation:
    request: CapRequest


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str  # cap:hourly · cap:daily · cap:budget · dedup


@dataclass(frozen=True, slots=True)
class Pause:
    """A buyer an operator paused: who (an operator's name), when (UTC RFC 3339), and why."""

    by: str
    at: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class BuyerUsage:
    """A buyer's sales in the hour and day asked about (its own timezone's), and its breaker."""

    hour_count: int = 0
    day_count: int = 0
    day_spend: Decimal = Decimal(0)
    breaker: Phase = "closed"


@dataclass(frozen=True, slots=True)
class Admission:
    """One buyer asked whether it may be pinged: its caps and dedup (`caps`; None: nothing to
    check) and its breaker (`breaker`; None: the breaker is off)."""

    buyer_id: str
    caps: CapRequest | None = None
    breaker: BreakerPolicy | None = None


@dataclass(frozen=True, slots=True)
class Admitted:
    """What `admit` says of one buyer: `refused`, why its caps or dedup would refuse any sale
    now (its breaker is then not asked); else `breaker_open`, whether its breaker would not let
    it be called (an open breaker whose cooldown passed admits one probe, and this is it)."""

    refused: str | None = None
    breaker_open: bool = False


@dataclass(frozen=True, slots=True)
class BreakerCall:
    """One ping or post counted in its buyer's breaker: whether it went well."""

    buyer_id: str
    ok: bool
    policy: BreakerPolicy


@dataclass(frozen=True, slots=True)
class Journaled:
    """The post is journaled and its slot reserved (`reservation`; None when nothing was asked
    of the caps): it may go out."""

    reservation: Reservation | None = None


@dataclass(frozen=True, slots=True)
class Sealed:
    """The lead's journal is sealed: another router took the lead over. Nothing is held or
    written, and the post must not go out."""


class Store(Protocol):
    async def claim_idempotency(
        self,
        key: IdempotencyKey,
        ttl_s: float,
        *,
        lead_id: str | None = None,
        lease_s: float | None = None,
    ) -> IdempotencyClaim:
        """Claim the key for the auction `lead_id` for `lease_s` (the whole `ttl_s` without one).
        A claim of a key whose lease ran out unanswered takes it over (`Claimed.takeover`)."""

    async def complete_idempotency(
        self, key: IdempotencyKey, outcome: Outcome, *, lead_id: str | None = None
    ) -> AnswerWrite:
        """Answer the key with `outcome`. With `lead_id` (the auction that claimed it): while
        that auction owns the key and it has no answer yet; when the answer is a takeover's
        verdict about `lead_id` itself, with that auction's own outcome; and when the claim is
        gone, or held by a claim made without knowing of `lead_id` (its chain does not name it),
        as the key's first answer: the record is made again, for the retention's
        `idempotency_days`. Never over another answer, nor over a key of another lead."""

    async def abandon_idempotency(self, key: IdempotencyKey, *, lead_id: str | None = None) -> None:
        """The auction died before an outcome: let a resend try again. With `lead_id`, only while
        that auction still owns the key unanswered."""

    async def check(self, request: CapRequest) -> Refused | None:
        """Would this buyer refuse any sale now (at a cap, or the consumer already sold to it)?"""

    async def reserve(self, request: CapRequest) -> Reservation | Refused: ...

    async def release(self, reservation: Reservation) -> None: ...

    async def confirm(self, reservation: Reservation) -> None: ...

    async def journal_post(self, lead_id: str, buyer_id: str) -> bool:
        """Written before every post, so a router that dies mid-post leaves word of it. False (and
        nothing written) when the lead's journal is sealed: another router took the lead over, and
        the post must not go out."""

    async def journal(self, lead_id: str) -> tuple[str, ...]: ...

    async def seal_journal(self, lead_id: str) -> tuple[str, ...]:
        """Close the lead's journal to further posts and return the buyers already posted to."""

    async def record_outcome(self, outcome: Outcome, ledger: Sequence[Entry] = ()) -> None:
        """Keep the outcome (resends read it). `ledger`: the lead's record for the ledger, put
        in this store's outbox (`outbox`) no later than the outcome: in the same transaction
        where the outbox lives in the store (the state file, memory), just before it on Redis
        (whose outbox has keys of its own). An answered lead is then always on its way to the
        ledger, and a router that records an outcome pays for one write, not two."""

    def outbox(self) -> Outbox:
        """The ledger's outbox on this store's medium (its state file, memory, Redis): what
        `record_outcome(…, ledger)` puts into and the ledger's writer takes from. The same one
        every call; closed with the store."""

    def turns(self) -> Turns:
        """The tie groups' turn counters on this store's medium (store/turns/), shared by every
        router on it: asked only when offers tie and the tie-break is not priority."""
        ...

    def held_bids(self) -> HeldBids:
        """Exchange pings' held bids (store/held/) on this store's medium; the same one every
        call."""

    def suppression(self) -> SuppressionEntries:
        """The suppression lists' entries added at runtime, on this store's medium (memory, its
        state file, Redis: shared by every router): store/suppression/."""
        ...

    async def admit(self, admissions: Sequence[Admission]) -> list[Admitted]:
        """Every buyer of a ping phase asked at once (one round trip on Redis, whatever their
        number, and none when no buyer has caps and every breaker was seen closed within the
        second: state/redis_breakers.py): for each, `check` of its caps, then, if they would take
        a sale, its breaker's admission; in the order given."""

    async def journal_and_reserve(
        self, lead_id: str, buyer_id: str, request: CapRequest | None
    ) -> Journaled | Refused | Sealed:
        """A post's claims in one call: its slot (as `reserve`; none without `request`), then
        its journal entry (as `journal_post`): on Redis one round trip each, two in all only when
        there is a slot to hold. Refused: nothing held or written (the journal never names a
        buyer whose slot was refused, so a `pending` after a crash always holds its slot).
        Sealed: nothing held or written."""

    async def breaker_record_all(self, calls: Sequence[BreakerCall]) -> None:
        """Count the calls in their buyers' breakers (as `breaker_record`, in order), and any
        the store holds from `finish`, now: one round trip on Redis."""

    async def finish(
        self,
        outcome: Outcome,
        ledger: Sequence[Entry],
        key: IdempotencyKey | None,
        *,
        lead_id: str,
        confirms: Sequence[Reservation] = (),
        calls: Sequence[BreakerCall] = (),
    ) -> AnswerWrite | None:
        """An auction's last writes in one step (one round trip on Redis): `confirm` each of
        `confirms`, count `calls` in their breakers (Redis holds them a moment, to count many
        leads' at once: state/redis_breakers.py), `record_outcome(outcome, ledger)`, then
        answer `key` (`complete_idempotency`; None without a key). All of it is safe to write
        again: a caller whose call failed writes the outcome and the answer again later (guard.py)
        and lets the confirms and calls go (the safe side, and health statistics)."""

    async def get_outcome(self, lead_id: str) -> Outcome | None: ...

    async def breaker_admit(self, buyer_id: str, policy: BreakerPolicy) -> bool: ...

    async def breaker_record(self, buyer_id: str, ok: bool, policy: BreakerPolicy) -> None: ...

    async def pause(self, buyer_id: str, by: str, at: str, reason: str | None) -> None:
        """Pause the buyer (again: the newest pause's who, when and why replace the old)."""

    async def resume(self, buyer_id: str) -> None: ...

    async def pauses(self) -> dict[str, Pause]:
        """Every paused buyer, by id."""

    async def buyer_usage(self, windows: dict[str, CapWindows]) -> dict[str, BuyerUsage]:
        """For each buyer id, its sales in the given windows and its breaker's phase now."""

    async def ping(self) -> None:
        """Return when the store answers; StoreUnavailable when it does not."""

    async def close(self) -> None: ...
