"""The rig's processes: servers pinned to cores, their readiness, the load tools, /proc readings.

Core 0 runs the server under test (pingtree or the baseline) and nothing else of ours; core 1 runs
everything that loads it (nginx as the buyers, the hang server, wrk, the open-loop generator), so
the router's figures are the router's. Every process the rig starts dies with it (PDEATHSIG) and
every tool run has a hard timeout, so no run can hang or leave a server behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ROUTER_CORE = "0"
LOAD_CORE = "1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PR_SET_PDEATHSIG = 1
_LEADS = "pingtree_leads_total{"


class RigError(RuntimeError):
    """The rig itself failed (a server did not start, a tool crashed): no figure is trustworthy."""


def _die_with_parent() -> None:
    # Runs in the child before exec: if run.py is killed, the kernel stops its servers too.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def ensure_running(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise RigError(f"{self.name} exited with {code}:\n{self.log_tail()}")

    def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(how)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start(
    name: str, argv: list[str], core: str, workdir: Path, env: dict[str, str] | None = None
) -> Service:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["taskset", "-c", core, *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Not the caller's folder: `python -m pingtree` puts its cwd first on sys.path, so from
            # the repository it would import the working tree ahead of PYTHONPATH's snapshot and
            # `--at COMMIT` would measure the wrong code.
            cwd=workdir,
            env={**os.environ, **(env or {})},
            preexec_fn=_die_with_parent,
        )
    return Service(name, process, log)


def wait_for_tcp(service: Service, host: str, port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        service.ensure_running()
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RigError(f"{service.name} did not listen on {host}:{port} in {timeout_s:.0f} s")


def start_router(
    config: Path,
    port: int,
    workdir: Path,
    source: Path,
    *,
    name: str = "pingtree",
    core: str = ROUTER_CORE,
    options: tuple[str, ...] = (),
) -> Service:
    """`pingtree serve` from `source` (a folder holding the `pingtree` package to measure), which
    PYTHONPATH puts before the package installed in the virtualenv; `options` are more of serve's
    (`--redis-url`…)."""
    argv = [sys.executable, "-m", "pingtree", "serve", "--config", str(config)]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *options]
    env = {"PYTHONPATH": str(source)}
    _check_imports_from(source, workdir, env)
    service = start(name, argv, core, workdir, env)
    wait_for_tcp(service, "127.0.0.1", port)
    return service


def _check_imports_from(source: Path, workdir: Path, env: dict[str, str]) -> None:
    """The router about to start imports pingtree from `source`, not from anywhere else."""
    argv = [sys.executable, "-c", "import pingtree; print(pingtree.__file__)"]
    found = subprocess.run(
        argv, cwd=workdir, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    ).stdout.strip()
    if not found or not Path(found).resolve().is_relative_to(source.resolve()):
        raise RigError(f"the router would import pingtree from {found or '?'}, not from {source}")


def start_baseline(market: Path, port: int, workdir: Path, loop: str) -> Service:
    argv = [sys.executable, str(HERE / "baseline.py"), "--config", str(market)]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--loop", loop]
    service = start("baseline", argv, ROUTER_CORE, workdir)
    wait_for_tcp(service, "127.0.0.1", port)
    return service


def start_go_yardstick(binary: Path, market: Path, port: int, workdir: Path) -> Service:
    """The Go yardstick (go_yardstick.py built it) on the router's core, as the baseline."""
    argv = [str(binary), "--config", str(market), "--host", "127.0.0.1", "--port", str(port)]
    service = start("go-yardstick", argv, ROUTER_CORE, workdir, {"GOMAXPROCS": "1"})
    wait_for_tcp(service, "127.0.0.1", port)
    return service


def start_nginx(conf: Path, port: int, workdir: Path) -> Service:
    argv = ["nginx", "-c", str(conf), "-p", str(workdir), "-e", str(workdir / "nginx-error.log")]
    argv += ["-g", "daemon off;"]
    service = start("nginx", argv, LOAD_CORE, workdir)
    wait_for_tcp(service, "127.0.0.1", port)
    return service


def start_hang(addresses: list[str], workdir: Path) -> Service:
    service = start("hang", [sys.executable, str(HERE / "hang.py"), *addresses], LOAD_CORE, workdir)
    for address in addresses:
        host, _, port = address.rpartition(":")
        wait_for_tcp(service, host, int(port))
    return service


# the load tools -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WrkRun:
    requests: int
    seconds: float
    ok: int  # HTTP 200
    sold: int  # HTTP 200 with status sold
    errors: dict[str, int]  # wrk's socket errors and non-2xx count
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def problems(self) -> list[str]:
        found = [f"{count} {kind} error(s)" for kind, count in self.errors.items() if count]
        if self.ok != self.requests:
            found.append(f"{self.requests - self.ok} of {self.requests} answers not HTTP 200")
        if self.sold != self.requests:
            found.append(f"{self.requests - self.sold} of {self.requests} answers not sold")
        return found


def wrk_argv(
    url: str, template: Path, key: str, prefix: str, seconds: float, conns: int
) -> list[str]:
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{seconds:.0f}s"]
    argv += ["--timeout", "10s", "-s", str(HERE / "leads.lua"), url]
    return [*argv, "--", str(template), key, prefix]


def parse_wrk(output: str) -> WrkRun:
    match = re.search(r"^BENCH (.*)$", output, re.MULTILINE)
    if match is None:
        raise RigError(f"wrk printed no BENCH line:\n{output[-2000:]}")
    values = {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}
    errors = {k: values[k] for k in ("connect", "read", "write", "status", "timeout")}
    return WrkRun(
        requests=values["requests"],
        seconds=values["duration_us"] / 1e6,
        ok=values["ok"],
        sold=values["sold"],
        errors=errors,
        p50_ms=values["p50_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
    )


def run_tool(what: str, argv: list[str], limit_s: float) -> str:
    """A load tool's stdout; it runs on the load core, within its time limit, and dies with us."""
    try:
        done = subprocess.run(
            ["taskset", "-c", LOAD_CORE, *argv],
            capture_output=True,
            text=True,
            timeout=limit_s,
            preexec_fn=_die_with_parent,
        )
    except subprocess.TimeoutExpired as exc:
        raise RigError(f"{what} did not finish within {limit_s:.0f} s") from exc
    if done.returncode != 0:
        raise RigError(f"{what} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def run_wrk(url: str, template: Path, key: str, prefix: str, seconds: float, conns: int) -> WrkRun:
    argv = wrk_argv(url, template, key, prefix, seconds, conns)
    return parse_wrk(run_tool("wrk", argv, seconds + 30))


def run_loadgen(
    url: str, template: Path, key: str, prefix: str, *, rate: float, seconds: float, warmup: float
) -> dict[str, Any]:
    argv = [sys.executable, str(HERE / "loadgen.py"), "--url", url, "--key", key]
    argv += ["--lead", str(template), "--prefix", prefix, "--rate", f"{rate:.1f}"]
    argv += ["--duration", str(seconds), "--warmup", str(warmup), "--timeout", "10"]
    result: dict[str, Any] = json.loads(run_tool("the load generator", argv, seconds + warmup + 40))
    return result


# /proc readings -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (its threads included, its children not)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def children(pid: int) -> list[int]:
    """The processes `pid` started that still run: a router's ledger filing process
    (ledger/filer.py)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


def pin_children(pid: int, core: str = LOAD_CORE) -> None:
    """Move the router's helper processes (its filing process) off the router's core, which
    they inherit from `taskset`: as a deployment that gives the router a core of its own would.
    Their CPU is measured apart (`Usage.helpers_cpu_s`)."""
    for child in children(pid):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(child, {int(core)})


def helpers_cpu_seconds(pid: int) -> dict[int, float]:
    seconds = {}
    for child in children(pid):
        with contextlib.suppress(OSError):
            seconds[child] = cpu_seconds(child)
    return seconds


def memory_mib(pid: int) -> dict[str, float]:
    """VmRSS, and RssAnon (the heap: what a leak grows) from /proc/<pid>/status. File-backed
    pages, the rest of VmRSS, come and go with the kernel's reclaim (DAMON on this VM)."""
    fields = ("VmRSS", "RssAnon")
    memory = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in fields:
            memory[name] = int(value.split()[0]) / 1024
    if len(memory) != len(fields):
        raise RigError(f"no {fields} in /proc/{pid}/status")
    return memory


def core_busy_ticks() -> dict[str, tuple[int, int]]:
    """Per core: (busy ticks, all ticks) since boot, from /proc/stat."""
    ticks = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *values = line.split()
        if re.fullmatch(r"cpu\d+", name):
            numbers = [int(v) for v in values[:8]]
            idle = numbers[3] + numbers[4]
            ticks[name] = (sum(numbers) - idle, sum(numbers))
    return ticks


def core_load(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
) -> dict[str, float]:
    """Each core's busy share between two readings, 0..1."""
    load = {}
    for core, (busy, total) in after.items():
        busy0, total0 = before.get(core, (0, 0))
        load[core] = round((busy - busy0) / max(total - total0, 1), 3)
    return load


class UsageMeter:
    """A process's CPU time and each core's load from now until `read()`."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._started = time.monotonic()
        self._cpu = cpu_seconds(pid)
        self._helpers = helpers_cpu_seconds(pid)
        self._cores = core_busy_ticks()

    def read(self) -> Usage:
        helpers = helpers_cpu_seconds(self._pid)
        return Usage(
            cpu_s=cpu_seconds(self._pid) - self._cpu,
            seconds=time.monotonic() - self._started,
            cores=core_load(self._cores, core_busy_ticks()),
            # A helper started during the span counts from 0; one that ended is not counted.
            helpers_cpu_s=sum(cpu - self._helpers.get(pid, 0.0) for pid, cpu in helpers.items()),
        )


@dataclass(frozen=True, slots=True)
class Usage:
    cpu_s: float
    seconds: float
    cores: dict[str, float]
    helpers_cpu_s: float = 0.0  # the router's child processes (its ledger filing process)

    @property
    def share(self) -> float:
        """The process's share of one core over the span."""
        return self.cpu_s / self.seconds if self.seconds else 0.0

    @property
    def others_on_router_core(self) -> float:
        """What else ran on the router's core meanwhile (another user's processes)."""
        return max(0.0, self.cores.get(f"cpu{ROUTER_CORE}", 0.0) - self.share)


# small HTTP calls (probes, the operator's view, metrics), not on any measured path ------------


def ledger_drained(leads_url: str, label: str, within_s: float = 120.0) -> float:
    """Seconds until the router at `leads_url` (its /v1/leads) says its ledger has filed every
    record (/healthz: up, backlog 0); RigError if it has not within `within_s`."""
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        _, health = http_json(leads_url.replace("/v1/leads", "/healthz"), {})
        ledger = health.get("ledger") or {}
        if ledger.get("up") and ledger.get("backlog") == 0:
            return time.monotonic() - started
        time.sleep(0.2)
    raise RigError(f"{label}: the ledger's backlog did not drain within {within_s:.0f} s")


def http_json(url: str, headers: dict[str, str], body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def metrics_page(metrics_url: str) -> str:
    with urllib.request.urlopen(metrics_url, timeout=10) as answer:
        return str(answer.read().decode())


def full_gc_pauses(metrics_url: str) -> dict[str, float]:
    """The router's full (generation 2) garbage collections so far, from pingtree_gc_pause_seconds:
    how many, their mean, and the bucket bound the slowest was under (histograms keep no max)."""
    text = metrics_page(metrics_url)
    series = 'pingtree_gc_pause_seconds_{}{{generation="2"{}}} '
    found: dict[str, float] = {}
    buckets: list[tuple[float, float]] = []
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if line.startswith(series.format("count", "")):
            found["count"] = float(value)
        elif line.startswith(series.format("sum", "")):
            found["sum_ms"] = float(value) * 1000
        elif line.startswith('pingtree_gc_pause_seconds_bucket{generation="2",le="'):
            bound = name.split('le="')[1].rstrip('"}')
            buckets.append((float(bound), float(value)))
    count = found.get("count", 0.0)
    slowest = next((bound for bound, seen in sorted(buckets) if seen >= count), float("inf"))
    return {
        "count": count,
        "mean_ms": found.get("sum_ms", 0.0) / count if count else 0.0,
        "slowest_under_ms": slowest * 1000,
    }


def leads_counted(metrics_url: str) -> int:
    """The router's own count of answered leads: the sum of pingtree_leads_total."""
    text = metrics_page(metrics_url)
    counts = [line.rsplit(" ", 1)[1] for line in text.splitlines() if line.startswith(_LEADS)]
    return int(sum(float(count) for count in counts))
