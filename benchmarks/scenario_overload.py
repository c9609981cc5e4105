"""Scenario 9, overload: an open loop at three times the max rate of scenario 1, against a router
whose `max_in_flight` is what one core sustains, against one with the default `max_in_flight`,
then against one with no cap to speak of.

With the cap, the leads past it are refused at once (503 `overloaded`, Retry-After) and the leads
accepted are answered as fast as the core allows, well within the budget. The default must do
the same, if less tightly: its event loop must keep up (lag p99 within the breaker's 100 ms), no
buyer call may time out, every lead it accepts sold within the budget. Without a cap, every lead
is accepted, queues behind the others, and every lead gets slower: the answer time grows with the
run, past the budget (the budget starts when pingtree reads the request, not when the seller sent
it), until sellers time out.
"""

from __future__ import annotations

from typing import Any

from harness import CONNECTIONS, Bench, Row, verdict
from market import instant_buyers
from rig import metrics_page

Figures = dict[str, Any]

OVERLOAD = 3.0  # times the max rate
BUDGET_MS = 3000  # the default router.budget_ms, written out: the target is read against it
# What one core sustains: the concurrency at which wrk saturates the router in scenario 1.
CAP = CONNECTIONS
NO_CAP = 1_000_000
UNCAPPED_S = 3.0  # the uncapped run is short: its backlog grows by twice the max rate a second
# router.breaker.max_loop_lag_ms: a loop later than this reads answers after their deadlines.
LAG_LIMIT_S = 0.1


def overload(bench: Bench) -> tuple[list[Row], Figures]:
    """3x the max rate, open loop: capped at what one core sustains (503 past it), then uncapped."""
    router = {"budget_ms": BUDGET_MS}
    with bench.market("s9-capped", instant_buyers(10), router | {"max_in_flight": CAP}) as market:
        if bench.max_rate is None:
            bench.warm_up(market.router_url, market.router, "s9 max-rate probe")
            bench.max_rate = bench.throughput(
                market.router_url, market.router, "s9 max-rate probe", 3
            ).rate
        rate = OVERLOAD * bench.max_rate
        capped = bench.open_loop(
            market.router_url,
            market.router,
            "s9 capped",
            rate,
            bench.timings.open_loop_s,
            all_sold=False,
        )
        _check_capped(bench, capped)
        for sample in capped["sold_samples"][:3]:
            bench.operator_view(market, sample["id"])
        refusals = _overload_refusals(market.router_url)
    default = _at_default(bench, rate)
    with bench.market("s9-uncapped", instant_buyers(10), router | {"max_in_flight": NO_CAP}) as m:
        uncapped = bench.open_loop(
            m.router_url, m.router, "s9 uncapped", rate, UNCAPPED_S, all_sold=False
        )
        _check_uncapped(bench, uncapped)
    return _rows(bench, rate, capped, uncapped, refusals) + _default_rows(rate, default), {
        "rate": rate,
        "cap": CAP,
        "capped": _figures(capped),
        "default": _figures(default) | {"router": default["router"]},
        "uncapped": _figures(uncapped),
        "router_overload_refusals": refusals,
    }


def _at_default(bench: Bench, rate: float, cap: int | None = None) -> dict[str, Any]:
    """3x the max rate against the router's default max_in_flight (or `cap`), with what its
    /metrics say of its event loop and its buyer calls."""
    router: dict[str, Any] = {"budget_ms": BUDGET_MS}
    label = "s9 default" if cap is None else f"s9 cap {cap}"
    if cap is not None:
        router["max_in_flight"] = cap
    with bench.market(label.replace(" ", "-"), instant_buyers(10), router) as market:
        result = bench.open_loop(
            market.router_url,
            market.router,
            label,
            rate,
            bench.timings.open_loop_s,
            all_sold=False,
        )
        result["router"] = _router_health(market.router_url)
    _check_default(bench, label, result)
    return result


def _check_default(bench: Bench, label: str, result: dict[str, Any]) -> None:
    """Every lead answered 200 sold or 503; the loop kept up; no call timed out; no lead accepted
    later than the budget."""
    sold, refused = _counts(result)
    health = result["router"]
    accepted = result["latency_ms_by_status"].get("200") or {}
    late = (accepted.get("max") or 0) > BUDGET_MS
    if (
        sold != result["http_status"].get("200", 0)
        or set(result["http_status"]) - {"200", "503"}
        or result["errors"]
        or result["unanswered"]
        or health["timeouts"]
        or health["loop_lag_p99_s"] > LAG_LIMIT_S
        or late
    ):
        bench.problems.append(
            f"{label}: HTTP {result['http_status']}, statuses {result['lead_status']}, "
            f"router {health}, accepted max {accepted.get('max')} ms"
        )
    bench.checks.append(
        f"{label}: {sold} sold, {refused} refused 503 of {result['sent']} "
        f"({result['unanswered']} unanswered, errors {result['errors']}); accepted p99 "
        f"{accepted.get('p99')} ms; loop lag p99 ≤ {health['loop_lag_p99_s'] * 1000:.0f} ms, "
        f"{health['timeouts']:.0f} timeouts, {health['breaker_open_skips']:.0f} breaker_open"
    )


def _default_rows(rate: float, result: dict[str, Any]) -> list[Row]:
    accepted = result["latency_ms_by_status"].get("200") or {}
    health = result["router"]
    sold, refused = _counts(result)
    return [
        Row(
            f"9 · overload {rate:.0f}/s (3x max)",
            "default max_in_flight: accepted p50 / p99 / max · sold · refused",
            f"{accepted.get('p50', 0):.0f} / {accepted.get('p99', 0):.0f} / "
            f"{accepted.get('max', 0):.0f} ms · {sold} · {refused / max(result['sent'], 1):.0%}",
            f"budget {BUDGET_MS} ms",
            "accepted max ≤ budget",
            verdict((accepted.get("max") or 0) <= BUDGET_MS),
        ),
        Row(
            f"9 · overload {rate:.0f}/s (3x max)",
            "  default max_in_flight: event loop lag p99 · buyer timeouts",
            f"≤ {health['loop_lag_p99_s'] * 1000:.0f} ms · {health['timeouts']:.0f}",
            f"{LAG_LIMIT_S * 1000:.0f} ms · 0",
            "the loop keeps up",
            verdict(health["loop_lag_p99_s"] <= LAG_LIMIT_S and not health["timeouts"]),
        ),
    ]


def _router_health(leads_url: str) -> dict[str, float]:
    """From the router's /metrics: its event loop's lag p99 (the bucket bound it is under), the
    buyer calls that timed out, those not held against a breaker, and breaker_open skips."""
    text = metrics_page(leads_url.replace("/v1/leads", "/metrics"))
    buckets: list[tuple[float, float]] = []
    totals = {"timeouts": 0.0, "excused_timeouts": 0.0, "breaker_open_skips": 0.0}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith("pingtree_event_loop_lag_seconds_bucket{"):
            bound = name.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(bound), float(value)))
        elif name.startswith("pingtree_buyer_timeouts_total{"):
            totals["timeouts"] += float(value)
        elif name.startswith("pingtree_breaker_excused_timeouts_total{"):
            totals["excused_timeouts"] += float(value)
        elif name.startswith("pingtree_skips_total{") and 'reason="breaker_open"' in name:
            totals["breaker_open_skips"] += float(value)
    count = max((seen for _, seen in buckets), default=0.0)
    p99 = next((bound for bound, seen in buckets if seen >= 0.99 * count), 0.0)
    return totals | {"loop_lag_p99_s": p99, "loop_ticks": count}


def _rows(
    bench: Bench, rate: float, capped: dict[str, Any], uncapped: dict[str, Any], refusals: int
) -> list[Row]:
    scenario = f"9 · overload {rate:.0f}/s (3x max)"
    sold, refused = _counts(capped)
    accepted = capped["latency_ms_by_status"].get("200") or {}
    share = refused / max(capped["sent"], 1)
    if refusals < refused:
        bench.problems.append(f"s9: the router counted {refusals} refusals, the sellers {refused}")
    p99, most = accepted.get("p99"), accepted.get("max")
    refused_p99 = (capped["latency_ms_by_status"].get("503") or {}).get("p99")
    late = uncapped["latency_ms_by_status"].get("200") or {}
    u_sold, _ = _counts(uncapped)
    timed_out = sum(uncapped["errors"].values()) + uncapped["unanswered"]
    return [
        Row(
            scenario,
            f"max_in_flight {CAP}: accepted leads' answer p50 / p99",
            f"{accepted.get('p50', 0):.0f} / {p99 or 0:.0f} ms",
            f"budget {BUDGET_MS} ms",
            "accepted p99 ≤ budget",
            verdict(p99 is not None and p99 <= BUDGET_MS),
        ),
        Row(
            scenario,
            "  accepted: max answer · leads sold/s",
            f"{most or 0:.0f} ms · {sold / bench.timings.open_loop_s:.0f}/s",
            f"budget {BUDGET_MS} ms",
            "none later than the budget",
            verdict(most is not None and most <= BUDGET_MS),
        ),
        Row(
            scenario,
            "  refused with 503 at once: share · answer p99",
            f"{share:.0%} · {refused_p99 or 0:.1f} ms",
        ),
        Row(
            scenario,
            f"no cap, {UNCAPPED_S:.0f} s: answer p50 / p99 · sold · not answered in 10 s",
            f"{late.get('p50') or 0:.0f} / {late.get('p99') or 0:.0f} ms · "
            f"{u_sold}/{uncapped['sent']} · {timed_out}",
            "every lead slower",
        ),
    ]


def _check_capped(bench: Bench, result: dict[str, Any]) -> None:
    """Every lead answered: 200 sold, or 503 refused; the generator at least twice the max rate
    (a generator that falls further behind no longer overloads the router)."""
    sold, refused = _counts(result)
    other = {k: v for k, v in result["http_status"].items() if k not in ("200", "503")}
    if (
        other
        or result["errors"]
        or result["unanswered"]
        or sold != result["http_status"].get("200", 0)
    ):
        bench.problems.append(
            f"s9 capped: HTTP {result['http_status']}, statuses {result['lead_status']}, "
            f"errors {result['errors']}, {result['unanswered']} unanswered; "
            f"samples {result['samples'][:2]}"
        )
    _check_generator(bench, "s9 capped", result)
    bench.checks.append(
        f"s9 capped: {sold} answered 200 sold and {refused} 503 of {result['sent']} at "
        f"{result['achieved_rate']}/s (generator lag p99 {result['lag_ms']['p99']} ms)"
    )


def _check_uncapped(bench: Bench, result: dict[str, Any]) -> None:
    """Nothing refused; what is answered is 200 sold (slowly), the rest times out at the seller."""
    sold, refused = _counts(result)
    if refused or set(result["http_status"]) - {"200"}:
        bench.problems.append(f"s9 uncapped: HTTP {result['http_status']}")
    _check_generator(bench, "s9 uncapped", result)
    bench.checks.append(
        f"s9 uncapped: {sold} of {result['sent']} answered 200 sold, "
        f"{sum(result['errors'].values())} seller timeouts {result['errors']}"
    )


def _check_generator(bench: Bench, label: str, result: dict[str, Any]) -> None:
    max_rate = bench.max_rate or 0.0
    if (result["achieved_rate"] or 0) < 2 * max_rate:
        bench.problems.append(
            f"{label}: the generator sent {result['achieved_rate']}/s, under twice the max "
            f"rate ({max_rate:.0f}/s): not an overload"
        )


def _counts(result: dict[str, Any]) -> tuple[int, int]:
    """(leads answered 200 sold, leads answered 503)."""
    return result["lead_status"].get("sold", 0), result["http_status"].get("503", 0)


def _figures(result: dict[str, Any]) -> Figures:
    keys = ("rate", "achieved_rate", "sent", "http_status", "lead_status", "errors", "unanswered")
    figures = {key: result[key] for key in keys}
    return figures | {
        "latency_ms_by_status": result["latency_ms_by_status"],
        "lag_ms": result["lag_ms"],
        "server_cpu_share": result["server_cpu_share"],
    }


def _overload_refusals(leads_url: str) -> int:
    text = metrics_page(leads_url.replace("/v1/leads", "/metrics"))
    for line in text.splitlines():
        if line.startswith("pingtree_overload_refusals_total "):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0
