"""Scenario 8 (issues 6 and 20): what the Redis store costs per lead against the memory store, in
router CPU, Redis CPU and round trips to Redis, with 10 buyers and with 100; what a second router
process on the same Redis adds; how much Redis memory a retained lead takes. Since issue 15 the
Redis routers keep their ledger as several routers do, on a PostgreSQL beside Redis (the rig's own,
core 1, like Redis): their figures include putting each lead's record in the outbox (on Redis) and
filing it; the memory store's router keeps its ledger in memory.

Scenario 1's market (10 instant buyers in one tier). Up at once: a router on the memory store
(core 0), a router on Redis (core 0) and a second router on the same Redis (core 1), the rig's own
redis-server (core 1, as a Redis on another host: its CPU is not the router's, and is measured on
its own). Three contenders in alternating rounds: the memory store, Redis with one process, Redis
with two (both routers at once, each loaded by its own wrk with half the connections). Then a
market of 100 instant buyers in one tier, its memory-store router against one Redis router (their
own key prefix) in alternating rounds at WIDE_CONNECTIONS: issue 20's target is a cost per lead
that does not grow with the buyers.

Round trips per lead are the Redis routers' own count (pingtree_redis_round_trips_total on
/metrics, before and after each round: every command, pipeline and script call written, the
ledger writer's reads of the outbox included), beside Redis's count of its reads of the clients'
sockets (INFO stats total_reads_processed: one a request, more for one over 16 KiB; the idle
routers' background reads and the rig's INFO calls add a few), and the scripts and commands Redis
ran (INFO commandstats).

On a 2-core machine the second process shares core 1 with everything that loads the routers (wrk,
nginx as the 10 buyers, Redis): "2 processes" measures what a second process gets from the
leftovers of the load core, a lower bound of what a free core would give, not linear scaling. The
figure that scales is CPU per lead: a host gives about (its cores) / (router CPU per lead) leads/s,
with Redis's own CPU per lead beside it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace

from harness import CONNECTIONS, Bench, Market, Row, Throughput
from market import SELLER_KEY, instant_buyers
from postgres_server import postgres_server
from redis_server import KEY_PREFIX, RedisServer, redis_server
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
    metrics_page,
    parse_wrk,
    pin_children,
    run_wrk,
    start,
    start_router,
    wrk_argv,
)
from scenario_redis_rows import (
    KIND_OF_KEYS,
    MEMORY,
    ONE,
    TWO,
    Figures,
    Round,
    Rounds,
    figures,
    rows,
)

GIB = 1024**3
WIDE = 100  # the second market's buyers: what a lead costs must not grow with them (issue 20)
WIDE_PREFIX = f"pingtree-{WIDE}"  # its Redis router's keys, apart from the 10 buyers' market's
# Its sellers' connections: 8 leads in flight (800 buyer calls) keep one core busy. At 32, a lead
# costing some 30 ms of CPU waits a second on the core, and leads then end on their budget, not
# their cost (a --quick run on a loaded machine at 32: the Redis router sold half or none).
WIDE_CONNECTIONS = 8
_COUNTED = "pingtree_redis_round_trips_total{"


def redis_store(bench: Bench) -> tuple[list[Row], Figures]:
    """The memory store against Redis, 1 router process against 2 on Redis, and Redis bytes per
    lead, with 10 buyers; then the memory store against Redis with WIDE buyers."""
    with ExitStack() as stack:
        directory = bench.workdir / "s8-server"
        directory.mkdir()
        server = stack.enter_context(redis_server(directory))
        postgres = stack.enter_context(postgres_server())
        narrow, retained = _ten_buyers(bench, server, postgres.create_database("s8"))
        wide = _many_buyers(bench, server, postgres.create_database("s8_wide"))
    return rows(narrow, wide, retained, wide_buyers=WIDE), figures(narrow, wide, retained)


def _ten_buyers(bench: Bench, server: RedisServer, ledger: str) -> tuple[Rounds, Figures]:
    with ExitStack() as stack:
        market = stack.enter_context(bench.market("s8-redis", instant_buyers(10), {}))
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
        rounds = _alternate(bench, "s8", contenders)
        _shared_store(bench, first, second)
        drained_s = ledger_drained(first.router_url, "s8")
        time.sleep(1)  # the last answers' connections idle: their buffers out of the reading
        retained = _retained(server, before)
    retained["ledger_drained_s"] = round(drained_s, 2)
    return rounds, retained


def _many_buyers(bench: Bench, server: RedisServer, ledger: str) -> Rounds:
    """WIDE buyers in one tier: the memory store against one Redis router, under their own key
    prefix (the retained-memory figures are the 10 buyers' alone)."""
    name = f"s8-redis-{WIDE}"
    with ExitStack() as stack:
        market = stack.enter_context(bench.market(name, instant_buyers(WIDE), {}))
        router = _redis_router(
            bench, market, server, ledger, f"pingtree-redis-{WIDE}", ROUTER_CORE, WIDE_PREFIX
        )
        stack.callback(router.router.stop)
        contenders: dict[str, Callable[[str, float], Round]] = {
            MEMORY: lambda label, s: _one(bench, server, market, label, s, WIDE_CONNECTIONS),
            ONE: lambda label, s: _one(bench, server, router, label, s, WIDE_CONNECTIONS),
        }
        rounds = _alternate(bench, f"s8 {WIDE} buyers", contenders)
        bench.probe(router)
    return rounds


def _redis_router(
    bench: Bench,
    market: Market,
    server: RedisServer,
    ledger: str,
    name: str,
    core: str,
    prefix: str = KEY_PREFIX,
) -> Market:
    """Another router on the market's buyers.yaml, with the Redis store and the ledger on
    PostgreSQL, as a Market to probe."""
    port = free_port()
    options = ("--redis-url", server.url, "--redis-prefix", prefix, "--database-url", ledger)
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
    bench: Bench, label: str, contenders: dict[str, Callable[[str, float], Round]]
) -> Rounds:
    for name, run in contenders.items():
        run(f"{label} {name} warm-up", bench.timings.warmup_s)
    rounds: Rounds = {name: [] for name in contenders}
    for number in range(1, bench.timings.rounds + 1):
        for name, run in contenders.items():
            rounds[name].append(run(f"{label} {name} round {number}", bench.timings.throughput_s))
    return rounds


def round_trips(market: Market) -> float:
    """The router's own count of the requests it has written to Redis (every part): its /metrics'
    pingtree_redis_round_trips_total, 0 on the memory store."""
    text = metrics_page(market.router_url.replace("/v1/leads", "/metrics"))
    counts = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(_COUNTED)]
    return sum(float(count) for count in counts)


def _one(
    bench: Bench,
    server: RedisServer,
    market: Market,
    label: str,
    seconds: float,
    connections: int = CONNECTIONS,
) -> Round:
    redis_cpu, calls, sent = cpu_seconds(server.service.pid), server.calls(), round_trips(market)
    if connections == CONNECTIONS:
        run = bench.throughput(market.router_url, market.router, label, seconds)
    else:
        run = _throughput(bench, market, label, seconds, connections)
    redis_cpu = cpu_seconds(server.service.pid) - redis_cpu
    calls, sent = server.calls() - calls, round_trips(market) - sent
    return Round(run.wrk.requests, run.wrk.seconds, run.usage.cpu_s, redis_cpu, calls, sent, [run])


def _throughput(
    bench: Bench, market: Market, label: str, seconds: float, connections: int
) -> Throughput:
    """Bench.throughput at `connections` rather than the rig's CONNECTIONS, checked as it is."""
    market.router.ensure_running()
    pin_children(market.router.pid)
    meter = UsageMeter(market.router.pid)
    prefix = bench.prefix(label)
    run = run_wrk(market.router_url, bench.template, SELLER_KEY, prefix, seconds, connections)
    measured = Throughput(run, meter.read())
    bench.check_wrk(label, run)
    bench.check_quiet(label, measured.usage)
    return measured


def _two(
    bench: Bench, server: RedisServer, markets: tuple[Market, Market], label: str, seconds: float
) -> Round:
    """Both routers at once, each under its own wrk with half of the connections."""
    for market in markets:
        market.router.ensure_running()
    meters = [UsageMeter(market.router.pid) for market in markets]
    redis_cpu, calls = cpu_seconds(server.service.pid), server.calls()
    sent = sum(round_trips(market) for market in markets)
    tools = [
        _start_wrk(bench, market, f"{label} process {n}", seconds)
        for n, market in enumerate(markets, start=1)
    ]
    runs = [_wait_wrk(tool, seconds) for tool in tools]
    redis_cpu = cpu_seconds(server.service.pid) - redis_cpu
    calls = server.calls() - calls
    sent = sum(round_trips(market) for market in markets) - sent
    measured = [Throughput(run, meter.read()) for run, meter in zip(runs, meters, strict=True)]
    for n, run in enumerate(measured, start=1):
        bench.check_wrk(f"{label} process {n}", run.wrk)
    # Only the first router's core is meant to be its own: the second shares the load core.
    bench.check_quiet(f"{label} process 1", measured[0].usage)
    leads = sum(run.wrk.requests for run in measured)
    span = max(run.wrk.seconds for run in measured)
    cpu = sum(run.usage.cpu_s for run in measured)
    return Round(leads, span, cpu, redis_cpu, calls, sent, measured)


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
