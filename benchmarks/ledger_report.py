"""A 30-day report over 1M generated leads, on SQLite and on PostgreSQL (issue 15: by buyer and by
day in 200 ms or less, whatever the number of leads: reports read the hourly rollups).

    python benchmarks/ledger_report.py                               # 1M leads, both databases
    python benchmarks/ledger_report.py --leads 100000 --backend sqlite

For each database: the market (ledger_market.py) is filed through `SqlLedger.file`, an hour's
leads a batch (about 1,400: the writer's batches are smaller, the rows the same), with their
sales, calls and rollups, the filing's cost a lead measured; then every `by` over the 30 days
and a few filtered reports, each run 6 times, the first to warm, the median of the other 5
reported; then the rollup rows of each grain (rollups.py's table) and the database's size.
PostgreSQL is this benchmark's own (postgres_server.py), SQLite a file; both in a temp folder
removed at the end. Not run by the suite: it takes minutes (docs/benchmarks.md has its figures).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from ledger_market import START, Market
from postgres_server import postgres_server
from rig import RigError

from pingtree.ledger.base import Filters, ReportQuery
from pingtree.ledger.rollups import GRAINS
from pingtree.ledger.schema import rollups
from pingtree.ledger.sql import SqlLedger

TARGET_MS = 200.0
TARGETED = ("buyer", "day")  # the two; the others are measured for the record
RUNS = 5


@dataclass(frozen=True, slots=True)
class Timing:
    backend: str
    report: str
    rows: int
    median_ms: float
    slowest_ms: float

    @property
    def verdict(self) -> str:
        by = self.report.split(" ")[0]
        if by not in TARGETED or "·" in self.report:
            return ""
        return "ok" if self.median_ms <= TARGET_MS else "MISSED"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="the ledger's 30-day report (docs/benchmarks.md)")
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads to file (1M)")
    parser.add_argument("--days", type=int, default=30, help="over this many days (30)")
    parser.add_argument(
        "--backend", choices=["sqlite", "postgresql", "both"], default="both", help="(both)"
    )
    return parser.parse_args(argv)


async def fill(ledger: SqlLedger, leads: int, days: int) -> float:
    """File the market's leads, an hour a batch; the seconds it took to file them (generating
    them not counted)."""
    filing_s, filed, started = 0.0, 0, time.monotonic()
    for hour, records in Market().hours(START, days, leads):
        began = time.perf_counter()
        await ledger.file(records, [])
        filing_s += time.perf_counter() - began
        filed += len(records)
        if hour.hour == 0:
            rate = filed / filing_s if filing_s else 0
            print(
                f"  {hour:%Y-%m-%d}: {filed:>9,} leads filed, {rate:,.0f}/s filing,"
                f" {time.monotonic() - started:,.0f} s in all",
                flush=True,
            )
    return filing_s


REPORTS: list[tuple[str, str, Filters]] = [
    *(
        (by, by, Filters())
        for by in ("buyer", "day", "hour", "seller", "vertical", "sub_id", "state")
    ),
    ("day · buyer=mva-buyer-0", "day", Filters(buyer="mva-buyer-0")),
    ("buyer · seller=seller-03", "buyer", Filters(seller="seller-03")),
    ("buyer · state=CA", "buyer", Filters(state="CA")),
    ("state · buyer=mva-buyer-0", "state", Filters(buyer="mva-buyer-0")),
]


async def time_reports(ledger: SqlLedger, backend: str, days: int) -> list[Timing]:
    end = START + timedelta(days=days)
    timings = []
    for name, by, filters in REPORTS:
        query = ReportQuery(by, START, end, tz="America/New_York", filters=filters)  # type: ignore[arg-type]
        times_ms, rows = [], 0
        for _ in range(RUNS + 1):
            began = time.perf_counter()
            report = await ledger.report(query)
            times_ms.append((time.perf_counter() - began) * 1000)
            rows = len(report.rows)
        measured = times_ms[1:]
        timings.append(Timing(backend, name, rows, statistics.median(measured), max(measured)))
    return timings


def rollup_rows(ledger: SqlLedger) -> dict[int, int]:
    def count(connection: sa.Connection) -> dict[int, int]:
        found = connection.execute(
            sa.select(rollups.c.grain, sa.func.count()).group_by(rollups.c.grain)
        )
        return {int(grain): int(rows) for grain, rows in found}

    return ledger.database.run_now(count)


def postgres_bytes(ledger: SqlLedger) -> int:
    def size(connection: sa.Connection) -> int:
        query = sa.text("SELECT pg_database_size(current_database())")
        return int(connection.execute(query).scalar_one())

    return ledger.database.run_now(size)


def postgres_tables(ledger: SqlLedger) -> str:
    """Each table's size with its indexes, biggest first."""

    def sizes(connection: sa.Connection) -> str:
        query = sa.text(
            "SELECT relname, pg_total_relation_size(oid) FROM pg_class"
            " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY 2 DESC"
        )
        return ", ".join(f"{name} {size / 2**30:.2f}" for name, size in connection.execute(query))

    return ledger.database.run_now(sizes) + " GiB"


@contextmanager
def database(backend: str, folder: Path) -> Iterator[tuple[str, Path | None]]:
    """The ledger URL of a new database, and the SQLite file (None for PostgreSQL)."""
    if backend == "sqlite":
        path = folder / "ledger.db"
        yield f"sqlite:///{path}", path
        return
    with postgres_server() as server:
        yield server.create_database("ledger"), None


async def run(backend: str, leads: int, days: int) -> tuple[list[Timing], dict[str, str]]:
    with (
        tempfile.TemporaryDirectory(prefix="pingtree-ledger-bench-") as temp,
        database(backend, Path(temp)) as (url, sqlite_file),
    ):
        ledger = SqlLedger.open(url)
        try:
            await ledger.migrate()
            print(f"{backend}: filing {leads:,} leads over {days} days", flush=True)
            filing_s = await fill(ledger, leads, days)
            timings = await time_reports(ledger, backend, days)
            grains = rollup_rows(ledger)
            size = sqlite_file.stat().st_size if sqlite_file else postgres_bytes(ledger)
            tables = "" if sqlite_file else postgres_tables(ledger)
        finally:
            await ledger.close()
    facts = {
        "filing": f"{filing_s * 1e6 / leads:,.0f} µs a lead ({leads / filing_s:,.0f} leads/s)",
        "rollup rows": ", ".join(f"{g.number}: {grains.get(g.number, 0):,}" for g in GRAINS),
        "database": f"{size / 2**30:.2f} GiB",
    }
    if tables:
        facts["tables"] = tables
    return timings, facts


def print_table(timings: list[Timing], facts: dict[str, dict[str, str]], days: int) -> None:
    header = f"report ({days} days)"
    print(f"\n{'database':<11}{header:<30}{'rows':>6}{'median':>10}{'slowest':>10}  target")
    for t in timings:
        target = f"≤ {TARGET_MS:.0f} ms {t.verdict}" if t.verdict else ""
        print(
            f"{t.backend:<11}{t.report:<30}{t.rows:>6}{t.median_ms:>8.1f} ms"
            f"{t.slowest_ms:>7.1f} ms  {target}"
        )
    for backend, figures in facts.items():
        for name, value in figures.items():
            print(f"{backend}: {name}: {value}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    timings: list[Timing] = []
    facts: dict[str, dict[str, str]] = {}
    try:
        for backend in backends:
            measured, facts[backend] = asyncio.run(run(backend, args.leads, args.days))
            timings += measured
    except RigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_table(timings, facts, args.days)
    return 1 if any(t.verdict == "MISSED" for t in timings) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
