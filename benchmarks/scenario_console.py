"""Scenario 11: what an open console costs the auctions (issue 16: scenario 1 with a console open
on the Live page stays within noise of scenario 1 without it).

Scenario 1's market (10 instant buyers, nginx) and one router, measured in closed-loop rounds
alternately without and with a Live page's stream open: the page's server side is one listener
of the finished auctions' server-sent events (`/console/events` is the stream of `GET
/admin/events`, operators.py's `event_stream`, over a session's cookie instead of a token), which
`curl -N` holds open here from the load core, as a browser on the operator's laptop would from
afar (the page's drawing costs the operator's machine, not the router). Each round with the page
open must have received the round's auctions as events, so the stream was live while measured.
"""

from __future__ import annotations

import statistics
from typing import Any

from harness import Bench, Row, Throughput, throughput_figures, verdict
from market import ADMIN_TOKEN, instant_buyers
from rig import LOAD_CORE, RigError, start

TARGET = 0.95  # the rate with the page open ÷ without: within this machine's noise


def _events_seen(log: str) -> int:
    return sum(1 for line in log.splitlines() if line == "event: lead")


def console_cost(bench: Bench) -> tuple[list[Row], dict[str, Any]]:
    """10 instant buyers; rounds without and with a Live page's event stream open, in turn."""
    runs: dict[str, list[Throughput]] = {"closed": [], "open": []}
    with bench.market("s11-console", instant_buyers(10), {}) as market:
        url, router = market.router_url, market.router
        events_url = url.replace("/v1/leads", "/admin/events")
        bench.warm_up(url, router, "s11")
        for number in range(1, bench.timings.rounds + 1):
            runs["closed"].append(
                bench.throughput(url, router, f"s11 closed {number}", bench.timings.throughput_s)
            )
            argv = ["curl", "-sN", "-H", f"Authorization: Bearer {ADMIN_TOKEN}", events_url]
            page = start(f"live-page-{number}", argv, LOAD_CORE, market.directory)
            try:
                measured = bench.throughput(
                    url, router, f"s11 open {number}", bench.timings.throughput_s
                )
            finally:
                page.stop()
            seen = _events_seen(page.log.read_text(errors="replace"))
            if seen < measured.wrk.requests * 0.9:
                raise RigError(
                    f"s11 round {number}: the Live page's stream carried {seen} auctions of "
                    f"{measured.wrk.requests}: it was not open while measured"
                )
            runs["open"].append(measured)
    rate = {name: statistics.median(r.rate for r in rounds) for name, rounds in runs.items()}
    cpu = {
        name: statistics.median(r.cpu_ms_per_lead for r in rounds) for name, rounds in runs.items()
    }
    ratio = rate["open"] / rate["closed"]
    row = Row("11 · the console open", "max leads/s, Live open (median)", f"{rate['open']:.0f}")
    row.reference, row.target = f"{rate['closed']:.0f} closed", f"open ÷ closed ≥ {TARGET}"
    row.verdict = f"{ratio:.2f} {verdict(ratio >= TARGET)}"
    cpu_row = Row(
        "11 · the console open",
        "CPU ms a lead, open · closed",
        f"{cpu['open']:.2f} · {cpu['closed']:.2f}",
    )
    figures = {
        "ratio": round(ratio, 3),
        **{name: [throughput_figures(r) for r in rounds] for name, rounds in runs.items()},
    }
    return [row, cpu_row], figures


__all__ = ["console_cost"]
