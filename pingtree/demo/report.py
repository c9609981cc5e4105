"""What the demo shows after its run: the market in numbers, wins per buyer, and one trace.

Built from what a seller and an operator can see through the API (answers and operator views),
not from the router's insides.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

_STATUSES = ("sold", "unsold", "rejected", "pending")


@dataclass
class BuyerTally:
    pings: int = 0
    bids: int = 0
    wins: int = 0
    revenue: Decimal = Decimal(0)
    failures: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    # Calls the breaker would have skipped, made anyway (router.breaker.mode: shadow): counted
    # apart, since the buyer was pinged all the same.
    shadowed: int = 0


@dataclass
class Summary:
    sent: int = 0
    replayed: int = 0
    http_errors: Counter[int] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    revenue: Decimal = Decimal(0)
    payouts: Decimal = Decimal(0)
    auction_ms: list[int] = field(default_factory=list)
    buyers: dict[str, BuyerTally] = field(default_factory=lambda: defaultdict(BuyerTally))
    example: dict[str, Any] | None = None

    @property
    def answered(self) -> int:
        return sum(self.statuses.values())

    def percentile(self, share: float) -> int:
        if not self.auction_ms:
            return 0
        ordered = sorted(self.auction_ms)
        return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def summarize(
    answers: list[tuple[int, dict[str, Any], bool]], views: list[dict[str, Any]]
) -> Summary:
    """`answers`: (HTTP status, body, replayed) per request; `views`: the operator view of every
    lead that ran an auction (replays excluded)."""
    summary = Summary(sent=len(answers))
    for status, _, replayed in answers:
        if status != 200:
            summary.http_errors[status] += 1
        elif replayed:
            summary.replayed += 1
    for view in views:
        summary.statuses[view["status"]] += 1
        summary.auction_ms.append(view["auction_ms"])
        if view["status"] == "sold" and not view["test"]:
            summary.revenue += Decimal(str(view["price"]))
            summary.payouts += Decimal(str(view["payout"]))
            # every sale (a shared lead has several), each buyer its own price
            for sale in view.get("sales") or [view]:
                tally = summary.buyers[sale["buyer_id"]]
                tally.wins += 1
                tally.revenue += Decimal(str(sale["price"]))
        for event in view["trace"]:
            tally = summary.buyers[event["buyer_id"]]
            if event["step"] == "ping":
                tally.pings += 1
                tally.bids += event["result"] == "bid"
            if event["result"] in ("failed", "unknown"):
                tally.failures += 1
            if event["step"] == "skip" and event["result"] == "shadow":
                tally.shadowed += 1
            elif event["step"] == "skip":
                tally.skipped[event["reason"]] += 1
    summary.example = _example(views)
    return summary


def _example(views: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The most instructive sold lead: the one whose trace tells the most (fallbacks, skips)."""
    sold = [v for v in views if v["status"] == "sold"]
    return max(
        sold, key=lambda v: len({(e["step"], e["result"]) for e in v["trace"]}), default=None
    )


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def render(summary: Summary, console: Console) -> None:
    market = Table(title="The market", show_header=False, title_justify="left")
    market.add_column(style="bold")
    market.add_column(justify="right")
    market.add_row("leads sent", str(summary.sent))
    market.add_row("replayed (idempotent resends)", str(summary.replayed))
    for code, count in sorted(summary.http_errors.items()):
        market.add_row(f"HTTP {code}", str(count))
    for status in _STATUSES:
        count = summary.statuses[status]
        share = 100 * count / summary.answered if summary.answered else 0
        market.add_row(status, f"{count}  ({share:.1f}%)")
    market.add_row("revenue", _money(summary.revenue))
    market.add_row("seller payouts", _money(summary.payouts))
    market.add_row("margin", _money(summary.revenue - summary.payouts))
    market.add_row(
        "auction ms p50 / p95 / p99",
        f"{summary.percentile(0.5)} / {summary.percentile(0.95)} / {summary.percentile(0.99)}",
    )
    console.print(market)

    buyers = Table(title="Per buyer", title_justify="left")
    for name in (
        "buyer",
        "pings",
        "bids",
        "wins",
        "revenue",
        "avg price",
        "failed calls",
        "skipped (why)",
    ):
        buyers.add_column(name, justify="left" if name in ("buyer", "skipped (why)") else "right")
    for buyer_id, tally in sorted(summary.buyers.items(), key=lambda item: -item[1].revenue):
        average = _money(tally.revenue / tally.wins) if tally.wins else "-"
        why = ", ".join(f"{reason} {n}" for reason, n in tally.skipped.most_common(3))
        if tally.shadowed:
            why = ", ".join(filter(None, (why, f"shadow (would skip) {tally.shadowed}")))
        buyers.add_row(
            buyer_id, str(tally.pings), str(tally.bids), str(tally.wins),
            _money(tally.revenue), average, str(tally.failures), why,
        )  # fmt: skip
    console.print(buyers)

    if summary.example is not None:
        render_trace(summary.example, console)


def render_trace(view: dict[str, Any], console: Console) -> None:
    price, payout = _shown(view["price"], money=True), _shown(view["payout"], money=True)
    title = (
        f"How lead {view['id']} sold: {view['buyer_id']} at {price}, "
        f"the seller earned {payout}, in {view['auction_ms']} ms"
    )
    trace = Table(title=title, title_justify="left")
    for name in ("at ms", "buyer", "step", "result", "reason", "http", "took ms", "bid", "detail"):
        trace.add_column(
            name, justify="right" if name in ("at ms", "http", "took ms", "bid") else "left"
        )
    for e in view["trace"]:
        trace.add_row(
            str(e["at_ms"]), e["buyer_id"], e["step"], e["result"], e.get("reason") or "",
            _shown(e.get("http_status")), _shown(e.get("duration_ms")),
            _shown(e.get("bid"), money=True), (e.get("detail") or "")[:40],
        )  # fmt: skip
    console.print(trace)


def _shown(value: Any, *, money: bool = False) -> str:
    if value is None:
        return ""
    return _money(Decimal(str(value))) if money else str(value)
