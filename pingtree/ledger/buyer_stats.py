"""Each buyer's figures over the ranking window (DESIGN §14: `router.ranking`), read from the
ledger's hourly rollups through its report by buyer (reports.py), so a 30-day window costs the
same at 10k or 10M leads. Test leads are left out, as in every report.

- sales: the buyer's sales (`wins`);
- acceptance: its posts accepted ÷ its posts that went out (`post_accept_rate`: a post that
  timed out or failed counts as not accepted: the router could not sell there either);
- return_rate: its approved returns ÷ its sales (`return_rate`): an approved return is counted
  in the rollups beside the sale it reverses (ledger/returns.py, DESIGN §15), so ranking by
  expected value discounts it from the next refresh.

Read by the ranking's refresher (auction/ranking_stats.py) in the background, never by an auction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pingtree.core.ranking import BuyerStats
from pingtree.ledger.base import Ledger, ReportQuery


async def buyer_stats(ledger: Ledger, now: datetime, window_days: float) -> dict[str, BuyerStats]:
    """Per buyer id called in the window [now - window_days, now): its figures. LedgerUnavailable
    when the database does not answer."""
    query = ReportQuery(by="buyer", start=now - timedelta(days=window_days), end=now)
    report = await ledger.report(query)
    return {
        row.key: BuyerStats(row.wins, row.post_accept_rate, row.return_rate) for row in report.rows
    }


__all__ = ["buyer_stats"]
