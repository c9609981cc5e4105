"""A sale's claims on the store, for the auctioneer (auctioneer.py): the cap and dedup request of
one sale, and the journal, reserve and confirm around its post.

These store calls fail safe (router.py's docstring has the table): a reserve or journal that fails
means no post; a confirm goes with the auction's last writes, and one that fails is ignored on
the safe side.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from pingtree.auction.live import LiveAuction
from pingtree.config import BuyerConfig
from pingtree.core.errors import StoreUnavailable, TakenOver
from pingtree.core.rules import cap_windows
from pingtree.store.state.base import CapRequest, Journaled, Refused, Reservation, Sealed
from pingtree.store.state.guard import GuardedStore

__all__ = ["cap_request", "claim_post", "confirm", "reserve"]

# The auction's log, under the name it had before these calls left auctioneer.py.
log = logging.getLogger("pingtree.auction.auctioneer")


def cap_request(auction: LiveAuction, buyer: BuyerConfig, price: Decimal) -> CapRequest:
    """The caps and dedup claim of one sale to `buyer`, counted in the buyer-local hour and
    day the lead was received in (one wall clock reading per auction: live.py)."""
    dedup = buyer.dedup_days is not None
    timezone = auction.tree.config.buyer_timezone(buyer)
    return CapRequest(
        buyer_id=buyer.id,
        lead_id=auction.id,
        caps=buyer.caps,
        windows=cap_windows(auction.received_at, timezone),
        price=price,
        dedup_keys=auction.dedup_keys if dedup else (),
        dedup_ttl_s=buyer.dedup_days * 86400 if buyer.dedup_days else None,
    )


async def reserve(store: GuardedStore, request: CapRequest) -> Reservation | Refused:
    """A slot with no post to journal (a delivery buyer's assignment)."""
    try:
        return await store.reserve(request)
    except StoreUnavailable:
        # The script may have run and only its answer been lost: free what it may hold.
        await store.release_eventually(Reservation(request))
        raise


async def claim_post(
    store: GuardedStore, auction: LiveAuction, buyer_id: str, request: CapRequest | None
) -> Journaled | Refused:
    """Journal the post before it goes out and reserve its slot (`request`; none for a test
    lead or a buyer with no caps or dedup), in one step (Store.journal_and_reserve). If the
    store fails, or another router took the lead over (its journal is sealed), the post does
    not go out and the slot it may hold is freed."""
    try:
        claimed = await store.journal_and_reserve(auction.id, buyer_id, request)
    except StoreUnavailable:
        if request is not None:
            await store.release_eventually(Reservation(request))
        raise
    if isinstance(claimed, Sealed):
        log.warning("auction %s outlived its lease: another router took it over", auction.id)
        raise TakenOver(
            "another router took this lead over when this one outlived its lease; "
            "resend it to read the answer"
        )
    return claimed


def confirm(auction: LiveAuction, reservation: Reservation | None) -> None:
    """Confirm the slot with the auction's last writes (Store.finish): a router that dies
    before leaves it unconfirmed, counted until its held marker expires: the safe side."""
    if reservation is not None:
        auction.confirms.append(reservation)
