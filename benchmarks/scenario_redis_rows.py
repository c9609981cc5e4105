"""Scenario 8's figures (scenario_redis.py measures them): a contender's rounds, their medians,
the table's rows with issue 20's targets, and the --json figures."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness import Row, Throughput, throughput_figures, verdict
from redis_server import Calls

Figures = dict[str, Any]
MEMORY, ONE, TWO = "memory store", "Redis, 1 process", "Redis, 2 processes"
KIND_OF_KEYS = ("outcome", "journal", "idempotency")  # what each lead leaves in Redis
# Issue 20's targets: a lead's round trips to Redis, whatever the buyers; the router's CPU a lead
# on Redis against on the memory store.
MAX_ROUND_TRIPS = 5.0
MAX_CPU_RATIO = 1.5


@dataclass
class Round:
    """One contender's closed-loop run: leads, seconds, the routers' and Redis's CPU seconds,
    what Redis ran and read, and the requests the routers say they wrote to it."""

    leads: int
    seconds: float
    router_cpu_s: float
    redis_cpu_s: float
    redis_calls: Calls
    round_trips: float
    runs: list[Throughput]

    @property
    def rate(self) -> float:
        return self.leads / self.seconds if self.seconds else 0.0

    def per_lead_ms(self, cpu_s: float) -> float:
        return 1000 * cpu_s / max(self.leads, 1)

    def per_lead(self, count: float) -> float:
        return count / max(self.leads, 1)


Rounds = dict[str, list[Round]]  # by contender


def medians(rounds: list[Round]) -> dict[str, float]:
    def median_of(figure: Callable[[Round], float]) -> float:
        return statistics.median(figure(r) for r in rounds)

    return {
        "leads_per_s": median_of(lambda r: r.rate),
        "router_cpu_ms_per_lead": median_of(lambda r: r.per_lead_ms(r.router_cpu_s)),
        "redis_cpu_ms_per_lead": median_of(lambda r: r.per_lead_ms(r.redis_cpu_s)),
        "round_trips_per_lead": median_of(lambda r: r.per_lead(r.round_trips)),
        "redis_reads_per_lead": median_of(lambda r: r.per_lead(r.redis_calls.reads)),
        "redis_scripts_per_lead": median_of(lambda r: r.per_lead(r.redis_calls.scripts)),
        "redis_commands_per_lead": median_of(lambda r: r.per_lead(r.redis_calls.commands)),
    }


def rows(narrow: Rounds, wide: Rounds, retained: Figures, *, wide_buyers: int) -> list[Row]:
    """10 buyers (three contenders, Redis's memory), then `wide_buyers` (two contenders)."""
    return [
        *_market_rows("8 · Redis, 10 buyers", narrow),
        *_retained_rows("8 · Redis, 10 buyers", retained),
        *_market_rows(f"8 · Redis, {wide_buyers} buyers", wide),
    ]


def _market_rows(scenario: str, rounds: Rounds) -> list[Row]:
    median = {name: medians(runs) for name, runs in rounds.items()}

    def cost(name: str) -> str:
        figures = median[name]
        text = f"{figures['leads_per_s']:.0f} · {figures['router_cpu_ms_per_lead']:.2f} ms"
        return text if name == MEMORY else f"{text} · {figures['redis_cpu_ms_per_lead']:.2f} ms"

    one = median[ONE]
    cpu_ratio = one["router_cpu_ms_per_lead"] / median[MEMORY]["router_cpu_ms_per_lead"]
    found = [
        Row(scenario, f"{MEMORY}: leads/s · router CPU/lead", cost(MEMORY), "core 0"),
        Row(scenario, f"{ONE}: leads/s · router · Redis CPU/lead", cost(ONE), "core 0"),
    ]
    if TWO in median:
        found.append(
            Row(scenario, f"{TWO}: leads/s · routers · Redis CPU/lead", cost(TWO), "cores 0 + 1")
        )
    found += [
        Row(
            scenario,
            "router CPU/lead, Redis ÷ memory",
            f"{cpu_ratio:.2f}",
            target=f"≤ {MAX_CPU_RATIO}",
            verdict=verdict(cpu_ratio <= MAX_CPU_RATIO),
        ),
        Row(
            scenario,
            "round trips to Redis per lead (the router's count)",
            f"{one['round_trips_per_lead']:.1f}",
            f"Redis's reads: {one['redis_reads_per_lead']:.1f}",
            f"≤ {MAX_ROUND_TRIPS:.0f}",
            verdict(one["round_trips_per_lead"] <= MAX_ROUND_TRIPS),
        ),
        Row(
            scenario,
            "Redis scripts · commands per lead",
            f"{one['redis_scripts_per_lead']:.1f} · {one['redis_commands_per_lead']:.1f}",
        ),
    ]
    if TWO in median:
        rate_ratio = median[TWO]["leads_per_s"] / one["leads_per_s"]
        measure = "leads/s, 2 ÷ 1 process (core 1 shared with the load)"
        found.append(Row(scenario, measure, f"{rate_ratio:.2f}"))
    return found


def _retained_rows(scenario: str, retained: Figures) -> list[Row]:
    sizes = retained["mean_key_bytes"]
    kinds = ", ".join(f"{kind} {sizes[kind]:,} B" for kind in KIND_OF_KEYS)
    return [
        Row(
            scenario,
            "the ledger on PostgreSQL: every record filed, after the last round, in",
            f"{retained['ledger_drained_s']:.1f} s",
        ),
        Row(
            scenario,
            "Redis memory per retained lead",
            f"{retained['bytes_per_lead']:,} B",
            f"{retained['leads']:,} leads; keys: {kinds}",
        ),
        Row(
            scenario,
            "Redis memory per million retained leads",
            f"{retained['gib_per_million_leads']:.2f} GiB",
        ),
        Row(
            scenario,
            "  of which the sales ledger (router.deliveries.ledger_days)",
            f"{retained['sales_ledger_bytes_per_lead']:,} B",
        ),
        Row(
            scenario,
            "  after outcomes_hours, the idempotency record alone",
            f"{retained['idempotency_alone_bytes']:,} B",
        ),
    ]


def figures(narrow: Rounds, wide: Rounds, retained: Figures) -> Figures:
    """The 10 buyers' contenders at the top (as before issue 20), the wide market's under
    `wide`."""
    return {"retained": retained, **_contenders(narrow), "wide": _contenders(wide)}


def _contenders(rounds: Rounds) -> Figures:
    found: Figures = {}
    for name, runs in rounds.items():
        median = {key: round(value, 3) for key, value in medians(runs).items()}
        found[name] = median | {"rounds": [_round_figures(r) for r in runs]}
    return found


def _round_figures(r: Round) -> Figures:
    return {
        "leads_per_s": round(r.rate, 1),
        "router_cpu_ms_per_lead": round(r.per_lead_ms(r.router_cpu_s), 3),
        "redis_cpu_ms_per_lead": round(r.per_lead_ms(r.redis_cpu_s), 3),
        "round_trips": r.round_trips,
        "redis_reads": r.redis_calls.reads,
        "redis_scripts": r.redis_calls.scripts,
        "redis_commands": r.redis_calls.commands,
        "processes": [throughput_figures(run) for run in r.runs],
    }
