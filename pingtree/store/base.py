"""The Store protocol: state, spoken in intents, so each method can be one atomic Redis script.

Implementations: `memory.MemoryStore` (embedded default). Every method is async and atomic with
respect to every other call on the same store: no caller ever reads-then-writes across two calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from pingtree.config import BreakerPolicy, Caps
from pingtree.outcome import Outcome
from pingtree.rules import CapWindows


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    seller_id: str
    key: str
    fingerprint: str  # hash of the normalized lead: the same key with another lead is a conflict
    source: str = "Idempotency-Key"  # where the key came from, to name it in a 409


@dataclass(frozen=True, slots=True)
class Claimed:
    """This request owns the key: run the auction, then `complete_idempotency`."""


@dataclass(frozen=True, slots=True)
class InFlight:
    """Another request owns the key and its auction is running; `wait(timeout_s)` returns its
    outcome when it is recorded, or None if it was not within the timeout."""

    wait: Callable[[float], Awaitable[Outcome | None]]


@dataclass(frozen=True, slots=True)
class Done:
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Conflict:
    """The key was used for a different lead."""


IdempotencyClaim = Claimed | InFlight | Done | Conflict


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


class Store(Protocol):
    async def claim_idempotency(self, key: IdempotencyKey, ttl_s: float) -> IdempotencyClaim: ...

    async def complete_idempotency(self, key: IdempotencyKey, outcome: Outcome) -> None: ...

    async def abandon_idempotency(self, key: IdempotencyKey) -> None:
        """The auction died before an outcome: let a resend try again."""

    async def check(self, request: CapRequest) -> Refused | None:
        """Would this buyer refuse any sale now (at a cap, or the consumer already sold to it)?"""

    async def reserve(self, request: CapRequest) -> Reservation | Refused: ...

    async def release(self, reservation: Reservation) -> None: ...

    async def confirm(self, reservation: Reservation) -> None: ...

    async def journal_post(self, lead_id: str, buyer_id: str) -> None:
        """Written before every post, so a router that dies mid-post leaves word of it."""

    async def journal(self, lead_id: str) -> tuple[str, ...]: ...

    async def record_outcome(self, outcome: Outcome) -> None: ...

    async def get_outcome(self, lead_id: str) -> Outcome | None: ...

    async def breaker_admit(self, buyer_id: str, policy: BreakerPolicy) -> bool: ...

    async def breaker_record(self, buyer_id: str, ok: bool, policy: BreakerPolicy) -> None: ...

    async def close(self) -> None: ...
