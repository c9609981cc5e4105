"""What an auction hands back to the router: a result, never state left on a shared object for
the router to read (DESIGN §10, house rule 4).

    AuctionResult           the auction finished: its outcome and, when sold, the winning offer
    StoreFailedMidAuction   the store failed before it could finish (a StoreUnavailable, 503),
                            with what the auction knew then: whether a post went out, and the
                            buyer of an ambiguous post the lead went on past

The router judges a failure by its table (router.py's docstring). A crash (any other exception)
carries nothing: an auction that broke midway is not trusted to know what it did, and the router
reads the journal instead, which every post is written to before it goes out.
"""

from __future__ import annotations

from dataclasses import dataclass

from pingtree.core.errors import StoreUnavailable
from pingtree.core.outcome import Outcome
from pingtree.core.ranking import Offer


@dataclass(frozen=True, slots=True)
class AuctionResult:
    outcome: Outcome
    # The offer that bought the lead (a sale only): its ping's ids, price and carried values are
    # what the deliveries send on.
    won: Offer | None = None
    # A lead sold shared: every offer that bought a share, `won` first (each its own deliveries).
    won_shares: tuple[Offer, ...] = ()

    @property
    def sold_offers(self) -> tuple[Offer, ...]:
        if self.won_shares:
            return self.won_shares
        return () if self.won is None else (self.won,)


class StoreFailedMidAuction(StoreUnavailable):
    """The store failed mid-auction. To the seller it is the StoreUnavailable it wraps (503, the
    same detail); to the router, what the auction knew: `posted`, whether a post went out and was
    answered (then the key is not freed: a resend must not run a second auction), and
    `unknown_post`, the buyer whose post was ambiguous when the lead went on past it."""

    def __init__(self, error: StoreUnavailable, *, posted: bool, unknown_post: str | None) -> None:
        super().__init__(error.detail, slow=error.slow)
        self.posted = posted
        self.unknown_post = unknown_post
