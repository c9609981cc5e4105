"""`make bench-ab`: two versions of pingtree on one market, in alternating open-loop rounds.

    python benchmarks/ab.py 6d9d874                   # that commit (A) against the working tree (B)
    python benchmarks/ab.py main~3 HEAD --rate 400 --rounds 6

`run.py --at` measures one version per run, and this VM drifts by ±30 % from one run to the next:
a change of a few percent, or of a millisecond at p99, is lost between two runs. Here both routers
are up at once on the same buyers (scenario 2's market: 10 instant buyers in one tier, nginx),
and the open loop (scenario 2's generator) drives them in turn, ABBA, at one fixed rate: drift
hits both alike. Printed: each round's p50/p99/p99.9/max and CPU per lead, then the medians and
B ÷ A. Every answer is checked as in run.py (HTTP 200 `sold`, the generator on schedule).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import signal
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from harness import FULL, Bench
from market import Ports, buyers_yaml, instant_buyers, nginx_conf
from rig import RigError, Service, free_port, start_nginx, start_router
from run import _out_of_time, snapshot

TIME_LIMIT_S = 20 * 60
MEASURES = ("p50", "p99", "p999", "max")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="version A: a commit, or a folder holding a pingtree/ package")
    parser.add_argument("b", nargs="?", help="version B: the same (default: the working tree)")
    parser.add_argument("--rate", type=float, default=300.0, help="leads/s (default 300)")
    parser.add_argument("--rounds", type=int, default=6, help="rounds of each (default 6)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per round (default 10)")
    parser.add_argument(
        "--a-options", default="", help="more of serve's options for A (e.g. --no-ledger)"
    )
    parser.add_argument("--b-options", default="", help="the same for B")
    return parser.parse_args(argv)


CPU = ("cpu_ms", "filer_ms")


def measure(bench: Bench, url: str, router: Service, label: str, rate: float) -> dict[str, Any]:
    result = bench.open_loop(url, router, label, rate, bench.timings.open_loop_s)
    figures = {key: result["latency_ms"][key] for key in MEASURES}
    # The router's share of a core over the round, per lead answered: ms of CPU per lead.
    figures["cpu_ms"] = result["server_cpu_share"] * 1000 / result["achieved_rate"]
    # Its child processes' (the ledger's filing process), which run on the load core.
    figures["filer_ms"] = result["helpers_cpu_share"] * 1000 / result["achieved_rate"]
    return figures


def compare(args: argparse.Namespace, workdir: Path) -> dict[str, list[dict[str, Any]]]:
    versions = {}
    for name, commit in (("A", args.a), ("B", args.b)):
        folder = Path(commit) if commit else None
        if folder is not None and (folder / "pingtree").is_dir():
            source, measured = folder.resolve(), str(folder)  # an experiment kept outside git
        else:
            source, measured = snapshot(commit, workdir / name)
        versions[name] = (source, measured)
        print(f"{name}: pingtree {measured}", flush=True)
    timings = dataclasses.replace(FULL, open_loop_s=args.seconds)
    bench = Bench(workdir, timings, versions["A"][0])
    buyers = instant_buyers(10)
    ports = Ports(nginx=free_port(), hang=free_port())
    (workdir / "nginx.conf").write_text(nginx_conf(buyers, ports, workdir))
    # Both versions admit as many leads at once (the old default): ab.py compares the hot path,
    # and a stall of the VM must not turn into 503s for the version with the lower default.
    (workdir / "buyers.yaml").write_text(buyers_yaml(buyers, ports, {"max_in_flight": 1024}))
    rounds: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    with ExitStack() as running:
        nginx = start_nginx(workdir / "nginx.conf", ports.nginx, workdir)
        running.callback(nginx.stop)
        routers = {}
        for name, (source, _) in versions.items():
            port = free_port()
            options = tuple((args.a_options if name == "A" else args.b_options).split())
            router = start_router(
                workdir / "buyers.yaml", port, workdir, source, name=name, options=options
            )
            running.callback(router.stop)
            routers[name] = (f"http://127.0.0.1:{port}/v1/leads", router)
            bench.warm_up(*routers[name], f"{name} warm-up")
        for number in range(args.rounds):
            order = ("A", "B") if number % 2 == 0 else ("B", "A")
            for name in order:
                url, router = routers[name]
                rounds[name].append(
                    measure(bench, url, router, f"{name} round {number + 1}", args.rate)
                )
                print(f"  {name} round {number + 1}: " + line(rounds[name][-1]), flush=True)
    if bench.problems:
        raise RigError("; ".join(bench.problems))
    return rounds


def line(figures: dict[str, Any]) -> str:
    said = " · ".join(f"{key} {figures[key]:.2f} ms" for key in MEASURES)
    return f"{said} · CPU {figures['cpu_ms']:.3f} ms/lead (+ filer {figures['filer_ms']:.3f})"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="pingtree-ab-"))
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(TIME_LIMIT_S)
    try:
        rounds = compare(args, workdir)
    except (RigError, KeyboardInterrupt, OSError) as exc:
        print(f"comparison aborted: {exc}\nconfigs and logs: {workdir}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nmedians of {args.rounds} rounds at {args.rate:.0f} leads/s:")
    medians = {
        name: {key: statistics.median(r[key] for r in runs) for key in (*MEASURES, *CPU)}
        for name, runs in rounds.items()
    }
    for name, figures in medians.items():
        print(f"  {name}: {line(figures)}")
    ratios = " · ".join(
        f"{key} {medians['B'][key] / medians['A'][key]:.2f}" for key in (*MEASURES, "cpu_ms")
    )
    print(f"  B ÷ A: {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
