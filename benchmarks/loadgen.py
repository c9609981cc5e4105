"""Open-loop load: leads sent at a fixed rate whatever the answers, each answer's latency recorded.

wrk is closed-loop (a slow answer delays the next request, hiding the very latency we want to see)
and wrk2 is not packaged in Debian, so this small generator stands in for it. A request is sent at
its scheduled time on a fresh or idle keep-alive connection, never waiting for an earlier answer.
Latency runs from the moment the request is handed to the connection to the last byte of the
answer. The generator reports its own lag behind the schedule, so a run where it could not keep up
is visible as such rather than blamed on the server.

Prints one JSON object on stdout. Run on the load core: `taskset -c 1 python loadgen.py ...`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

PLACEHOLDER = b"@LEAD_ID@"
SAMPLES_KEPT = 5


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    by_status_ms: dict[str, list[float]] = field(default_factory=dict)  # HTTP status: latencies
    lags_ms: list[float] = field(default_factory=list)
    http_status: Counter[str] = field(default_factory=Counter)
    lead_status: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[Any] = field(default_factory=list)
    sold_samples: list[Any] = field(default_factory=list)  # the first answers that were 200

    def answer(self, status: int, body: bytes, latency_ms: float) -> None:
        self.latencies_ms.append(latency_ms)
        self.by_status_ms.setdefault(str(status), []).append(latency_ms)
        self.http_status[str(status)] += 1
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError:
            decoded = body[:200].decode("utf-8", "replace")
        self.lead_status[str(decoded.get("status") if isinstance(decoded, dict) else None)] += 1
        if len(self.samples) < SAMPLES_KEPT:
            self.samples.append(decoded)
        if status == 200 and len(self.sold_samples) < SAMPLES_KEPT:
            self.sold_samples.append(decoded)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return round(sorted_values[rank - 1], 3)


def summary(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    return {
        "p50": percentile(ordered, 0.50),
        "p90": percentile(ordered, 0.90),
        "p99": percentile(ordered, 0.99),
        "p999": percentile(ordered, 0.999),
        "max": ordered[-1] if ordered else None,
    }


async def send_one(
    session: aiohttp.ClientSession, url: str, body: bytes, tally: Tally | None
) -> None:
    started = time.perf_counter()
    try:
        async with session.post(url, data=body) as answer:
            payload = await answer.read()
            status = answer.status
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        if tally is not None:
            tally.errors[type(exc).__name__] += 1
        return
    if tally is not None:
        tally.answer(status, payload, (time.perf_counter() - started) * 1000)


async def drive(args: argparse.Namespace, head: bytes, tail: bytes) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "X-API-Key": args.key}
    # No connection limit: an open loop opens as many connections as answers are outstanding.
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    warmup_count = round(args.rate * args.warmup)
    total = warmup_count + round(args.rate * args.duration)
    tally = Tally()
    tasks: set[asyncio.Task[None]] = set()
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, headers=headers) as s:
        start = loop.time() + 0.05
        for index in range(total):
            due = start + index / args.rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            measured = index >= warmup_count
            if measured:
                tally.lags_ms.append((loop.time() - due) * 1000)
            body = head + f"{args.prefix}-{index}".encode() + tail
            task = loop.create_task(send_one(s, args.url, body, tally if measured else None))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        sent_for_s = loop.time() - start
        if tasks:
            await asyncio.wait(set(tasks), timeout=args.timeout + 1)
    measured_count = total - warmup_count
    return {
        "rate": args.rate,
        "sent": measured_count,
        "achieved_rate": round(total / sent_for_s, 1) if sent_for_s > 0 else None,
        "answered": len(tally.latencies_ms),
        "unanswered": measured_count - len(tally.latencies_ms) - sum(tally.errors.values()),
        "http_status": dict(tally.http_status),
        "lead_status": dict(tally.lead_status),
        "errors": dict(tally.errors),
        "latency_ms": summary(tally.latencies_ms),
        "latency_ms_by_status": {
            status: summary(values) for status, values in tally.by_status_ms.items()
        },
        "lag_ms": summary(tally.lags_ms),
        "samples": tally.samples,
        "sold_samples": tally.sold_samples,
    }


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the seller endpoint, .../v1/leads")
    parser.add_argument("--key", required=True, help="the seller's API key")
    parser.add_argument("--lead", required=True, help=f"a JSON lead with {PLACEHOLDER.decode()}")
    parser.add_argument("--prefix", required=True, help="lead_id prefix, unique per run")
    parser.add_argument("--rate", type=float, required=True, help="leads per second")
    parser.add_argument("--duration", type=float, required=True, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds sent, not measured")
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    head, tail = Path(args.lead).read_bytes().split(PLACEHOLDER)
    try:  # the fastest loop available: the generator must never be the bottleneck
        import uvloop

        result = uvloop.run(drive(args, head, tail))
    except ImportError:
        result = asyncio.run(drive(args, head, tail))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
