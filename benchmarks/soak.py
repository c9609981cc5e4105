"""`make soak`: a bounded soak of a real `pingtree serve`. A steady open-loop rate of leads for a
few minutes (3 by default) through 10 buyers, one of which misbehaves in a different way every
10 s; the router's resident memory and open file descriptors sampled every 10 s. It stops by
itself, prints a table and a verdict, and exits 1 if the router failed it.

    python benchmarks/soak.py                      # 3 minutes at 100 leads/s
    python benchmarks/soak.py --minutes 1 --rate 50

The misbehaving buyer takes these turns, each for `--turn-s` seconds: `hang` (reads the ping and
never answers), `error` (HTTP 500), `garbage` (an HTML page with HTTP 200), `slow` (bids the
highest after 300 ms, and wins the post), `reset` (resets the connection on reading the ping),
`reset_post` (bids the highest at once, then resets on reading the post: the lead is `pending`).
The breaker runs in shadow mode, so every lead meets the fault of the moment rather than a
rested buyer. The other nine bid at once.

The router is read at rest, then in the middle of every turn (VmRSS, and the fewest open FDs of
five readings a second apart), then at rest again after the run.
Pass: after the warm-up (the first round of turns), VmRSS never more than 10 % above its reading
at the end of the warm-up; each turn's open file descriptors in the last round no more than 16
above the same turn's in the first round after the warm-up (the turns come round again, so a
leak shows as a ratchet), and at rest after the run no more than 32 above at rest before it (the
buyers' idle keep-alive connections); no 5xx answered to a seller (nor counted by the router),
every lead answered 200, no ERROR line in the router's log. The store's bounds
(retention.max_leads: 200) are reached during the warm-up, so growth after it is a leak, not
retention.

Linux only (/proc). Everything runs on loopback in a temporary folder, removed at the end (kept
with --keep); every process started dies with this one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from rig import (
    REPO,
    RigError,
    Service,
    free_port,
    memory_mib,
    metrics_page,
    start,
    wait_for_tcp,
)

HERE = Path(__file__).resolve().parent
MODES = ("hang", "error", "garbage", "slow", "reset", "reset_post")
HONEST = 9
RSS_GROWTH = 0.10
FD_SLACK = 16  # open FDs a turn may hold above the same turn of the first round
FD_READINGS = 5  # per turn, the lowest counts
REST_SLACK = 32  # FDs at rest after the run above before it: the buyers' idle keep-alive pool
SELLER_KEY = "soak-seller-key"
ADMIN_TOKEN = "soak-admin-token"


# the buyers: a bare asyncio server (it must be able to reset a connection) --------------------


def _answer(status: int, body: bytes, reason: str = "OK") -> bytes:
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
    return head.encode() + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


# The honest buyers' bids: b1 bids 11 … b9 bids 19 (the misbehaving one, when it bids, 99).
BIDS = {
    f"b{n}": _answer(200, b'{"accepted": true, "bid": %d, "bid_id": "b"}' % (10 + n))
    for n in range(1, HONEST + 1)
}
SOLD = _answer(200, b'{"accepted": true, "buyer_lead_id": "soak"}')
TOP_BID = b'{"accepted": true, "bid": 99, "bid_id": "bad"}'


class Buyers:
    """/bN/ping and /bN/post for the honest ones, /bad/… for the one whose turn is `mode()`."""

    def __init__(self, t0: float, turn_s: float) -> None:
        self.t0, self.turn_s = t0, turn_s

    def mode(self) -> str:
        return MODES[int((time.time() - self.t0) // self.turn_s) % len(MODES)]

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                path = head.split(b" ", 2)[1].decode()
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                if not await self._answer(path, reader, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def _answer(
        self, path: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Write the answer; False when the connection is finished with."""
        _, name, step = path.split("/")
        if name != "bad":
            writer.write(SOLD if step == "post" else BIDS[name])
            await writer.drain()
            return True
        mode = self.mode()
        if step == "post":
            if mode == "reset_post":
                return _reset(writer)
            writer.write(SOLD)
        elif mode == "hang":
            while await reader.read(65536):  # until the router gives up and closes
                pass
            return False
        elif mode == "error":
            writer.write(_answer(500, b'{"error": "boom"}', "Internal Server Error"))
        elif mode == "garbage":
            writer.write(_answer(200, b"<html><body>Service temporarily unavailable</body>"))
        elif mode == "slow":
            await asyncio.sleep(0.3)
            writer.write(_answer(200, TOP_BID))
        elif mode == "reset":
            return _reset(writer)
        else:  # reset_post: the ping wins, the post is reset
            writer.write(_answer(200, TOP_BID))
        await writer.drain()
        return True


def _reset(writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # RST, not FIN
    return False


async def _serve_buyers(port: int, t0: float, turn_s: float) -> None:
    buyers = Buyers(t0, turn_s)
    server = await asyncio.start_server(buyers.serve, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


# the router's config ---------------------------------------------------------------------------


def buyers_yaml(port: int) -> str:
    base = f"http://127.0.0.1:{port}"
    buyers = [
        {
            "id": name,
            "ping": {"url": f"{base}/{name}/ping", "timeout_ms": 1000},
            "post": {"url": f"{base}/{name}/post", "timeout_ms": 1000},
        }
        for name in [*(f"b{n}" for n in range(1, HONEST + 1)), "bad"]
    ]
    config = {
        "router": {
            "admin_token": ADMIN_TOKEN,
            "budget_ms": 1500,
            "post_reserve_ms": 500,
            "retention": {"max_leads": 200},  # reached in the warm-up: growth after is a leak
            "breaker": {"mode": "shadow"},  # every lead meets the fault of the moment
            # A hanging buyer keeps each lead ~1 s: ~100 in flight at 100/s, past the default 32.
            "max_in_flight": 512,
        },
        "sellers": [{"id": "soak-seller", "api_key": SELLER_KEY}],
        "buyers": buyers,
    }
    return yaml.safe_dump(config, sort_keys=False)


# readings ----------------------------------------------------------------------------------------


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def router_counts(port: int) -> dict[str, float]:
    """From /metrics: leads by status, HTTP answers by status class."""
    text = metrics_page(f"http://127.0.0.1:{port}/metrics")
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("pingtree_leads_total{"):
            status = line.split('status="', 1)[1].split('"', 1)[0]
            counts[status] = counts.get(status, 0) + float(line.rsplit(" ", 1)[1])
        elif line.startswith("pingtree_http_responses_total{"):
            code = line.split('status="', 1)[1].split('"', 1)[0]
            key = f"http_{code[0]}xx"
            counts[key] = counts.get(key, 0) + float(line.rsplit(" ", 1)[1])
    return counts


@dataclass
class Sample:
    at_s: float
    mode: str
    rss_mib: float
    anon_mib: float
    fds: int
    counts: dict[str, float]


# the run ---------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="how long (default 3)")
    parser.add_argument("--rate", type=float, default=100.0, help="leads a second (default 100)")
    parser.add_argument("--turn-s", type=float, default=10.0, help="each misbehaviour's turn")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder and logs")
    parser.add_argument("--buyers", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--t0", type=float, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _out_of_time(signum: int, frame: FrameType | None) -> None:
    raise RigError("the soak ran past its time limit")


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise RigError(f"stopped by {signal.Signals(signum).name}")


def soak(args: argparse.Namespace, workdir: Path) -> tuple[list[Sample], dict[str, Any], Path]:
    seconds = args.minutes * 60
    t0 = time.time()
    buyer_port, router_port = free_port(), free_port()
    services: list[Service] = []
    try:
        argv = [sys.executable, str(HERE / "soak.py"), "--buyers", str(buyer_port)]
        argv += ["--t0", str(t0), "--turn-s", str(args.turn_s)]
        buyers = start("buyers", argv, "1", workdir)
        services.append(buyers)
        wait_for_tcp(buyers, "127.0.0.1", buyer_port)
        config = workdir / "buyers.yaml"
        config.write_text(buyers_yaml(buyer_port))
        argv = [sys.executable, "-m", "pingtree", "serve", "--config", str(config)]
        argv += ["--port", str(router_port), "--log-level", "warning"]
        router = start("pingtree", argv, "0", workdir, {"PYTHONPATH": str(REPO)})
        services.append(router)
        wait_for_tcp(router, "127.0.0.1", router_port)
        at_rest = _reading(router, router_port, t0, args.turn_s, "(rest)")
        loadgen = _start_loadgen(args, workdir, router_port, seconds)
        services.append(loadgen)
        samples = _sample(router, router_port, t0, args.turn_s, seconds, loadgen, at_rest)
        loadgen.process.wait(timeout=60)
        result: dict[str, Any] = json.loads(loadgen.log.read_text().splitlines()[-1])
        time.sleep(2)  # the last auctions finish
        samples.append(_reading(router, router_port, t0, args.turn_s, "(rest)"))
        print(_line(samples[-1], samples[-2]), flush=True)
        router.ensure_running()
        return samples, result, router.log
    finally:
        for service in reversed(services):
            service.stop()


def _start_loadgen(args: argparse.Namespace, workdir: Path, port: int, seconds: float) -> Service:
    template = workdir / "lead.json"
    lead = json.loads((REPO / "samples" / "mva-legal.json").read_text())
    lead["lead_id"] = "@LEAD_ID@"
    template.write_text(json.dumps(lead))
    argv = [sys.executable, str(HERE / "loadgen.py"), "--url", f"http://127.0.0.1:{port}/v1/leads"]
    argv += ["--key", SELLER_KEY, "--lead", str(template), "--prefix", f"soak-{int(time.time())}"]
    argv += ["--rate", str(args.rate), "--duration", str(seconds), "--warmup", "0"]
    argv += ["--timeout", "10"]
    return start("loadgen", argv, "1", workdir)


def _reading(router: Service, port: int, t0: float, turn_s: float, mode: str = "") -> Sample:
    """VmRSS now; open FDs at their lowest of FD_READINGS a tenth of a turn apart (a GC pause or
    a stalled generator piles up connections for a moment; a leak raises the floor)."""
    fds = []
    for index in range(1 if mode == "(rest)" else FD_READINGS):
        if index:
            time.sleep(turn_s / 10)
        fds.append(open_fds(router.pid))
    memory = memory_mib(router.pid)
    mode = mode or MODES[int((time.time() - t0) // turn_s) % len(MODES)]
    return Sample(
        round(time.time() - t0),
        mode,
        memory["VmRSS"],
        memory["RssAnon"],
        min(fds),
        router_counts(port),
    )


def _sample(
    router: Service,
    port: int,
    t0: float,
    turn_s: float,
    seconds: float,
    loadgen: Service,
    at_rest: Sample,
) -> list[Sample]:
    """After the reading at rest, one in the middle of each turn (the same moment of every turn,
    so a turn's readings compare round to round)."""
    samples = [at_rest]
    print(_header(), flush=True)
    print(_line(samples[-1], None), flush=True)
    turn = 0
    # The readings of a turn span its middle: from 0.3 to 0.7 of it.
    while (due := t0 + (turn + 0.3) * turn_s) < t0 + seconds:
        time.sleep(max(due - time.time(), 0))
        turn += 1
        router.ensure_running()
        if loadgen.process.poll() not in (None, 0):
            raise RigError(f"the load generator failed:\n{loadgen.log_tail()}")
        samples.append(_reading(router, port, t0, turn_s))
        print(_line(samples[-1], samples[-2]), flush=True)
    return samples


def _header() -> str:
    return (
        f"{'t (s)':>6} {'bad buyer':<11} {'VmRSS MiB':>10} {'RssAnon':>8} {'FDs':>5} "
        f"{'leads/s':>8} {'sold':>6} {'unsold':>6} {'pending':>7} {'5xx':>4}"
    )


def _line(now: Sample, before: Sample | None) -> str:
    def delta(key: str) -> float:
        return now.counts.get(key, 0) - (before.counts.get(key, 0) if before else 0)

    span = now.at_s - before.at_s if before else 0
    leads = sum(delta(s) for s in ("sold", "unsold", "pending", "rejected"))
    rate = f"{leads / span:.0f}" if span else ""
    return (
        f"{now.at_s:>6.0f} {now.mode:<11} {now.rss_mib:>10.1f} {now.anon_mib:>8.1f} {now.fds:>5} "
        f"{rate:>8} {delta('sold'):>6.0f} {delta('unsold'):>6.0f} {delta('pending'):>7.0f} "
        f"{delta('http_5xx'):>4.0f}"
    )


def verdicts(
    samples: list[Sample], result: dict[str, Any], log: Path, warmup_s: float
) -> list[tuple[str, str, bool]]:
    """(criterion, figure, passed) for each pass criterion."""
    running = [s for s in samples if s.mode != "(rest)"]
    warm = [s for s in running if s.at_s <= warmup_s]
    after = [s for s in running if s.at_s > warmup_s]
    if not warm or not after:
        raise RigError("too short a soak: no reading after the warm-up")
    base_rss = warm[-1].rss_mib
    top_rss = max(s.rss_mib for s in after)
    growth = top_rss / base_rss - 1
    # Each turn's FDs in the last round against the same turn's in the first round after the
    # warm-up: a leak ratchets and never comes down, a moment's pile-up (a stalled generator's
    # connections, idle in its pool for 15 s) does. (The warm-up's own round is not the
    # reference: the keep-alive pools are still growing then, to what the first `hang` needed.)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for sample in after:
        first.setdefault(sample.mode, sample.fds)
        last[sample.mode] = sample.fds
    over = max(last[mode] - first[mode] for mode in last)
    rest_before, rest_after = samples[0].fds, samples[-1].fds
    final = samples[-1].counts
    fivexx_router = final.get("http_5xx", 0)
    statuses = result["http_status"]
    not_200 = result["sent"] - statuses.get("200", 0)
    errors = [line for line in log.read_text(errors="replace").splitlines() if " ERROR " in line]
    return [
        (
            f"VmRSS growth after the warm-up (≤ {RSS_GROWTH:.0%})",
            f"{base_rss:.1f} → max {top_rss:.1f} MiB ({growth:+.1%})",
            growth <= RSS_GROWTH,
        ),
        (
            f"open FDs flat: each turn's last reading ≤ its first + {FD_SLACK}",
            f"{min(s.fds for s in after)}..{max(s.fds for s in after)} after the warm-up; last "
            f"round at most {over:+d} on the first",
            over <= FD_SLACK,
        ),
        (
            f"open FDs at rest: after ≤ before + {REST_SLACK}",
            f"{rest_before} before, {rest_after} after",
            rest_after <= rest_before + REST_SLACK,
        ),
        (
            "zero 5xx (sellers' answers; the router's count)",
            f"{sum(v for k, v in statuses.items() if k.startswith('5'))}; {fivexx_router:.0f}",
            not any(k.startswith("5") for k in statuses) and fivexx_router == 0,
        ),
        (
            "every lead answered 200",
            f"{statuses.get('200', 0)}/{result['sent']} (errors {result['errors'] or 'none'})",
            not_200 == 0 and not result["errors"],
        ),
        ("no ERROR in the router's log", f"{len(errors)} line(s)", not errors),
    ]


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.buyers is not None:  # the buyers' own process
        asyncio.run(_serve_buyers(args.buyers, args.t0, args.turn_s))
        return 0
    if not Path("/proc/self/fd").is_dir() or shutil.which("taskset") is None:
        print("the soak needs Linux (/proc) and taskset", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="pingtree-soak-"))
    seconds = args.minutes * 60
    warmup_s = len(MODES) * args.turn_s  # the first round of turns
    if seconds < 3 * warmup_s:
        rounds = f"{3 * warmup_s / 60:g} (three rounds of turns: the warm-up, then two to compare)"
        print(f"--minutes: at least {rounds}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGALRM, _out_of_time)
    for stop in (signal.SIGTERM, signal.SIGINT):  # the servers are stopped on the way out
        signal.signal(stop, _stopped)
    signal.alarm(int(seconds) + 180)
    print(
        f"soak: {args.minutes:g} min at {args.rate:g} leads/s, 10 buyers of which 1 misbehaves "
        f"({', '.join(MODES)}; {args.turn_s:g} s each), warm-up {warmup_s:.0f} s; in {workdir}",
        flush=True,
    )
    try:
        samples, result, log = soak(args, workdir)
        results = verdicts(samples, result, log, warmup_s)
    except (RigError, KeyboardInterrupt) as exc:
        print(f"soak aborted: {exc}\nlogs: {workdir}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
    latency = result["latency_ms"]
    print(
        f"\n{result['sent']} leads sent at {result['achieved_rate']}/s: HTTP "
        f"{result['http_status']}, statuses {result['lead_status']}; answer p50 "
        f"{latency['p50']:.0f} ms, p99 {latency['p99']:.0f} ms, max {latency['max']:.0f} ms\n"
    )
    width = max(len(name) for name, _, _ in results)
    for name, figure, passed in results:
        print(f"{'ok  ' if passed else 'FAIL'} {name:<{width}}  {figure}")
    passed = all(ok for _, _, ok in results)
    print(f"\nsoak {'passed' if passed else 'FAILED'}")
    if args.keep or not passed:
        print(f"logs: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
