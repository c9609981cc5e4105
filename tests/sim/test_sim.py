"""The simulated buyers through real HTTP on loopback: one test per behaviour, the counters, the
spec's errors at their paths, `pingtree sim` as a process, and pingtree's own router selling to it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pingtree.cli.main import build_parser
from pingtree.core.errors import ConfigError
from pingtree.sim import DEFAULT_SPEC, SimBuyer, SimSpec, create_sim_app, load_sim
from tests.conftest import ServeApp, make_buyer, make_config, sample

PING = {
    "ping_id": "pg_1",
    "vertical": "mva",
    "state": "FL",
    "zip": "33101",
    "seller": "acme-media",
    "attributes": {"case_type": "mva"},
    "tcpa_consent": True,
    "test": False,
}
POST = {**PING, "phone": "+13055551234", "bid_id": "b_1", "price": 42.5}


class Sim:
    """A running sim on a loopback port and a client for it."""

    def __init__(self, server: TestServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.base = str(server.make_url("")).rstrip("/")

    async def call(
        self, name: str, step: str = "ping", body: Any = None, give_up_s: float | None = None
    ) -> tuple[int, bytes]:
        payload = orjson.dumps((PING if step == "ping" else POST) if body is None else body)
        async with self.session.post(
            f"{self.base}/{name}/{step}",
            data=payload,
            headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=give_up_s),
        ) as r:
            return r.status, await r.read()

    async def answer(self, name: str, step: str = "ping", body: Any = None) -> dict[str, Any]:
        status, raw = await self.call(name, step, body)
        assert status == 200, raw
        return dict(orjson.loads(raw))

    async def bids(self, name: str, count: int) -> list[float]:
        return [(await self.answer(name))["bid"] for _ in range(count)]

    async def stats(self) -> dict[str, dict[str, int]]:
        async with self.session.get(f"{self.base}/stats") as r:
            assert r.status == 200
            return dict(await r.json())


StartSim = Callable[..., Awaitable[Sim]]


@pytest.fixture
async def start_sim(serve_app: ServeApp) -> StartSim:
    """`await start_sim(seed=…, name=SimBuyer(…), …)` → Sim; every one started is closed after."""

    async def start(seed: int | None = None, **buyers: SimBuyer) -> Sim:
        return Sim(*await serve_app(create_sim_app(SimSpec(buyers=buyers), seed=seed)))

    return start


# pings -----------------------------------------------------------------------------------------


async def test_a_fixed_bid_is_bid_as_given(start_sim: StartSim) -> None:
    sim = await start_sim(firm=SimBuyer(bid=42.5))
    answer = await sim.answer("firm")
    assert answer["accepted"] is True and answer["bid"] == 42.5 and answer["bid_id"]


async def test_a_random_bid_stays_in_its_range_in_whole_cents(start_sim: StartSim) -> None:
    sim = await start_sim(seed=3, firm=SimBuyer(bid=(10.0, 12.5)))
    bids = await sim.bids("firm", 40)
    assert all(10.0 <= bid <= 12.5 for bid in bids)
    assert all(round(bid, 2) == bid for bid in bids)
    assert len(set(bids)) > 10


@pytest.mark.parametrize(
    "buyer", [SimBuyer(decline_rate=1.0), SimBuyer(bid=None)], ids=["decline_rate", "no_bid"]
)
async def test_a_decline_says_not_interested(start_sim: StartSim, buyer: SimBuyer) -> None:
    sim = await start_sim(firm=buyer)
    for _ in range(5):
        assert await sim.answer("firm") == {"accepted": False, "reason": "not interested"}


@pytest.mark.parametrize(
    ("state", "bids"),
    [("FL", True), ("GA", True), ("fl", True), ("TX", False), (None, False)],
)
async def test_a_picky_buyer_bids_only_in_its_states(
    start_sim: StartSim, state: str | None, bids: bool
) -> None:
    sim = await start_sim(firm=SimBuyer(bid=30.0, states=frozenset({"FL", "GA"})))
    ping = {**PING, "state": state} if state else {k: v for k, v in PING.items() if k != "state"}
    answer = await sim.answer("firm", body=ping)
    if bids:
        assert answer["accepted"] is True and answer["bid"] == 30.0
    else:
        assert answer == {"accepted": False, "reason": "state not covered"}


async def test_a_slow_buyer_answers_no_sooner_than_its_delay(start_sim: StartSim) -> None:
    sim = await start_sim(slow=SimBuyer(bid=20.0, delay_ms=150), spread=SimBuyer(delay_ms=(60, 80)))
    for name, at_least in (("slow", 0.15), ("spread", 0.06)):
        started = time.monotonic()
        answer = await sim.answer(name)
        assert time.monotonic() - started >= at_least - 0.001
        assert answer["accepted"] is True


async def test_a_hanging_buyer_outlasts_the_callers_timeout(start_sim: StartSim) -> None:
    sim = await start_sim(hangs=SimBuyer(hang_rate=1.0))
    with pytest.raises(asyncio.TimeoutError):
        await sim.call("hangs", give_up_s=0.2)
    counts = (await sim.stats())["hangs"]
    assert counts["pings"] == 1 and counts["hangs"] == 1


async def test_a_request_still_held_at_shutdown_does_not_hold_up_the_server() -> None:
    # aiohttp would wait up to 60 s for open requests: the sim drops its held ones at once.
    server = TestServer(create_sim_app(SimSpec(buyers={"hangs": SimBuyer(hang_rate=1.0)})))
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        held = asyncio.create_task(session.post(server.make_url("/hangs/ping"), json=PING))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await server.close()
        assert time.monotonic() - started < 5
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await held


async def test_a_held_request_ends_when_the_caller_hangs_up_even_without_cancellation() -> None:
    # The demo and benchmarks may run the sim on their own runner (no handler cancellation):
    # a ping the router gave up on must not stay held for an hour.
    runner = web.AppRunner(
        create_sim_app(SimSpec(buyers={"hangs": SimBuyer(hang_rate=1.0)})), access_log=None
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(asyncio.TimeoutError):
                async with session.post(
                    f"{base}/hangs/ping", json=PING, timeout=aiohttp.ClientTimeout(total=0.2)
                ):
                    pass
            for _ in range(40):
                async with session.get(f"{base}/stats") as r:
                    counts = await r.json()
                if counts["hangs"]["hanging"] == 0:
                    break
                await asyncio.sleep(0.05)
            assert counts["hangs"]["hanging"] == 0 and counts["hangs"]["hangs"] == 1
    finally:
        await runner.cleanup()


async def test_an_erroring_buyer_answers_500(start_sim: StartSim) -> None:
    sim = await start_sim(broken=SimBuyer(error_rate=1.0))
    status, _ = await sim.call("broken")
    assert status == 500


async def test_a_garbage_answer_is_a_200_that_is_not_json(start_sim: StartSim) -> None:
    sim = await start_sim(garbled=SimBuyer(garbage_rate=1.0))
    status, body = await sim.call("garbled")
    assert status == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)


# posts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "status", "expected"),
    [
        ("accept", 200, {"accepted": True, "buyer_lead_id": "firm-1"}),
        ("reject", 200, {"accepted": False, "reason": "Duplicate"}),
        ("refuse_200", 200, {"status": "Quota Reached"}),
        ("error", 500, None),
    ],
)
async def test_each_post_mode_answers_as_it_says(
    start_sim: StartSim, mode: Any, status: int, expected: dict[str, Any] | None
) -> None:
    sim = await start_sim(firm=SimBuyer(post=mode))
    got_status, body = await sim.call("firm", "post")
    assert got_status == status
    if expected is not None:
        assert orjson.loads(body) == expected


async def test_a_post_timeout_never_answers(start_sim: StartSim) -> None:
    sim = await start_sim(tarpit=SimBuyer(post="timeout"))
    with pytest.raises(asyncio.TimeoutError):
        await sim.call("tarpit", "post", give_up_s=0.2)
    counts = (await sim.stats())["tarpit"]
    assert counts["posts"] == 1 and counts["post_hangs"] == 1


@pytest.mark.parametrize("rate", [0.0, 1.0])
async def test_post_accept_rate_zero_refuses_and_one_accepts(
    start_sim: StartSim, rate: float
) -> None:
    sim = await start_sim(firm=SimBuyer(post_accept_rate=rate))
    answers = [await sim.answer("firm", "post") for _ in range(10)]
    if rate:
        assert all(a["accepted"] is True for a in answers)
    else:
        assert all(a == {"accepted": False, "reason": "Duplicate"} for a in answers)


async def test_an_accepted_post_carries_the_redirect_url(start_sim: StartSim) -> None:
    url = "https://firm.example/thanks?ref=1"
    sim = await start_sim(firm=SimBuyer(redirect_url=url), plain=SimBuyer())
    assert (await sim.answer("firm", "post"))["redirect_url"] == url
    assert "redirect_url" not in await sim.answer("plain", "post")


# the app ---------------------------------------------------------------------------------------


async def test_the_same_seed_gives_the_same_answers(start_sim: StartSim) -> None:
    buyer = SimBuyer(bid=(10.0, 50.0), decline_rate=0.3)

    async def answers(seed: int) -> list[Any]:
        sim = await start_sim(seed=seed, firm=buyer)
        return [(await sim.answer("firm")).get("bid") for _ in range(20)]

    first = await answers(7)
    assert first == await answers(7)
    assert first != await answers(8)


async def test_stats_count_what_each_buyer_did(start_sim: StartSim) -> None:
    sim = await start_sim(
        bidder=SimBuyer(bid=10.0),
        decliner=SimBuyer(bid=None),
        broken=SimBuyer(error_rate=1.0, post="error"),
        garbled=SimBuyer(garbage_rate=1.0, post="refuse_200"),
    )
    for name, pings, posts in (("bidder", 3, 2), ("decliner", 2, 0), ("broken", 1, 1)):
        for _ in range(pings):
            await sim.call(name)
        for _ in range(posts):
            await sim.call(name, "post")
    await sim.call("garbled")
    await sim.call("garbled", "post")
    counters = "pings bids declines hangs errors garbage posts accepted refused post_hangs"
    zero = dict.fromkeys([*counters.split(), "post_errors", "hanging"], 0)
    assert await sim.stats() == {
        "bidder": {**zero, "pings": 3, "bids": 3, "posts": 2, "accepted": 2},
        "decliner": {**zero, "pings": 2, "declines": 2},
        "broken": {**zero, "pings": 1, "errors": 1, "posts": 1, "post_errors": 1},
        "garbled": {**zero, "pings": 1, "garbage": 1, "posts": 1, "refused": 1},
    }


@pytest.mark.parametrize("step", ["ping", "post"])
async def test_an_unknown_buyer_is_a_json_404(start_sim: StartSim, step: str) -> None:
    sim = await start_sim(firm=SimBuyer())
    status, body = await sim.call("nobody", step)
    assert status == 404
    assert orjson.loads(body)["error"] == "not_found"
    assert (await sim.stats())["firm"]["pings"] == 0


async def test_a_ping_that_is_not_a_json_object_is_a_400(start_sim: StartSim) -> None:
    sim = await start_sim(firm=SimBuyer())
    assert (await sim.call("firm", body=[1, 2]))[0] == 400


async def test_healthz(start_sim: StartSim) -> None:
    sim = await start_sim(firm=SimBuyer())
    async with sim.session.get(f"{sim.base}/healthz") as r:
        assert r.status == 200 and await r.json() == {"status": "ok"}


def test_the_default_spec_shows_every_behaviour() -> None:
    buyers = DEFAULT_SPEC.buyers.values()
    assert any(isinstance(b.bid, float) for b in buyers)
    assert any(isinstance(b.bid, tuple) for b in buyers)
    assert any(b.delay_ms for b in buyers) and any(b.states for b in buyers)
    for rate in ("decline_rate", "hang_rate", "error_rate", "garbage_rate"):
        assert any(getattr(b, rate) for b in buyers), rate
    assert {b.post for b in buyers} >= {"accept", "reject", "refuse_200", "timeout"}
    assert any(b.redirect_url for b in buyers)


# the spec file ---------------------------------------------------------------------------------


def test_load_sim_reads_a_spec(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(
        "buyers:\n"
        "  lawfirm-a: {bid: [20, 40], states: [fl, ga], delay_ms: [5, 10], post: reject}\n"
        "  defaults:\n"
    )
    spec = load_sim(path)
    assert spec.buyers["lawfirm-a"] == SimBuyer(
        bid=(20.0, 40.0), states=frozenset({"FL", "GA"}), delay_ms=(5.0, 10.0), post="reject"
    )
    assert spec.buyers["defaults"] == SimBuyer()


def test_load_sim_reports_every_error_at_its_path(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(
        "buyers:\n"
        "  lawfirm-a: {bid: cheap, decline_rate: 1.5, states: [FL, XX], post: maybe, colour: red}\n"
        "  slow-b: {delay_ms: [50, 10], bid: [1.001, 1.009]}\n"
        "  flaky: {hang_rate: 0.6, error_rate: 0.6}\n"
        "  'bad name': {}\n"
        "extra: 1\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_sim(path)
    paths = [where for where, _ in caught.value.errors]
    assert sorted(paths) == sorted(
        [
            "buyers.lawfirm-a.bid",
            "buyers.lawfirm-a.decline_rate",
            "buyers.lawfirm-a.states",
            "buyers.lawfirm-a.post",
            "buyers.lawfirm-a.colour",
            "buyers.slow-b.delay_ms",
            "buyers.slow-b.bid",
            "buyers.flaky",
            "buyers.bad name",
            "extra",
        ]
    )
    messages = dict(caught.value.errors)
    assert "XX" in messages["buyers.lawfirm-a.states"]
    assert "whole cent" in messages["buyers.slow-b.bid"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("buyers: [unclosed", "sim.yaml:1:"),
        ("- just a list\n", "(root)"),
        ("buyers: {}\n", "buyers"),
    ],
)
def test_load_sim_refuses_a_file_that_is_not_a_spec(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_sim(path)
    assert caught.value.errors[0][0].removeprefix(str(tmp_path) + os.sep).startswith(where)


def test_load_sim_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_sim(tmp_path / "absent.yaml")


# the command line ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_sim_subcommand_defaults() -> None:
    args = build_parser().parse_args(["sim"])
    assert (args.config, args.host, args.port, args.seed) == (None, "127.0.0.1", 8081, None)


async def test_pingtree_sim_serves_a_spec_file(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("buyers:\n  lawfirm-a: {bid: 33.5, post: refuse_200}\n")
    port = _free_port()
    command = [sys.executable, "-m", "pingtree", "sim", "--port", str(port), "--config", str(path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: ASYNC220
    try:
        # Up within 30 s: a loaded machine (the suite on two workers) can take seconds to start
        # a Python process; one that exits meanwhile fails at once.
        give_up = time.monotonic() + 30
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.post(
                        f"http://127.0.0.1:{port}/lawfirm-a/ping", json=PING
                    ) as r:
                        answer = await r.json()
                        break
                except aiohttp.ClientConnectionError:
                    if process.poll() is not None or time.monotonic() > give_up:
                        raise AssertionError("pingtree sim did not come up") from None
                    await asyncio.sleep(0.05)
        assert answer["accepted"] is True and answer["bid"] == 33.5
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "lawfirm-a: bids 33.50" in output.decode()


def test_pingtree_sim_reports_a_bad_spec(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("buyers:\n  lawfirm-a: {bid: -1}\n")
    result = subprocess.run(
        [sys.executable, "-m", "pingtree", "sim", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "buyers.lawfirm-a.bid:" in result.stderr


# pingtree's own router -------------------------------------------------------------------------


async def test_pingtrees_router_sells_to_the_highest_fixed_bidder(
    start_sim: StartSim, start_router: Any
) -> None:
    sim = await start_sim(
        low=SimBuyer(bid=20.0),
        high=SimBuyer(bid=45.0),
        texas=SimBuyer(bid=90.0, states=frozenset({"TX"})),
        broken=SimBuyer(bid=99.0, error_rate=1.0),
        junk=SimBuyer(bid=98.0, garbage_rate=1.0),
    )
    buyers = [
        make_buyer(
            name, ping={"url": f"{sim.base}/{name}/ping"}, post={"url": f"{sim.base}/{name}/post"}
        )
        for name in ("low", "high", "texas", "broken", "junk")
    ]
    router = await start_router(make_config(buyers))
    status, answer, _ = await router.send(sample("mva-legal"))
    assert status == 200 and answer["status"] == "sold", answer
    view = await router.admin(answer["id"])
    assert view["buyer_id"] == "high" and view["price"] == 45.0
    counts = await sim.stats()
    assert counts["high"]["accepted"] == 1 and counts["low"]["posts"] == 0
    assert counts["texas"]["declines"] == 1
    assert counts["broken"]["errors"] == 1 and counts["junk"]["garbage"] == 1
