"""`make bench`: measure pingtree on this machine against real buyers (nginx) and real sellers (wrk
and an open-loop generator), beside a minimal router on the same stack (baseline.py).

    python benchmarks/run.py                      # the thirteen scenarios, about 16 minutes
    python benchmarks/run.py --scenario 1 --quick # one scenario, shorter runs
    python benchmarks/run.py --json figures.json  # also write every figure

Everything runs on loopback in a temporary folder (kept with --keep) and is torn down at the end,
also on Ctrl-C or a failure; the whole run has a hard time limit. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from harness import FULL, QUICK, Bench, Row
from market import ECHO_MODULE
from rig import REPO, RigError
from scenarios import SCENARIOS

TIME_LIMIT_S = {False: 20 * 60, True: 6 * 60}  # by --quick
REDIS_SCENARIO = 8  # the one that needs redis-server


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="pingtree benchmarks (docs/benchmarks.md)")
    parser.add_argument(
        "--scenario",
        type=int,
        action="append",
        choices=sorted(SCENARIOS),
        help="run only this scenario (repeatable); default: all",
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs, rougher figures")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (configs, logs)")
    parser.add_argument(
        "--at",
        metavar="COMMIT",
        help="measure pingtree as of this commit instead of the working tree",
    )
    parser.add_argument(
        "--baseline-loop",
        default="auto",
        choices=["auto", "asyncio", "uvloop"],
        help="the baseline's event loop; auto: uvloop when installed",
    )
    return parser.parse_args(argv)


def missing_tools(chosen: list[int]) -> list[str]:
    tools = ["nginx", "wrk", "taskset"] + (["redis-server"] if REDIS_SCENARIO in chosen else [])
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not ECHO_MODULE.exists():
        missing.append(f"nginx echo module ({ECHO_MODULE}, package libnginx-mod-http-echo)")
    if (os.cpu_count() or 1) < 2:
        missing.append("a second core (the router and the load run on different cores)")
    return missing


def machine() -> dict[str, str]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cores": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()


def snapshot(commit: str | None, workdir: Path) -> tuple[Path, str]:
    """A copy of the pingtree package, taken once at the start, and which code it is: every
    scenario measures the same code even while someone edits the working tree."""
    source = workdir / "src"
    if commit is None:
        skip = shutil.ignore_patterns("__pycache__")
        shutil.copytree(REPO / "pingtree", source / "pingtree", ignore=skip)
        dirty = _git("status", "--porcelain", "pingtree")
        return source, _git("rev-parse", "--short", "HEAD") + ("-dirty" if dirty else "")
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", commit, "pingtree"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(source, filter="data")
    return source, _git("rev-parse", "--short", commit)


def render_table(rows: list[Row]) -> str:
    header = Row("scenario", "measure", "pingtree", "baseline / reference", "target", "verdict")
    cells = [
        [r.scenario, r.measure, r.pingtree, r.reference, r.target, r.verdict]
        for r in [header, *rows]
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def run_scenarios(bench: Bench, chosen: list[int]) -> tuple[list[Row], dict[str, Any]]:
    rows: list[Row] = []
    figures: dict[str, Any] = {}
    for number in chosen:
        started = time.monotonic()
        print(f"scenario {number}: {SCENARIOS[number].__doc__}", flush=True)
        scenario_rows, figures[str(number)] = SCENARIOS[number](bench)
        rows += scenario_rows
        print(f"  done in {time.monotonic() - started:.0f} s", flush=True)
    return rows, figures


def _out_of_time(signum: int, frame: FrameType | None) -> None:
    raise RigError("the benchmark ran past its time limit")


def print_report(rows: list[Row], bench: Bench) -> None:
    print()
    print(render_table(rows))
    print("\nchecks:\n  " + "\n  ".join(bench.checks))
    if bench.problems:
        print("\nPROBLEMS (figures beside these are not to be trusted):")
        print("  " + "\n  ".join(bench.problems))


def write_json(
    path: Path, about: dict[str, str], quick: bool, figures: dict[str, Any], bench: Bench
) -> None:
    report = {"machine": about, "quick": quick, "scenarios": figures}
    report |= {"problems": bench.problems, "checks": bench.checks}
    path.write_text(json.dumps(report, indent=2) + "\n")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    chosen = sorted(set(args.scenario or SCENARIOS))
    missing = missing_tools(chosen)
    if missing:
        print("missing: " + "; ".join(missing) + " (make bench installs them)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="pingtree-bench-"))
    try:
        source, measured = snapshot(args.at, workdir)
    except (OSError, subprocess.SubprocessError) as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        said = getattr(exc, "stderr", None) or str(exc)
        said = said.decode(errors="replace") if isinstance(said, bytes) else said
        print(f"cannot take pingtree at {args.at or 'the working tree'}: {said}", file=sys.stderr)
        return 2
    bench = Bench(workdir, QUICK if args.quick else FULL, source, args.baseline_loop)
    about = {"pingtree": measured} | machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in about.items()), flush=True)
    signal.signal(signal.SIGALRM, _out_of_time)
    signal.alarm(TIME_LIMIT_S[args.quick])
    try:
        rows, figures = run_scenarios(bench, chosen)
    except (RigError, KeyboardInterrupt) as exc:
        # The configs and every server's log stay behind: they say what went wrong.
        print(f"benchmark aborted: {exc}\nconfigs and logs: {workdir}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
    if args.keep:
        print(f"configs and logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print_report(rows, bench)
    if args.json:
        write_json(args.json, about, args.quick, figures, bench)
    return 1 if bench.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
