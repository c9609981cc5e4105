"""The figures ranking by expected value reads (DESIGN §14), as this router knows them.

They come from the ledger (ledger/buyer_stats.py: each buyer's sales, post acceptance and return
rate over `router.ranking.window_days`), which an auction must never wait on: each router keeps
the factors in memory, read at start and again every `router.ranking.refresh_s` in the
background, and swapped whole, so an auction reads one consistent snapshot with no I/O. With
`by: price` nothing is read. A config reloaded to `by: expected_value` ranks by value from the
next refresh.

While the ledger does not answer the last figures read stand (logged once). A router without a
ledger (`--no-ledger`, or Redis with no --database-url) has no figures: every buyer ranks by its
bid, and it says so at start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType

from pingtree.auction.refreshed import Refreshed
from pingtree.config.models.router_settings import RankingSettings
from pingtree.core.errors import LedgerUnavailable
from pingtree.core.ranking import BuyerStats, expected_value_factors
from pingtree.ledger.base import Ledger
from pingtree.ledger.buyer_stats import buyer_stats

log = logging.getLogger(__name__)


class RankingStats(Refreshed):
    what = "ranking figures"
    unavailable = LedgerUnavailable

    def __init__(
        self,
        ledger: Ledger | None,
        settings: Callable[[], RankingSettings],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`settings` is asked at each refresh: a reload's window, min_sales and interval apply."""
        super().__init__()
        self._ledger = ledger
        self.has_ledger = ledger is not None
        self._settings = settings
        self._clock = clock
        self.stats: Mapping[str, BuyerStats] = MappingProxyType({})
        self.factors: Mapping[str, Decimal] = MappingProxyType({})
        self._told_no_ledger = False

    def every_s(self) -> float:
        return self._settings().refresh_s

    async def refresh(self) -> None:
        """Read the figures again (by expected value only); LedgerUnavailable leaves the last
        ones read in place."""
        settings = self._settings()
        if settings.by != "expected_value":
            self.stats, self.factors = MappingProxyType({}), MappingProxyType({})
            return
        if self._ledger is None:
            if not self._told_no_ledger:
                log.warning("ranking by expected_value needs a ledger: buyers rank by their bid")
            self._told_no_ledger = True
            return
        stats = await buyer_stats(self._ledger, self._clock(), settings.window_days)
        factors = expected_value_factors(stats, settings.min_sales)
        # Swapped whole: an auction that read the factors keeps what it read.
        self.stats, self.factors = MappingProxyType(stats), MappingProxyType(factors)


__all__ = ["RankingStats"]
