"""Scenario 8 (issue 6): what the Redis store costs per lead against the memory store, what a second
router process on the same Redis adds, and how much Redis memory a retained lead takes. Since
issue 15 the Redis routers keep their ledger as several routers do, on a PostgreSQL beside Redis
(the rig's own, core 1, like Redis): their figures include putting each lead's record in the
outbox (on Redis) and filing it; the memory store's router keeps its ledger in memory.

Scenario 1's market (10 instant buyers in one tier). Up at once: a router on the memory store
(core 0), a router on Redis (core 0) and a second router on the same Redis (core 1), the rig's own
redis-server (core 1, as a Redis on another host: its CPU is not the router's, and is measured on
its own). Three contenders in alternating rounds: the memory store, Redis with one process, Redis
with two (both routers at once, each loaded by its own wrk with half the connections).

On a 2-core machine the second process shares core 1 with everything that loads the routers (wrk,
nginx as the 10 buyers, Redis): "2 processes" measures what a second process gets from the
leftovers of the load core, a lower bound of what a free core would give, not linear scaling. The
figure that scales is CPU per lead: a host gives about (its cores) / (router CPU per lead) leads/s,
with Redis's own CPU per lead beside it.
"""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any

from harness import CONNECTIONS, Bench, Market, Row, Throughput, throughput_figures
from market import SELLER_KEY, instant_buyers
from postgres_server import postgres_server
from redis_server import Calls, RedisServer, redis_server
from rig import (
    LOAD_CORE,
    ROUTER_CORE,
    RigError,
    Service,
    UsageMeter,
    WrkRun,
    cpu_seconds,
    free_port,
    http_json,
    ledger_drained,
    parse_wrk,
    start,
    start_router,
    wrk_argv,
)

Figures = dict[str, Any]
MEMORY, ONE, TWO = "memory store", "Redis, 1 process", "Redis, 2 processes"
KIND_OF_KEYS = ("outcome", "journal", "idempotency")  # what each lead leaves in Redis
GIB = 1024**3


@dataclass
class Round:
    """One contender's closed-loop run: leads, seconds, the routers' and Redis's CPU seconds."""

    leads: int
    seconds: float
    router_cpu_s: float
    redis_cpu_s: float
    redis_calls: Calls
    runs: list[Throughput]

    @property
    def rate(self) -> float:
        return self.leads / self.seconds if self.seconds else 0.0

    def per_lead_ms(self, cpu_s: float) -> float:
        return 1000 * cpu_s / max(self.leads, 1)


def redis_store(bench: Bench) -> tuple[list[Row], Figures]:
    """The memory store against Redis, 1 router process against 2 on Redis; Redis bytes per lead."""
    with ExitStack() as stack:
        market = stack.enter_context(bench.market("s8-redis", instant_buyers(10), {}))
        server = stack.enter_context(redis_server(market.directory))
        postgres = stack.enter_context(postgres_server())
        ledger = postgres.create_database("s8")
        before = server.stored_bytes()
        first = _redis_router(bench, market, server, ledger, "pingtree-redis-1", ROUTER_CORE)
        stack.callback(first.router.stop)
        second = _redis_router(bench, market, server, ledger, "pingtree-redis-2", LOAD_CORE)
        stack.callback(second.router.stop)
        contenders: dict[str, Callable[[str, float], Round]] = {
            MEMORY: lambda label, s: _one(bench, server, market, label, s),
            ONE: lambda label, s: _one(bench, server, first, label, s),
            TWO: lambda label, s: _two(bench, server, (first, second), label, s),
        }
        rounds = _alternate(bench, contenders)
        _shared_store(bench, first, second)
        drained_s = ledger_drained(first.router_url, "s8")
        time.sleep(1)  # the last answers' connections idle: their buffers out of the reading
        retained = _retained(server, before)
    retained["ledger_drained_s"] = round(drained_s, 2)
    return _rows(rounds, retained), _figures(rounds, retained)


def _redis_router(
    bench: Bench, market: Market, server: RedisServer, ledger: str, name: str, core: str
) -> Market:
    """Another router on the market's buyers.yaml, with the Redis store and the ledger on
    PostgreSQL, as a Market to probe."""
    port = free_port()
    options = ("--redis-url", server.url, "--database-url", ledger)
    router = start_router(
        market.directory / "buyers.yaml",
        port,
        market.directory,
        bench.source,
        name=name,
        core=core,
        options=options,
    )
    return replace(market, name=f"{market.name} {name}", router=router, router_url=_url(port))


def _url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1/leads"


def _alternate(
    bench: Bench, contenders: dict[str, Callable[[str, float], Round]]
) -> dict[str, list[Round]]:
    for name, run in contenders.items():
        run(f"s8 {name} warm-up", bench.timings.warmup_s)
    rounds: dict[str, list[Round]] = {name: [] for name in contenders}
    for number in range(1, bench.timings.rounds + 1):
        for name, run in contenders.items():
            rounds[name].append(run(f"s8 {name} round {number}", bench.timings.throughput_s))
    return rounds


def _one(bench: Bench, server: RedisServer, market: Market, label: str, seconds: float) -> Round:
    redis_cpu, calls = cpu_seconds(server.service.pid), server.calls()
    run = bench.throughput(market.router_url, market.router, label, seconds)
    redis_cpu = cpu_seconds(server.service.pid) - redis_cpu
    calls = server.calls() - calls
    return Round(run.wrk.requests, run.wrk.seconds, run.usage.cpu_s, redis_cpu, calls, [run])


def _two(
    bench: Bench, server: RedisServer, markets: tuple[Market, Market], label: str, seconds: float
) -> Round:
    """Both routers at once, each under its own wrk with half of the connections."""
    for market in markets:
        market.router.ensure_running()
    meters = [UsageMeter(market.router.pid) for market in markets]
    redis_cpu, calls = cpu_seconds(server.service.pid), server.calls()
    tools = [
        _start_wrk(bench, market, f"{label} process {n}", seconds)
        for n, market in enumerate(markets, start=1)
    ]
    runs = [_wait_wrk(tool, seconds) for tool in tools]
    redis_cpu = cpu_seconds(server.service.pid) - redis_cpu
    calls = server.calls() - calls
    measured = [Throughput(run, meter.read()) for run, meter in zip(runs, meters, strict=True)]
    for n, run in enumerate(measured, start=1):
        bench.check_wrk(f"{label} process {n}", run.wrk)
    # Only the first router's core is meant to be its own: the second shares the load core.
    bench.check_quiet(f"{label} process 1", measured[0].usage)
    leads = sum(run.wrk.requests for run in measured)
    span = max(run.wrk.seconds for run in measured)
    cpu = sum(run.usage.cpu_s for run in measured)
    return Round(leads, span, cpu, redis_cpu, calls, measured)


def _start_wrk(bench: Bench, market: Market, label: str, seconds: float) -> Service:
    argv = wrk_argv(
        market.router_url,
        bench.template,
        SELLER_KEY,
        bench.prefix(label),
        seconds,
        CONNECTIONS // 2,
    )
    return start(f"wrk-{bench.prefix('s8')}", argv, LOAD_CORE, market.directory)


def _wait_wrk(tool: Service, seconds: float) -> WrkRun:
    try:
        tool.process.wait(timeout=seconds + 30)
    except subprocess.TimeoutExpired as exc:
        tool.stop()
        raise RigError(f"wrk did not finish within {seconds + 30:.0f} s") from exc
    if tool.process.returncode != 0:
        raise RigError(f"wrk failed ({tool.process.returncode}): {tool.log_tail()}")
    return parse_wrk(tool.log.read_text())


def _shared_store(bench: Bench, first: Market, second: Market) -> None:
    """One store behind both routers: a lead sold through the first is the second's to show, and
    the same lead_id sent to the second is answered from the first's idempotency record."""
    view = bench.probe(first)
    if not view:
        return
    bench.operator_view(second, view["id"])
    lead_id = str(view.get("lead_id"))
    body = bench.template.read_bytes().replace(b"@LEAD_ID@", lead_id.encode())
    headers = {"Content-Type": "application/json", "X-API-Key": SELLER_KEY}
    status, answer = http_json(second.router_url, headers, body)
    if status != 200 or not isinstance(answer, dict) or answer.get("id") != view["id"]:
        bench.problems.append(f"s8: a resend to the second router got HTTP {status} {answer}")
        return
    bench.checks.append(
        f"s8: lead {view['id']} sold through router 1, shown by router 2, its resend to router 2 "
        "answered from the first answer (one store)"
    )


def _retained(server: RedisServer, before: int) -> Figures:
    """Redis's memory per retained lead: what the data grew by over the scenario ÷ the leads it
    holds (each lead: an outcome with its trace, a journal, an idempotency record and, when
    router.deliveries.ledger_days is set, a row of the sales ledger)."""
    after = server.stored_bytes()
    counts = {kind: server.count(kind) for kind in KIND_OF_KEYS}
    leads = counts["outcome"]
    if leads == 0:
        raise RigError("s8: no outcome in Redis after the runs")
    per_lead = (after - before) / leads
    sizes = {kind: server.mean_key_bytes(kind) for kind in KIND_OF_KEYS}
    # The sales ledger (the CSV export) keeps a row per sale for ledger_days; off by default.
    ledger = server.tagged_bytes("s") / leads
    # What MEMORY USAGE leaves out (the keyspace's and the TTLs' own entries), shared evenly by
    # a lead's keys: after outcomes_hours, the idempotency record alone stays, with its share.
    bookkeeping = (per_lead - ledger - sum(sizes.values())) / len(KIND_OF_KEYS)
    return {
        "leads": leads,
        "keys": counts,
        "stored_bytes_before": before,
        "stored_bytes_after": after,
        "bytes_per_lead": round(per_lead),
        "mean_key_bytes": {kind: round(size) for kind, size in sizes.items()},
        "idempotency_alone_bytes": round(sizes["idempotency"] + bookkeeping),
        "sales_ledger_bytes_per_lead": round(ledger),
        "gib_per_million_leads": round(per_lead * 1_000_000 / GIB, 2),
    }


def _medians(rounds: list[Round]) -> dict[str, float]:
    return {
        "leads_per_s": statistics.median(r.rate for r in rounds),
        "router_cpu_ms_per_lead": statistics.median(r.per_lead_ms(r.router_cpu_s) for r in rounds),
        "redis_cpu_ms_per_lead": statistics.median(r.per_lead_ms(r.redis_cpu_s) for r in rounds),
        "redis_scripts_per_lead": statistics.median(
            r.redis_calls.scripts / max(r.leads, 1) for r in rounds
        ),
        "redis_commands_per_lead": statistics.median(
            r.redis_calls.commands / max(r.leads, 1) for r in rounds
        ),
    }


def _rows(rounds: dict[str, list[Round]], retained: Figures) -> list[Row]:
    median = {name: _medians(runs) for name, runs in rounds.items()}
    scenario = "8 · Redis, 10 buyers"

    def cost(name: str) -> str:
        figures = median[name]
        text = f"{figures['leads_per_s']:.0f} · {figures['router_cpu_ms_per_lead']:.2f} ms"
        return text if name == MEMORY else f"{text} · {figures['redis_cpu_ms_per_lead']:.2f} ms"

    cpu_ratio = median[ONE]["router_cpu_ms_per_lead"] / median[MEMORY]["router_cpu_ms_per_lead"]
    rate_ratio = median[TWO]["leads_per_s"] / median[ONE]["leads_per_s"]
    sizes = retained["mean_key_bytes"]
    kinds = ", ".join(f"{kind} {sizes[kind]:,} B" for kind in KIND_OF_KEYS)
    return [
        Row(scenario, f"{MEMORY}: leads/s · router CPU/lead", cost(MEMORY), "core 0"),
        Row(scenario, f"{ONE}: leads/s · router · Redis CPU/lead", cost(ONE), "core 0"),
        Row(scenario, f"{TWO}: leads/s · routers · Redis CPU/lead", cost(TWO), "cores 0 + 1"),
        Row(scenario, "router CPU/lead, Redis ÷ memory", f"{cpu_ratio:.2f}"),
        Row(
            scenario,
            "the ledger on PostgreSQL: every record filed, after the last round, in",
            f"{retained['ledger_drained_s']:.1f} s",
        ),
        Row(
            scenario,
            "Redis scripts · commands per lead",
            f"{median[ONE]['redis_scripts_per_lead']:.1f} · "
            f"{median[ONE]['redis_commands_per_lead']:.1f}",
        ),
        Row(scenario, "leads/s, 2 ÷ 1 process (core 1 shared with the load)", f"{rate_ratio:.2f}"),
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


def _figures(rounds: dict[str, list[Round]], retained: Figures) -> Figures:
    figures: Figures = {"retained": retained}
    for name, runs in rounds.items():
        medians = {key: round(value, 3) for key, value in _medians(runs).items()}
        figures[name] = medians | {
            "rounds": [
                {
                    "leads_per_s": round(r.rate, 1),
                    "router_cpu_ms_per_lead": round(r.per_lead_ms(r.router_cpu_s), 3),
                    "redis_cpu_ms_per_lead": round(r.per_lead_ms(r.redis_cpu_s), 3),
                    "redis_scripts": r.redis_calls.scripts,
                    "redis_commands": r.redis_calls.commands,
                    "processes": [throughput_figures(run) for run in r.runs],
                }
                for r in runs
            ]
        }
    return figures
