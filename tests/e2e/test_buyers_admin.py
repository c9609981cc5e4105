"""Buyers as an operator runs them (DESIGN §13), through HTTP against real routers and real local
buyers: a paused buyer is skipped with reason `paused` and gets no ping until resumed; the pause
is shared by every router on one Redis (honoured by the others within `pauses_refresh_ms`) and
kept across a reload and a restart on the state file. GET /admin/buyers shows each buyer's live
state: paused, caps used and left, breaker, and this router's recent calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
from aiohttp.test_utils import TestServer

from pingtree.config import load_config
from pingtree.web.app import ServeOptions, create_app
from tests.buyers import BuyerServer
from tests.conftest import ServeApp, config_dict, make_buyer, sample
from tests.e2e.test_operators import (
    ALICE,
    BOB,
    OPERATORS,
    ListedAudit,
    Operated,
    schema,
    serve_file,
    write,
)

REFRESH_MS = 100


def market(buyers: BuyerServer, **router: Any) -> dict[str, Any]:
    """a bids 30, b 20: a wins whenever it is asked."""
    buyers.set("a", bid=30)
    buyers.set("b", bid=20)
    return config_dict(
        [make_buyer("a", buyers), make_buyer("b", buyers)],
        router={"pauses_refresh_ms": REFRESH_MS, **router},
        operators=OPERATORS,
    )


async def sold_to(router: Operated, n: int) -> tuple[str | None, list[tuple[str, str, str]]]:
    """Send consumer n's lead; (the buyer it sold to, buyer a's trace)."""
    lead = {**sample("mva-legal"), "lead_id": f"lead-{n}", "phone": f"+1305555{1000 + n:04d}"}
    answer = await router.send(lead)
    status, view = await router.call("GET", f"/admin/leads/{answer['id']}", BOB)
    assert status == 200
    trace = [
        (e["step"], e["result"], e.get("reason")) for e in view["trace"] if e["buyer_id"] == "a"
    ]
    return view["buyer_id"], trace


PAUSED = [("skip", "skipped", "paused")]


async def test_a_paused_buyer_is_skipped_and_not_pinged_until_resumed(
    buyers: BuyerServer, serve_app: ServeApp, tmp_path: Path
) -> None:
    router = await serve_file(serve_app, tmp_path / "buyers.yaml", market(buyers))
    assert (await sold_to(router, 1))[0] == "a"

    status, answer = await router.call("POST", "/admin/buyers/a/pause", ALICE, {"reason": "QA"})
    assert status == 200
    jsonschema.validate(answer, schema("BuyerSwitch"))
    assert answer["enabled"] is False
    paused = answer["paused"]
    assert (answer["id"], paused["by"], paused["reason"]) == ("a", "alice", "QA")
    pings = len(buyers.recorded("a").pings)
    assert await sold_to(router, 2) == ("b", PAUSED)  # the very next lead
    assert await sold_to(router, 3) == ("b", PAUSED)
    assert len(buyers.recorded("a").pings) == pings  # no ping went out to it

    status, states = await router.call("GET", "/admin/buyers", BOB)
    shown = {buyer["id"]: buyer for buyer in states["buyers"]}
    assert shown["a"]["paused"] == answer["paused"] and not shown["a"]["enabled"]
    assert shown["b"]["paused"] is None and shown["b"]["enabled"]

    status, answer = await router.call("POST", "/admin/buyers/a/resume", ALICE)
    assert (status, answer) == (200, {"id": "a", "enabled": True, "paused": None})
    buyer, trace = await sold_to(router, 4)
    assert buyer == "a" and trace[0] == ("ping", "bid", None)
    assert len(buyers.recorded("a").pings) == pings + 1


async def test_what_a_pause_refuses(
    buyers: BuyerServer, serve_app: ServeApp, tmp_path: Path
) -> None:
    router = await serve_file(serve_app, tmp_path / "buyers.yaml", market(buyers))
    for route in ("/admin/buyers/nobody/pause", "/admin/buyers/nobody/resume"):
        status, error = await router.call("POST", route, ALICE)
        assert (status, error["error"]) == (404, "not_found")
    for body, field in (
        ([1, 2], "body"),
        ({"reason": "x", "until": "tomorrow"}, "body"),
        ({"reason": 12}, "reason"),
        ({"reason": "x" * 501}, "reason"),
    ):
        status, error = await router.call("POST", "/admin/buyers/a/pause", ALICE, body)
        assert (status, list(error["fields"])) == (400, [field])
    async with router.session.post(
        router.base + "/admin/buyers/a/pause",
        data=b"{not json",
        headers={"Authorization": f"Bearer {ALICE}"},
    ) as r:
        assert r.status == 400
    assert (await router.call("GET", "/admin/buyers", ALICE))[1]["buyers"][0]["paused"] is None
    assert router.audit.entries == []


async def test_a_pause_is_kept_across_a_reload_and_a_restart_on_the_state_file(
    buyers: BuyerServer, tmp_path: Path
) -> None:
    path = tmp_path / "buyers.yaml"
    raw = market(buyers, state_file=str(tmp_path / "state.db"))
    write(path, raw)
    async with running(path) as router:
        await router.call("POST", "/admin/buyers/a/pause", ALICE, {"reason": "invoices"})
        raw["buyers"][1]["priority"] = 2  # the file changes, the pause stays
        write(path, raw)
        assert (await router.call("POST", "/admin/reload", ALICE))[0] == 200
        assert await sold_to(router, 1) == ("b", PAUSED)
    async with running(path) as router:  # a new process on the same state file
        assert await sold_to(router, 2) == ("b", PAUSED)  # its first lead already skips it
        states = (await router.call("GET", "/admin/buyers", BOB))[1]
        assert states["buyers"][0]["paused"]["reason"] == "invoices"
        await router.call("POST", "/admin/buyers/a/resume", ALICE)
    async with running(path) as router:
        assert (await sold_to(router, 3))[0] == "a"


@asynccontextmanager
async def running(path: Path, **options: Any) -> AsyncIterator[Operated]:
    """A router served from `path`, stopped (its state file closed) when the block ends."""
    app = create_app(load_config(path), ServeOptions(config_path=path, **options))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()
    try:
        yield Operated(str(server.make_url("")).rstrip("/"), session, path, ListedAudit())
    finally:
        await session.close()
        await server.close()


async def test_a_pause_on_one_router_is_honoured_by_another_within_the_refresh(
    buyers: BuyerServer, serve_app: ServeApp, redis_url: str, tmp_path: Path
) -> None:
    raw = market(buyers)
    one = await serve_file(serve_app, tmp_path / "one.yaml", raw, redis_url=redis_url)
    two = await serve_file(serve_app, tmp_path / "two.yaml", raw, redis_url=redis_url)
    assert (await sold_to(two, 1))[0] == "a"

    await one.call("POST", "/admin/buyers/a/pause", ALICE)
    assert await sold_to(one, 2) == ("b", PAUSED)  # at once on the router that paused it
    await asyncio.sleep(5 * REFRESH_MS / 1000)  # a refresh on the other, with room to spare
    assert await sold_to(two, 3) == ("b", PAUSED)
    states = (await two.call("GET", "/admin/buyers", BOB))[1]
    assert states["buyers"][0]["paused"]["by"] == "alice"

    await two.call("POST", "/admin/buyers/a/resume", ALICE)
    assert (await sold_to(two, 4))[0] == "a"
    await asyncio.sleep(5 * REFRESH_MS / 1000)
    assert (await sold_to(one, 5))[0] == "a"


async def test_the_buyers_live_state(
    buyers: BuyerServer, serve_app: ServeApp, tmp_path: Path
) -> None:
    buyers.set("capped", bid=30)
    buyers.set("flaky", ping_status=500)
    capped = make_buyer(
        "capped",
        buyers,
        timezone="America/New_York",
        caps={"hourly": 3, "daily": 5, "daily_budget": 100},
    )
    breaker = {"window": 2, "min_calls": 2, "failure_ratio": 0.5, "cooldown_s": 60}
    raw = config_dict(
        [capped, make_buyer("flaky", buyers)], router={"breaker": breaker}, operators=OPERATORS
    )
    router = await serve_file(serve_app, tmp_path / "buyers.yaml", raw)
    for n in (1, 2):
        lead = {**sample("mva-legal"), "lead_id": f"lead-{n}", "phone": f"+1305555{1000 + n:04d}"}
        assert (await router.send(lead))["status"] == "sold"

    status, states = await router.call("GET", "/admin/buyers", BOB)  # a viewer may look
    assert status == 200
    jsonschema.validate(states, schema("BuyerStates"))
    assert (states["recent_window_s"], states["recent_calls_of"]) == (300, "this router")
    shown = {buyer["id"]: buyer for buyer in states["buyers"]}
    caps = shown["capped"]["caps"]
    assert caps["timezone"] == "America/New_York"
    assert caps["hourly"] == {"cap": 3, "used": 2, "left": 1}
    assert caps["daily"] == {"cap": 5, "used": 2, "left": 3}
    assert caps["daily_budget"] == {"cap": 100, "used": 60, "left": 40}
    assert shown["flaky"]["caps"]["hourly"] == {"cap": None, "used": 0, "left": None}
    assert shown["capped"]["breaker"] == {"mode": "enforce", "state": "closed"}
    assert shown["flaky"]["breaker"] == {"mode": "enforce", "state": "open"}
    assert shown["capped"]["recent"] == {
        "pings": 2,
        "bids": 2,
        "posts": 2,
        "accepted": 2,
        "timeouts": 0,
        "errors": 0,
    }
    assert shown["flaky"]["recent"] == {
        "pings": 2,
        "bids": 0,
        "posts": 0,
        "accepted": 0,
        "timeouts": 0,
        "errors": 2,
    }
    assert all(buyer["enabled"] and buyer["schedule_open"] for buyer in shown.values())
