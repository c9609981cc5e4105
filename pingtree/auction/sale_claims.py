"""A sale's claims on the store, for the auctioneer (auctioneer.py): the cap and dedup request of
one sale, and the reserve, journal and confirm around its post.

These store calls fail safe (router.py's docstring has the table): a reserve or journal that fails
means no post; a confirm that fails is ignored on the safe side.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from decimal import Decimal

from pingtree.auction.live import LiveAuction
from pingtree.config import BuyerConfig
from pingtree.core.errors import StoreUnavailable, TakenOver
from pingtree.core.rules import cap_windows
from pingtree.store.state.base import CapRequest, Refused, Reservation
from pingtree.store.state.guard import GuardedStore

__all__ = ["cap_request", "confirm", "journal_post", "reserve"]

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
    try:
        return await store.reserve(request)
    except StoreUnavailable:
        # The script may have run and only its answer been lost: free what it may hold.
        await store.release_eventually(Reservation(request))
        raise


async def journal_post(
    store: GuardedStore, auction: LiveAuction, buyer_id: str, reservation: Reservation | None
) -> None:
    """Journal the post before it goes out. If the store fails, or another router took the
    lead over (its journal is sealed), the post does not go out and the slot is freed."""
    try:
        journaled = await store.journal_post(auction.id, buyer_id)
    except StoreUnavailable:
        if reservation is not None:
            await store.release_eventually(reservation)
        raise
    if not journaled:
        if reservation is not None:
            await store.release_eventually(reservation)
        log.warning("auction %s outlived its lease: another router took it over", auction.id)
        raise TakenOver(
            "another router took this lead over when this one outlived its lease; "
            "resend it to read the answer"
        )


async def confirm(store: GuardedStore, reservation: Reservation | None) -> None:
    if reservation is None:
        return
    # Unconfirmed, the slot stays counted until its held marker expires: the safe side.
    with suppress(StoreUnavailable):
        await store.confirm(reservation)
