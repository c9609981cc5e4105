"""The order a tier's offers are posted in (DESIGN §14): the pure ranking (core/ranking.py) given
what it needs from outside it: the expected-value factors (ranking_stats.py's snapshot, read from
memory, never from the ledger) and, when offers tie and the tie-break rotates them, a turn from
the tie group's counter in the store (store/turns/), shared by every router.

What it costs an auction: nothing beyond today's sort with the defaults (`by: price`,
`tie_break: priority`); one store round trip only when offers tie under round_robin or weighted.
A turn the store fails to give ranks the tie by priority: a turn never breaks an auction.

It also writes down why each offer ranked where it did (`LiveAuction.rank_notes`), which the
winner's post event carries as its `detail`: its expected value and the tie-break. With the
defaults there is nothing to add to the price, and nothing is written.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal

from pingtree.auction.live import LiveAuction
from pingtree.auction.ranking_stats import RankingStats
from pingtree.core.ranking import Offer, Ranking, offer_value, rank, tie_group, tie_group_key
from pingtree.store.state.guard import GuardedStore

log = logging.getLogger(__name__)


class OfferOrder:
    def __init__(self, store: GuardedStore, stats: RankingStats | None = None) -> None:
        self._store = store
        self._stats = stats

    async def ranked(self, auction: LiveAuction, offers: Sequence[Offer]) -> list[Offer]:
        settings = auction.tree.settings
        by_value = settings.ranking.by == "expected_value" and self._stats is not None
        if not by_value and settings.tie_break == "priority":
            return rank(offers)
        weights = {}
        if settings.tie_break == "weighted":
            weights = {o.buyer_id: auction.tree.buyers[o.buyer_id].weight for o in offers}
        factors = self._stats.factors if by_value and self._stats is not None else {}
        ranking = Ranking(factors, settings.tie_break, weights)
        tied = tie_group(offers, ranking)
        turn = None
        if tied is not None and ranking.tie_break != "priority":
            turn = await self._turn(tie_group_key(tied))
        ordered = rank(offers, ranking, turn)
        auction.rank_notes.update(self._notes(auction, ordered, ranking, turn, by_value))
        return ordered

    async def _turn(self, group: str) -> int | None:
        try:
            return await self._store.turns().next(group)
        except Exception as exc:  # StoreUnavailable, or anything: priority order instead
            log.warning("no turn for a tie (%s): ranked by priority", type(exc).__name__)
            return None

    def _notes(
        self,
        auction: LiveAuction,
        ordered: list[Offer],
        ranking: Ranking,
        turn: int | None,
        by_value: bool,
    ) -> dict[str, str]:
        """Why each offer ranked where it did, in words with no PII: buyer ids and figures."""
        values = {o.buyer_id: offer_value(o, ranking) for o in ordered}
        in_file_order = sorted(ordered, key=lambda o: o.order)  # the same words on every lead
        notes: dict[str, str] = {}
        for offer in ordered:
            words = [self._value_words(auction, offer, ranking)] if by_value else []
            value = values[offer.buyer_id]
            tied = [o.buyer_id for o in in_file_order if values[o.buyer_id] == value]
            if len(tied) > 1:
                words.append(_tie_words(offer, tied, value, ranking, turn))
            if words:
                notes[offer.buyer_id] = "; ".join(words)
        return notes

    def _value_words(self, auction: LiveAuction, offer: Offer, ranking: Ranking) -> str:
        settings = auction.tree.settings.ranking
        window = f"{settings.window_days:g} days"
        factor = ranking.factors.get(offer.buyer_id)
        figures = self._stats.stats.get(offer.buyer_id) if self._stats is not None else None
        if factor is not None and figures is not None:
            returns = figures.return_rate or Decimal(0)
            return (
                f"expected value {offer_value(offer, ranking):.2f} = bid {offer.price:.2f}"
                f" x {figures.acceptance:.4f} posts accepted x (1 - {returns:.4f} returned)"
                f" over {window} ({figures.sales} sales)"
            )
        if self._stats is not None and not self._stats.has_ledger:
            return f"ranked by its bid {offer.price:.2f}: no ledger to read its figures from"
        sales = figures.sales if figures is not None else 0
        return (
            f"ranked by its bid {offer.price:.2f}: {sales} sales over {window},"
            f" below min_sales {settings.min_sales}"
        )


def _tie_words(
    offer: Offer, tied: list[str], value: Decimal, ranking: Ranking, turn: int | None
) -> str:
    others = ", ".join(b for b in tied if b != offer.buyer_id)
    if ranking.tie_break == "priority":
        how = "priority order"
    elif turn is None:
        how = f"{ranking.tie_break} had no turn from the store: priority order"
    else:
        how = f"{ranking.tie_break}, turn {turn}"
    if ranking.tie_break == "weighted" and turn is not None:
        how += " (weights " + ", ".join(f"{b}={ranking.weights.get(b, 1)}" for b in tied) + ")"
    return f"tied at {value:.2f} with {others}: {how}"


__all__ = ["OfferOrder"]
