"""The consent-evidence gate: the seller's `consent` rule, else the router's, applied to the lead
(core/consent.py decides); a lead without the evidence is rejected, `consent_evidence`, and the
trace says what was missing (a `check` step named `consent`), never the certificate itself."""

from __future__ import annotations

from pingtree.auction.live import LiveAuction, loop_time
from pingtree.core.consent import CONSENT_REASON, consent_problem

# The trace's name for this gate where a buyer's id or a check's goes (checks may not take it).
CONSENT_STEP_NAME = "consent"


def consent_rejection(auction: LiveAuction) -> str | None:
    """`consent_evidence` when the lead lacks the evidence its seller (or the router) demands,
    traced with what is missing; None when it has it, or nothing is demanded."""
    evidence = auction.seller.consent or auction.tree.settings.consent
    if evidence is None:
        return None
    problem = consent_problem(auction.lead, evidence, auction.received_at)
    if problem is None:
        return None
    auction.note(
        loop_time(), CONSENT_STEP_NAME, "check", "rejected", reason=CONSENT_REASON, detail=problem
    )
    return CONSENT_REASON
