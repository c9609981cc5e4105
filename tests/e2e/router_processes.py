"""`pingtree serve` as real processes on loopback, for the tests of several routers on one Redis:
started from a buyers.yaml, waited for until /healthz answers, stopped (and killed if need be)
when the test ends, however it ends. And a seller's and an operator's client for them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from tests.conftest import ADMIN_TOKEN, SELLER_KEY, sample
from tests.redis_server import free_port

_START_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = 10.0


def consumer(n: int, **fields: Any) -> dict[str, Any]:
    """The mva sample as consumer number n: its own lead_id, phone and email."""
    lead = sample("mva-legal")
    lead.update(lead_id=f"lead-{n}", phone=f"+1305555{1000 + n:04d}", email=f"c{n}@example.com")
    lead.update(fields)
    return lead


@dataclass
class Served:
    """One `pingtree serve` (a single router, or a supervisor of workers) and its log."""

    process: subprocess.Popen[bytes]
    base: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    seconds: float
    started: float  # time.monotonic() when sent


class Seller:
    """Sends leads and reads outcomes over one shared session; no connection reuse when
    `fresh_connections` (so SO_REUSEPORT spreads them over workers)."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def send(
        self, base: str, lead: dict[str, Any], headers: dict[str, str] | None = None
    ) -> Answer:
        started = time.monotonic()
        async with self.session.post(
            f"{base}/v1/leads", json=lead, headers={"X-API-Key": SELLER_KEY, **(headers or {})}
        ) as response:
            body = await response.json(content_type=None)
            return Answer(
                response.status,
                body,
                dict(response.headers),
                time.monotonic() - started,
                started,
            )

    async def admin(self, base: str, lead_id: str) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with self.session.get(f"{base}/admin/leads/{lead_id}", headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def get(self, url: str) -> tuple[int, str, dict[str, str]]:
        async with self.session.get(url) as response:
            return response.status, await response.text(), dict(response.headers)


@asynccontextmanager
async def seller(*, fresh_connections: bool = False) -> AsyncIterator[Seller]:
    connector = aiohttp.TCPConnector(limit=0, force_close=fresh_connections)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield Seller(session)


StartRouters = Callable[..., Awaitable[list[Served]]]


@asynccontextmanager
async def routers(tmp_path: Path) -> AsyncIterator[StartRouters]:
    """`await start(config, redis_url, count=3, workers=1, options=[…])` → that many `pingtree
    serve` processes on their own ports (`options`: more of serve's, `--state`, `--database-url`),
    all answering /healthz; every one stopped at the end."""
    started: list[Served] = []

    async def start(
        config: dict[str, Any],
        redis_url: str | None,
        *,
        count: int = 1,
        workers: int = 1,
        options: Sequence[str] = (),
    ) -> list[Served]:
        path = tmp_path / f"buyers-{len(started)}.yaml"
        path.write_text(yaml.safe_dump(config))
        batch = []
        for _ in range(count):
            port = free_port()
            log = tmp_path / f"serve-{len(started)}.log"
            command = [sys.executable, "-m", "pingtree", "serve", "--config", str(path)]
            command += ["--port", str(port), "--workers", str(workers)]
            if redis_url is not None:
                command += ["--redis-url", redis_url]
            command += options
            with log.open("wb") as output:
                process = subprocess.Popen(  # noqa: ASYNC220
                    command, env=dict(os.environ), stdout=output, stderr=subprocess.STDOUT
                )
            served = Served(process, f"http://127.0.0.1:{port}", log)
            started.append(served)
            batch.append(served)
        await asyncio.gather(*(wait_healthy(served) for served in batch))
        return batch

    try:
        yield start
    finally:
        for served in started:
            if served.process.poll() is None:
                served.process.send_signal(signal.SIGTERM)
        for served in started:
            try:
                served.process.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                served.process.kill()
                served.process.wait()


async def wait_healthy(served: Served) -> None:
    """Until `pingtree serve` answers /healthz 200; its log in the error if it never does."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if served.process.poll() is not None:
                raise AssertionError(f"pingtree serve exited:\n{served.output()}")
            try:
                async with session.get(f"{served.base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"pingtree serve did not come up:\n{served.output()}")
