"""What MemoryStore keeps (memory.py), and SqliteStore writes to the state file (sqlite.py): an
idempotency record, as a plain tuple and worked on as a dataclass, and a cap window's usage."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from pingtree.store.state.base import AnswerWrite

__all__ = ["CapUsage", "ClaimRow", "IdempotencyRecord"]

# An IdempotencyRecord's fields as a plain tuple, the form the map keeps (atomic values).
ClaimRow = tuple[str, str, tuple[str, ...], float, bytes | None, str | None, bool]


@dataclass(slots=True)
class IdempotencyRecord:
    """One idempotency record: whose auction owns it, until when, and its answer once known.
    Kept as a `ClaimRow`; read into an `IdempotencyRecord` to work on it."""

    fingerprint: str  # of the lead: the same key with another lead is a conflict
    owner: str  # the auction that owns the key (or a random token for a claim without one)
    chain: tuple[str, ...]  # every auction that has owned it, oldest first
    lease_until: float
    answer: bytes | None = None  # the outcome's summary, encoded
    answered_by: str | None = None  # the id of the outcome in `answer`
    verdict: bool = False  # the answer is a takeover's verdict about an earlier owner

    def row(self) -> ClaimRow:
        return (
            self.fingerprint,
            self.owner,
            self.chain,
            self.lease_until,
            self.answer,
            self.answered_by,
            self.verdict,
        )

    def refusal(self, fingerprint: str, outcome_id: str, lead_id: str | None) -> AnswerWrite | None:
        """None when the answer `outcome_id` of the auction `lead_id` is to be written here,
        else what became of it (base.py, `complete_idempotency`)."""
        if fingerprint != self.fingerprint:
            return "conflict"
        if lead_id is None:
            return None  # a caller that does not say who it is answers as before leases
        # A takeover that knew of this auction: it answers from this one's outcome or journal.
        superseded = lead_id in self.chain and lead_id != self.owner
        if self.answer is not None:
            # The auction a takeover's verdict was about finished after all: its own answer wins.
            if self.verdict and self.answered_by == lead_id == outcome_id:
                return None
            if self.answered_by == outcome_id:
                return "answered"
            return "superseded" if superseded else "taken"
        if superseded:
            return "superseded"
        # Its owner, or a claim made without knowing of this auction (the store lost the key's
        # record, then a resend claimed it): this auction ran first, its answer is the answer.
        return None


@dataclass
class CapUsage:
    count: int = 0
    spend: Decimal = Decimal(0)
