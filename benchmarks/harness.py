"""What every scenario shares: a market up and torn down, measurements that check their answers.

A figure measured on errors is worthless, so each measurement here also verifies what it got:
every answer HTTP 200 and `sold`, no socket error, the open-loop generator on schedule, a probe
lead sold to the buyer that should win, and no call to a buyer the config filters out. What fails
a check goes into `Bench.problems`, printed beside the table.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from go_yardstick import GoBuildError, build, go_missing
from market import (
    ADMIN_TOKEN,
    SELLER_KEY,
    Buyer,
    Ports,
    buyers_yaml,
    hang_addresses,
    lead_template,
    market_json,
    nginx_conf,
    winner,
)
from rig import (
    REPO,
    Service,
    Usage,
    UsageMeter,
    WrkRun,
    free_port,
    http_json,
    pin_children,
    run_loadgen,
    run_wrk,
    start_baseline,
    start_go_yardstick,
    start_hang,
    start_nginx,
    start_router,
)

SAMPLE_LEAD = REPO / "samples" / "mva-legal.json"
CONNECTIONS = 32  # wrk's closed-loop sellers: enough to keep one router core saturated
GENERATOR_LAG_MS = 5.0  # the open loop counts as on schedule when its p99 lag is under this
SAMPLES_CHECKED = 3
# Another process's share of the router's core above which a figure is flagged as disturbed.
NOISE_SHARE = 0.10


@dataclass(frozen=True, slots=True)
class Timings:
    """Seconds per measurement; QUICK trades precision for time (the eight in ~3 minutes)."""

    rounds: int
    warmup_s: float
    throughput_s: float
    open_loop_s: float
    memory_checkpoints: tuple[int, int]
    latency_rounds: int  # scenarios 2 and 3: open-loop rounds of each contender, in turn
    latency_round_s: float


FULL = Timings(
    rounds=5,
    warmup_s=2,
    throughput_s=5,
    open_loop_s=12,
    memory_checkpoints=(20_000, 200_000),
    latency_rounds=5,
    latency_round_s=10,
)
QUICK = Timings(
    rounds=3,
    warmup_s=1,
    throughput_s=3,
    open_loop_s=5,
    memory_checkpoints=(5_000, 50_000),
    latency_rounds=1,
    latency_round_s=5,
)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


@dataclass
class Row:
    scenario: str
    measure: str
    pingtree: str
    reference: str = ""
    target: str = ""
    verdict: str = ""  # "ok", "MISS", or "" where there is no target


@dataclass
class Throughput:
    """A closed-loop wrk run and what the server under test spent on it."""

    wrk: WrkRun
    usage: Usage

    @property
    def rate(self) -> float:
        return self.wrk.rate

    @property
    def cpu_ms_per_lead(self) -> float:
        return 1000 * self.usage.cpu_s / max(self.wrk.requests, 1)

    @property
    def helpers_cpu_ms_per_lead(self) -> float:
        """The router's child processes' CPU (its ledger filing process), on the load core."""
        return 1000 * self.usage.helpers_cpu_s / max(self.wrk.requests, 1)


def throughput_figures(run: Throughput) -> dict[str, Any]:
    """One wrk run's figures for --json."""
    return {
        "leads_per_s": round(run.rate, 1),
        "requests": run.wrk.requests,
        "cpu_ms_per_lead": round(run.cpu_ms_per_lead, 3),
        "helpers_cpu_ms_per_lead": round(run.helpers_cpu_ms_per_lead, 3),
        "server_cpu_share": round(run.usage.share, 3),
        "core_load": run.usage.cores,
        "wrk_p99_ms": run.wrk.p99_ms,
    }


@dataclass
class Market:
    name: str
    directory: Path
    buyers: list[Buyer]
    router: Service
    router_url: str
    baseline: Service | None = None
    baseline_url: str = ""
    go: Service | None = None  # the Go yardstick, when asked for and built
    go_url: str = ""
    go_absent: str = ""  # why it was asked for and is not running: not installed, not built

    @property
    def winner(self) -> str:
        return winner(self.buyers).id

    def contenders(self) -> dict[str, tuple[str, Service]]:
        """pingtree and the baseline, by name: their seller URL and process."""
        if self.baseline is None:
            raise ValueError(f"{self.name} was started without the baseline")
        return {
            "pingtree": (self.router_url, self.router),
            "baseline": (self.baseline_url, self.baseline),
        }

    def go_contender(self) -> dict[str, tuple[str, Service]]:
        """The Go yardstick by name, or nothing when it is not running (`go_absent` says why)."""
        return {"go": (self.go_url, self.go)} if self.go is not None else {}


@dataclass
class Bench:
    workdir: Path
    timings: Timings
    source: Path  # the folder holding the pingtree package measured (run.py's snapshot of it)
    baseline_loop: str = "auto"
    max_rate: float | None = None  # pingtree's leads/s in scenario 1: the open-loop rates follow it
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    _runs: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.template = self.workdir / "lead.json"
        self.template.write_bytes(lead_template(SAMPLE_LEAD))

    def prefix(self, label: str) -> str:
        """A lead_id prefix no earlier request used, in this run or a previous one."""
        slug = label.replace(" ", "-")
        return f"{slug}-{os.getpid()}-{int(time.time())}-{next(self._runs)}"

    # the market ---------------------------------------------------------------------------------

    @contextmanager
    def market(
        self,
        name: str,
        buyers: list[Buyer],
        router: dict[str, Any],
        *,
        baseline: bool = False,
        go: bool = False,
        top: dict[str, Any] | None = None,
    ) -> Iterator[Market]:
        directory = self.workdir / name
        directory.mkdir()
        ports = Ports(nginx=free_port(), hang=free_port())
        (directory / "nginx.conf").write_text(nginx_conf(buyers, ports, directory))
        (directory / "buyers.yaml").write_text(buyers_yaml(buyers, ports, router, top))
        (directory / "market.json").write_text(market_json(buyers, ports))
        with ExitStack() as running:
            nginx = start_nginx(directory / "nginx.conf", ports.nginx, directory)
            running.callback(nginx.stop)
            if hang_addresses(buyers, ports):
                running.callback(start_hang(hang_addresses(buyers, ports), directory).stop)
            router_port = free_port()
            service = start_router(directory / "buyers.yaml", router_port, directory, self.source)
            running.callback(service.stop)
            market = Market(name, directory, buyers, service, _leads_url(router_port))
            if baseline:
                port = free_port()
                market.baseline = start_baseline(
                    directory / "market.json", port, directory, self.baseline_loop
                )
                running.callback(market.baseline.stop)
                market.baseline_url = _leads_url(port)
            if go:
                self._start_go(market)
                if market.go is not None:
                    running.callback(market.go.stop)
            yield market
            service.ensure_running()
            self._no_filtered_calls(market)

    def _start_go(self, market: Market) -> None:
        """The Go yardstick beside the market's router, built into the run's temp folder. Go
        missing is no error (the scenario's row says so); a failed build is a problem of the run."""
        market.go_absent = go_missing() or ""
        if market.go_absent:
            return
        try:
            binary = build(self.workdir)
        except GoBuildError as exc:
            self.problems.append(f"{market.name}: the Go yardstick: {exc}")
            market.go_absent = "go build failed (see PROBLEMS)"
            return
        port = free_port()
        market.go = start_go_yardstick(
            binary, market.directory / "market.json", port, market.directory
        )
        market.go_url = _leads_url(port)

    def _no_filtered_calls(self, market: Market) -> None:
        never = market.directory / "never.log"
        if never.exists() and never.stat().st_size:
            calls = len(never.read_text().splitlines())
            self.problems.append(f"{market.name}: {calls} call(s) to buyers the config filters out")

    # measurements -------------------------------------------------------------------------------

    def throughput(self, url: str, server: Service, label: str, seconds: float) -> Throughput:
        """wrk at fixed concurrency; the server's CPU time and both cores' load over the run."""
        server.ensure_running()
        pin_children(server.pid)  # the ledger's filing process, started by the router's first lead
        meter = UsageMeter(server.pid)
        run = run_wrk(url, self.template, SELLER_KEY, self.prefix(label), seconds, CONNECTIONS)
        measured = Throughput(run, meter.read())
        self.check_wrk(label, run)
        self.check_quiet(label, measured.usage)
        return measured

    def check_wrk(self, label: str, run: WrkRun) -> None:
        self.problems += [f"{label}: {problem}" for problem in run.problems()]
        self.checks.append(f"{label}: {run.sold}/{run.requests} answered 200 sold (wrk)")

    def check_quiet(self, label: str, usage: Usage) -> None:
        if usage.others_on_router_core > NOISE_SHARE:
            self.problems.append(
                f"{label}: other processes took {usage.others_on_router_core:.0%} of the "
                "router's core: the figure is low by as much"
            )

    def warm_up(self, url: str, server: Service, label: str) -> None:
        self.throughput(url, server, f"{label} warm-up", self.timings.warmup_s)

    def alternate(
        self, servers: dict[str, tuple[str, Service]], label: str, *, rounds: int | None = None
    ) -> dict[str, list[Throughput]]:
        """Short rounds of each server in turn, every server up all along: a machine whose speed
        drifts (a VM's neighbours) slows every contender alike, so their ratio holds. The order
        turns round every other round (AB, BA, AB...): on a VM that slows down or speeds up over
        the run, the one always first would always have the faster or the slower moment.
        `rounds`: more than the timings' for a comparison whose target is a few percent."""
        for name, (url, server) in servers.items():
            self.warm_up(url, server, f"{label} {name}")
        runs: dict[str, list[Throughput]] = {name: [] for name in servers}
        for round_number in range(1, (rounds or self.timings.rounds) + 1):
            order = list(servers.items())
            for name, (url, server) in order if round_number % 2 else reversed(order):
                run_label = f"{label} {name} round {round_number}"
                runs[name].append(
                    self.throughput(url, server, run_label, self.timings.throughput_s)
                )
        return runs

    def open_loop(
        self,
        url: str,
        server: Service,
        label: str,
        rate: float,
        seconds: float,
        *,
        all_sold: bool = True,
    ) -> dict[str, Any]:
        """The open-loop generator's result, plus the server's CPU share and the cores' load.
        `all_sold`: check every answer is 200 sold (False: the caller checks the answers, as
        scenario 9 does, where refusals are the point)."""
        server.ensure_running()
        pin_children(server.pid)  # the ledger's filing process, started by the router's first lead
        meter = UsageMeter(server.pid)
        result = run_loadgen(
            url,
            self.template,
            SELLER_KEY,
            self.prefix(label),
            rate=rate,
            seconds=seconds,
            warmup=self.timings.warmup_s,
        )
        usage = meter.read()
        helpers_share = usage.helpers_cpu_s / usage.seconds if usage.seconds else 0.0
        result |= {
            "server_cpu_share": round(usage.share, 3),
            "helpers_cpu_share": round(helpers_share, 3),
            "core_load": usage.cores,
        }
        if all_sold:
            self._check_open_loop(label, result)
        self.check_quiet(label, usage)
        return result

    def _check_open_loop(self, label: str, result: dict[str, Any]) -> None:
        sent, sold = result["sent"], result["lead_status"].get("sold", 0)
        if result["errors"] or result["unanswered"]:
            self.problems.append(
                f"{label}: {result['unanswered']} unanswered, errors {result['errors']}"
            )
        if result["http_status"].get("200", 0) != sent or sold != sent:
            self.problems.append(
                f"{label}: of {sent} leads, HTTP {result['http_status']}, "
                f"statuses {result['lead_status']}; samples: {result['samples'][:2]}"
            )
        lag = result["lag_ms"]["p99"] or 0.0
        if lag > GENERATOR_LAG_MS or (result["achieved_rate"] or 0) < 0.98 * result["rate"]:
            self.problems.append(
                f"{label}: the generator fell behind (lag p99 {lag:.1f} ms, "
                f"{result['achieved_rate']}/s of {result['rate']}/s)"
            )
        self.checks.append(
            f"{label}: {sold}/{sent} answered 200 sold at {result['achieved_rate']}/s "
            f"(generator lag p99 {lag:.2f} ms)"
        )

    # the operator's view of sample leads ---------------------------------------------------------

    def probe(self, market: Market) -> dict[str, Any]:
        """One more lead, by hand: sold, to the expected buyer, per the operator's view."""
        body = self.template.read_bytes().replace(b"@LEAD_ID@", self.prefix("probe").encode())
        headers = {"Content-Type": "application/json", "X-API-Key": SELLER_KEY}
        status, answer = http_json(market.router_url, headers, body)
        if status != 200 or not isinstance(answer, dict) or "id" not in answer:
            self.problems.append(f"{market.name} probe: HTTP {status} {answer}")
            return {}
        return self.operator_view(market, answer["id"])

    def operator_view(self, market: Market, lead_id: str) -> dict[str, Any]:
        url = market.router_url.replace("/v1/leads", f"/admin/leads/{lead_id}")
        status, view = http_json(url, {"Authorization": f"Bearer {ADMIN_TOKEN}"})
        if status != 200 or view.get("status") != "sold" or view.get("buyer_id") != market.winner:
            self.problems.append(
                f"{market.name} lead {lead_id}: HTTP {status}, status {view.get('status')}, "
                f"buyer {view.get('buyer_id')} (expected sold to {market.winner})"
            )
        return dict(view)

    def check_samples(self, market: Market, result: dict[str, Any]) -> None:
        """The operator's view of a few of the open loop's own answers."""
        for sample in result["samples"][:SAMPLES_CHECKED]:
            if isinstance(sample, dict) and "id" in sample:
                self.operator_view(market, sample["id"])


def _leads_url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1/leads"
