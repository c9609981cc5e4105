"""Scenario 12: what selling shared costs the router a lead (issue 17: shared selling's cost per
lead). The same market, scenario 1's 10 instant buyers, in two routers up side by side: one sells
every lead exclusive (one post), the other shared to 3 buyers (`verticals: {mva: {sell: shared,
max_buyers: 3}}`, every buyer `shared: true`: three posts, three cap and dedup reservations and
journal entries, three sales on record a lead). Closed-loop rounds of each in turn; the figure is
the router's CPU a lead, shared ÷ exclusive. No target: the lead reports what three sales cost.
"""

from __future__ import annotations

import dataclasses
import statistics
from typing import Any

from harness import Bench, Row, throughput_figures
from market import instant_buyers

MAX_BUYERS = 3
SHARED_VERTICAL = {"verticals": {"mva": {"sell": "shared", "max_buyers": MAX_BUYERS}}}


def shared_cost(bench: Bench) -> tuple[list[Row], dict[str, Any]]:
    """10 instant buyers; rounds of a router selling exclusive and one selling shared to 3."""
    exclusive = instant_buyers(10)
    shared = [dataclasses.replace(buyer, shared=True) for buyer in exclusive]
    with (
        bench.market("s12-exclusive", exclusive, {}) as one,
        bench.market("s12-shared", shared, {}, top=SHARED_VERTICAL) as many,
    ):
        runs = bench.alternate(
            {"exclusive": (one.router_url, one.router), "shared": (many.router_url, many.router)},
            "s12",
        )
    cpu = {name: statistics.median(r.cpu_ms_per_lead for r in rs) for name, rs in runs.items()}
    rate = {name: statistics.median(r.rate for r in rs) for name, rs in runs.items()}
    ratio = cpu["shared"] / cpu["exclusive"]
    cpu_row = Row(
        "12 · shared leads",
        f"CPU ms a lead, shared to {MAX_BUYERS} · exclusive",
        f"{cpu['shared']:.2f} · {cpu['exclusive']:.2f}",
    )
    cpu_row.reference = f"shared ÷ exclusive {ratio:.2f}"
    rate_row = Row("12 · shared leads", "max leads/s, shared (median)", f"{rate['shared']:.0f}")
    rate_row.reference = f"{rate['exclusive']:.0f} exclusive"
    figures = {
        "cpu_ratio": round(ratio, 3),
        **{name: [throughput_figures(r) for r in rounds] for name, rounds in runs.items()},
    }
    return [cpu_row, rate_row], figures


__all__ = ["shared_cost"]
