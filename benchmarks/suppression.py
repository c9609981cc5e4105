"""A suppression list of 10 million phone numbers (issue 19): how long it takes to load, what it
costs in memory, and how many microseconds it adds to an auction.

    python benchmarks/suppression.py                       # 10M numbers, the memory store
    python benchmarks/suppression.py --entries 1000000 --redis-url redis://127.0.0.1:6379/0

A CSV of `--entries` plain 10-digit US numbers (a header row, as DNC exports have) is written to
a temp folder; the list is loaded as a router loads it (gates/suppression_file.py), timed, with
the process's peak memory before and after and the array's own size, then loaded again as a
restart does (from the digests kept beside the file: suppression_cache.py); then the gate that every
auction asks (gates/suppression.py, `SuppressionGate.screen`) is timed over `--lookups` leads,
half on the list, half not: with the memory store, and with Redis when `--redis-url` is given
(one round trip a lead for the entries added at runtime). Not run by the suite: it takes a minute
(docs/benchmarks.md has its figures).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pingtree.config import parse_config
from pingtree.core.lead import Lead
from pingtree.gates.suppression import SuppressionGate, SuppressionLists
from pingtree.store.state.base import Store
from pingtree.store.state.guard import GuardedStore
from pingtree.store.state.memory import MemoryStore
from pingtree.store.state.redis import RedisStore

# Area codes in use (all valid in phonenumbers' metadata): the numbers look like a real list.
_AREA_CODES = [
    "205",
    "212",
    "213",
    "214",
    "303",
    "305",
    "310",
    "312",
    "313",
    "314",
    "404",
    "405",
    "407",
    "412",
    "415",
    "504",
    "505",
    "512",
    "602",
    "614",
    "615",
    "617",
    "702",
    "704",
    "713",
    "718",
    "720",
    "786",
    "801",
    "813",
    "816",
    "817",
    "832",
    "901",
    "904",
    "916",
    "917",
    "919",
    "954",
    "972",
]
_KEY = b"benchmark-dedup-secret"


def write_list(path: Path, entries: int, seed: int) -> list[str]:
    """`entries` numbers, one a line, under a header; returns a sample of them (E.164)."""
    rng = random.Random(seed)
    sample: list[str] = []
    chunk: list[str] = []
    with path.open("w") as out:
        out.write("phone\n")
        for n in range(entries):
            number = f"{rng.choice(_AREA_CODES)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
            chunk.append(number)
            if n % 1000 == 0:
                sample.append("+1" + number)
            if len(chunk) == 100_000:
                out.write("\n".join(chunk) + "\n")
                chunk = []
        out.write("\n".join(chunk) + "\n" if chunk else "")
    return sample


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def leads(on_list: list[str], count: int, seed: int) -> list[Lead]:
    rng = random.Random(seed + 1)
    made = []
    for n in range(count):
        phone = on_list[n % len(on_list)] if n % 2 == 0 else f"+1415{rng.randint(2000000, 9999999)}"
        made.append(Lead(vertical="mva", phone=phone, email=f"c{n}@example.com"))
    return made


async def time_screens(gate: SuppressionGate, sample: list[Lead]) -> dict[str, float]:
    """Microseconds a screen takes, median and p99 over the leads (after a warm-up)."""
    for lead in sample[:200]:
        await gate.screen(lead)
    took, rejected = [], 0
    for lead in sample:
        started = time.perf_counter()
        screened = await gate.screen(lead)
        took.append((time.perf_counter() - started) * 1e6)
        rejected += screened.rejected_by is not None
    took.sort()
    return {
        "median_us": round(statistics.median(took), 1),
        "p99_us": round(took[int(len(took) * 0.99)], 1),
        "rejected": rejected,
    }


async def screens(lists: SuppressionLists, store: Store, sample: list[Lead]) -> dict[str, float]:
    guarded = GuardedStore(store)
    try:
        return await time_screens(SuppressionGate(guarded, lists), sample)
    finally:
        await guarded.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--redis-url", help="also time the gate with the entries on Redis")
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {"entries": args.entries}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dnc.csv"
        started = time.perf_counter()
        on_list = write_list(path, args.entries, args.seed)
        figures["file_mb"] = round(path.stat().st_size / 1e6, 1)
        figures["write_s"] = round(time.perf_counter() - started, 1)
        raw = {
            "sellers": [{"id": "s", "api_key": "k" * 16}],
            "buyers": [
                {
                    "id": "a",
                    "post": {"url": "http://127.0.0.1:9/post"},
                    "ping": {"url": "http://127.0.0.1:9/ping"},
                }
            ],
            "router": {"dedup_secret": _KEY.decode()},
            "suppression": [{"id": "dnc", "file": str(path), "match": "phone"}],
        }
        config = parse_config(raw, env={})
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        lists = SuppressionLists.load(config, _KEY)
        figures["load_s"] = round(time.perf_counter() - started, 1)
        loaded = lists.lists[0].file
        assert loaded is not None
        figures["loaded_entries"] = len(loaded.digests)
        figures["array_mb"] = round(loaded.digests.itemsize * len(loaded.digests) / 1e6, 1)
        figures["bytes_per_entry"] = loaded.digests.itemsize
        figures["peak_rss_growth_mb"] = round(peak_rss_mb() - rss_before, 1)
        figures["load_us_per_line"] = round(figures["load_s"] / args.entries * 1e6, 2)
        started = time.perf_counter()  # a restart: the digests kept beside the file
        again = SuppressionLists.load(config, _KEY).lists[0].file
        assert again is not None and again.from_cache and again.digests == loaded.digests
        figures["load_again_s"] = round(time.perf_counter() - started, 2)
    sample = leads(on_list, args.lookups, args.seed)
    figures["screen_memory_store"] = asyncio.run(screens(lists, MemoryStore(), sample))
    if args.redis_url:
        redis = RedisStore(args.redis_url, prefix="pingtree-bench")
        figures["screen_redis_store"] = asyncio.run(screens(lists, redis, sample))
    for name, value in figures.items():
        print(f"{name:>22}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
