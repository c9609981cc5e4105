"""The Go yardstick of the benchmarks (benchmarks/yardstick_go/) does baseline.py's work: built as
the rig builds it, both routers get the same lead against the same real local buyers, and must
ping every buyer with the same anonymized ping, post to the same winner and answer alike.

Skipped when `go` is not on PATH: it is a benchmark tool (`make bench-tools` installs golang-go),
not something `make test` installs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from benchmarks.go_yardstick import build, go_missing
from tests.buyers import BuyerServer
from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "benchmarks" / "baseline.py"
BUYER_IDS = ("b1", "b2", "b3", "b4", "b5")
PII = {"first_name", "last_name", "phone", "email", "address", "city", "dob", "ip_address"}
PII |= {"trustedform_url", "jornaya_leadid"}
LEAD = {
    **json.loads((ROOT / "samples" / "mva-legal.json").read_text()),
    "lead_id": "yardstick-1",
    "vehicle_year": 2019,  # numbers and nested values go to the buyers as the seller wrote them
    "damage_estimate": 1234.56,
    "vehicles": [{"make": "Honda", "airbags": True}],
}
START_LIMIT_S = 20


@pytest.fixture(scope="module")
def go_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if reason := go_missing():
        pytest.skip(reason)
    return build(tmp_path_factory.mktemp("yardstick-go"))


class Routers:
    """baseline.py and the Go yardstick on one market: their seller URLs and their logs."""

    def __init__(self) -> None:
        self.urls: dict[str, str] = {}
        self.logs: dict[str, Path] = {}
        self.processes: list[subprocess.Popen[bytes]] = []

    async def sell(self, name: str, lead: dict[str, Any]) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.urls[name], json=lead) as answer,
        ):
            return answer.status, await answer.json(content_type=None)

    async def start(self, name: str, argv: list[str], folder: Path) -> None:
        port = free_port()
        log = self.logs[name] = folder / f"{name}.log"
        with log.open("wb") as out:
            self.processes.append(
                subprocess.Popen(  # noqa: ASYNC220
                    [*argv, "--host", "127.0.0.1", "--port", str(port)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        self.urls[name] = f"http://127.0.0.1:{port}/v1/leads"
        await self._listening(name, port)

    async def _listening(self, name: str, port: int) -> None:
        deadline = time.monotonic() + START_LIMIT_S
        while time.monotonic() < deadline:
            if self.processes[-1].poll() is not None:
                raise AssertionError(f"{name} exited:\n{self.logs[name].read_text()}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            return
        raise AssertionError(f"{name} did not listen:\n{self.logs[name].read_text()}")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@asynccontextmanager
async def routers(
    binary: Path, buyers: BuyerServer, folder: Path, timeout_s: float
) -> AsyncIterator[Routers]:
    """Both routers on the market.json the rig would write for these buyers."""
    entries = [
        {"id": b, "ping": buyers.url(b, "ping"), "post": buyers.url(b, "post")} for b in BUYER_IDS
    ]
    market = folder / "market.json"
    market.write_text(json.dumps({"buyers": entries, "timeout_s": timeout_s}))
    started = Routers()
    try:
        await started.start(
            "baseline", [sys.executable, str(BASELINE), "--config", str(market)], folder
        )
        await started.start("go", [str(binary), "--config", str(market)], folder)
        yield started
    finally:
        started.stop()


async def test_it_pings_posts_and_answers_as_the_baseline_does(
    go_binary: Path, buyers: BuyerServer, tmp_path: Path
) -> None:
    buyers.set("b1", bid=10.0)
    buyers.set("b2", bid=15.0)  # the highest bid
    buyers.set("b3", bid=None)  # declines
    buyers.set("b4", ping_body=b"<html>busy</html>")  # no JSON: loses
    buyers.set("b5", ping_body=b'{"accepted": true, "bid": "14.0"}')  # a bid as a string
    async with routers(go_binary, buyers, tmp_path, timeout_s=5.0) as started:
        baseline = await started.sell("baseline", LEAD)
        go = await started.sell("go", LEAD)
    sold = {"id": "ld_1", "lead_id": "yardstick-1", "status": "sold", "payout": 12.0}
    assert baseline == (200, sold)
    assert go == baseline
    assert "GOMAXPROCS 1" in started.logs["go"].read_text()  # one core, as the rig gives it
    for buyer in BUYER_IDS:
        from_baseline, from_go = buyers.recorded(buyer).pings
        assert from_go == from_baseline, buyer
        assert not PII & (from_go.keys() | from_go["attributes"].keys())
    assert from_go["attributes"]["vehicles"] == LEAD["vehicles"]
    assert from_go["attributes"]["vehicle_year"] == 2019
    assert from_go["has_trustedform"] is True
    posted = buyers.recorded("b2").posts
    assert len(posted) == 2 and posted[1] == posted[0] == {**LEAD, "ping_id": "pg_1", "price": 15.0}
    assert not any(buyers.recorded(b).posts for b in BUYER_IDS if b != "b2")


async def test_it_leaves_a_lead_unsold_as_the_baseline_does(
    go_binary: Path, buyers: BuyerServer, tmp_path: Path
) -> None:
    for buyer in BUYER_IDS:
        buyers.set(buyer, bid=None)
    async with routers(go_binary, buyers, tmp_path, timeout_s=1.0) as started:
        answers = {}
        for name in ("baseline", "go"):
            answers[name, "declined"] = await started.sell(name, LEAD)
        buyers.set("b3", bid=20.0, accept_post=False)  # the winner refuses the post
        for name in ("baseline", "go"):
            answers[name, "refused"] = await started.sell(name, LEAD)
        buyers.set("b3", bid=20.0)
        buyers.set("b1", bid=5.0, ping_delay_s=2.0)  # past the fan-out's one deadline
        for name in ("baseline", "go"):
            began = time.monotonic()
            answers[name, "late"] = await started.sell(name, LEAD)
            waited = time.monotonic() - began
            assert 1.0 <= waited < 1.9, (name, waited)
    for number, case in enumerate(("declined", "refused", "late"), start=1):
        unsold = {"id": f"ld_{number}", "lead_id": "yardstick-1", "status": "unsold"}
        assert answers["baseline", case] == (200, unsold | {"payout": None}), case
        assert answers["go", case] == answers["baseline", case], case
    # the refused post reached b3 from both; after the deadline nothing counted, so no post
    assert len(buyers.recorded("b3").posts) == 2
