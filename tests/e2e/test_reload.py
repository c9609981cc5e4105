"""Reloading buyers.yaml while the router serves (POST /admin/reload and SIGHUP): the new file
serves the leads that arrive afterwards, an auction under way finishes on the tree it started with,
and a bad file changes nothing and says every error with its path. Real routers on loopback, real
local buyers, leads flowing while the file changes."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from pingtree.config import load_config
from pingtree.web.openapi import openapi_document
from tests.buyers import BuyerServer
from tests.conftest import (
    ADMIN_TOKEN,
    OTHER_KEY,
    SELLER_KEY,
    RouterClient,
    StartRouter,
    config_dict,
    make_buyer,
    make_config,
    sample,
)

ROOMY = {"budget_ms": 5000, "post_reserve_ms": 1000}  # a loaded CI box may be slow
# The seller sees who bought: the winner of every lead is in its answer.
REVEALING = [
    {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8, "reveal": ["buyer", "price"]}
]
FRESH_KEY = "fresh-seller-key-3"
BAD_FILE = """
router: {admin_token: admin-token-for-tests, budget_ms: 1000, post_reserve_ms: 2000, mode: auction}
sellers:
  - {id: acme-media, api_key: short}
buyers:
  - {id: a, pricing: fixed, post: {url: "http://127.0.0.1:9/post"}}
  - {id: b, ping: {url: "ftp://nope"}, post: {url: "http://127.0.0.1:9/post"}, caps: {daily: -1}}
"""
BAD_PATHS = {
    "router.mode",
    "router.post_reserve_ms",  # beside router.mode: every error at once, those between fields too
    "sellers[0:acme-media].api_key",
    "buyers[0:a].price",
    "buyers[1:b].ping.url",
    "buyers[1:b].caps.daily",
}


def consumer(n: int, **fields: Any) -> dict[str, Any]:
    """The mva sample as consumer number n: its own lead_id, phone and email."""
    lead = sample("mva-legal")
    lead.update(lead_id=f"lead-{n}", phone=f"+1305555{1000 + n:04d}", email=f"c{n}@example.com")
    lead.update(fields)
    return lead


def write(path: Path, raw: dict[str, Any] | str) -> None:
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw))


async def serve(start_router: StartRouter, path: Path, raw: dict[str, Any]) -> RouterClient:
    """A router started from `path`, as `pingtree serve --config path` starts one."""
    write(path, raw)
    return await start_router(load_config(path), config_path=path)


async def reload(router: RouterClient, token: str = ADMIN_TOKEN) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with router.session.post(router.url("/admin/reload"), headers=headers) as r:
        return r.status, dict(await r.json())


async def metric(base_url: str, name: str, **labels: str) -> float | None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base_url}/metrics") as response,
    ):
        text = await response.text()
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def base(router: RouterClient) -> str:
    return router.url("/").rstrip("/")


async def until(predicate: Callable[[], bool | Awaitable[bool]], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            result = predicate()
            if await result if inspect.isawaitable(result) else result:
                return
            await asyncio.sleep(0.02)


def schema(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}", "components": openapi_document()["components"]}


def market(buyers: BuyerServer, winner: str) -> dict[str, Any]:
    """Fixed-price buyers a and b, `winner` at 30 and the other at 20, and c bidding 10 after a
    short ping, so every auction has a ping under way while the file changes."""
    prices = {"a": 20, "b": 20, winner: 30}
    return config_dict(
        [
            make_buyer("a", buyers, pricing="fixed", price=prices["a"]),
            make_buyer("b", buyers, pricing="fixed", price=prices["b"]),
            make_buyer("c", buyers),
        ],
        router=ROOMY,
        sellers=REVEALING,
    )


Sent = tuple[float, float, int, dict[str, Any]]  # (started, answered, HTTP status, answer)


async def send_leads(router: RouterClient, senders: int, each: int) -> list[Sent]:
    """`senders` sellers' connections, each sending `each` leads one after another."""

    async def one_seller(first: int) -> list[Sent]:
        sent = []
        for n in range(first, first + each):
            started = time.monotonic()
            status, answer, _ = await router.send(consumer(n))
            sent.append((started, time.monotonic(), status, answer))
        return sent

    batches = await asyncio.gather(*(one_seller(s * each) for s in range(senders)))
    return [lead for batch in batches for lead in batch]


# under load ---------------------------------------------------------------------------------------


async def test_reloads_under_load_lose_no_lead_and_new_leads_follow_the_new_file(
    buyers: BuyerServer, start_router: StartRouter, tmp_path: Path
) -> None:
    buyers.set("c", bid=10, ping_delay_s=0.02)
    path = tmp_path / "buyers.yaml"
    router = await serve(start_router, path, market(buyers, "a"))
    # (sent, answered, winner of that file); the file the router started with first.
    reloads: list[tuple[float, float, str]] = [(float("-inf"), float("-inf"), "a")]

    async def keep_reloading(done: asyncio.Event) -> None:
        while not done.is_set() and len(reloads) <= 10:
            await asyncio.sleep(0.1)
            winner = "b" if reloads[-1][2] == "a" else "a"
            write(path, market(buyers, winner))
            sent = time.monotonic()
            status, answer = await reload(router)
            assert status == 200, answer
            assert answer == {
                "reloaded": True,
                "buyers": 3,
                "sellers": 1,
                "generation": len(reloads) + 1,
            }
            reloads.append((sent, time.monotonic(), winner))

    async with asyncio.timeout(30):
        done = asyncio.Event()
        reloader = asyncio.create_task(keep_reloading(done))
        leads = await send_leads(router, senders=6, each=50)
        done.set()
        await reloader

    assert len(reloads) - 1 >= 4, "the file should have changed several times under load"
    assert [status for _, _, status, _ in leads] == [200] * 300
    assert [answer["status"] for *_, answer in leads] == ["sold"] * 300
    # A lead that started after a reload was answered and ended before the next was sent can
    # only have run on that file: it went to that file's winner. The others straddle a swap.
    clean = 0
    for started, answered, _, answer in leads:
        live = [r for r in reloads if r[1] < started]
        later = reloads[len(live) :]
        if not later or answered < later[0][0]:
            clean += 1
            assert answer["buyer_id"] == live[-1][2], (answer, live[-1])
    assert clean >= 150, clean
    # Every lead sold once, posted once, counted once; nothing answered 5xx.
    posts = len(buyers.recorded("a").posts) + len(buyers.recorded("b").posts)
    assert posts == 300
    assert (
        await metric(base(router), "pingtree_leads_total", seller="acme-media", status="sold")
        == 300
    )
    responses = await metric(
        base(router), "pingtree_http_responses_total", route="/v1/leads", status="200"
    )
    assert responses == 300
    async with router.session.get(router.url("/metrics")) as r:
        assert 'status="5' not in await r.text()
    assert await metric(base(router), "pingtree_config_generation") == len(reloads)


async def test_an_auction_under_way_finishes_on_the_tree_it_started_with(
    buyers: BuyerServer, start_router: StartRouter, tmp_path: Path
) -> None:
    buyers.set("slow", bid=50, ping_delay_s=0.3)
    buyers.set("fast", bid=10)
    path = tmp_path / "buyers.yaml"
    both = [make_buyer("slow", buyers), make_buyer("fast", buyers)]
    router = await serve(start_router, path, config_dict(both, router=ROOMY))

    async with asyncio.timeout(10):
        under_way = asyncio.create_task(router.send(consumer(1)))
        await until(lambda: bool(buyers.recorded("slow").pings))
        write(path, config_dict([make_buyer("fast", buyers)], router=ROOMY))
        status, answer = await reload(router)
        assert (status, answer["buyers"], answer["generation"]) == (200, 1, 2)
        assert not under_way.done(), "the reload should land while the lead is mid-auction"
        status, first, _ = await under_way
        status_next, second, _ = await router.send(consumer(2))

    assert (status, first["status"]) == (200, "sold")
    view = await router.admin(first["id"])
    assert (view["buyer_id"], view["price"]) == ("slow", 50)
    assert [e["step"] for e in view["trace"] if e["buyer_id"] == "slow"] == ["ping", "post"]
    assert len(buyers.recorded("slow").posts) == 1

    assert (status_next, second["status"]) == (200, "sold")
    view = await router.admin(second["id"])
    assert view["buyer_id"] == "fast"
    assert all(e["buyer_id"] != "slow" for e in view["trace"])
    assert len(buyers.recorded("slow").pings) == 1


async def test_a_bad_file_under_load_is_refused_with_every_error_and_changes_nothing(
    buyers: BuyerServer,
    start_router: StartRouter,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pingtree")
    buyers.set("c", bid=10, ping_delay_s=0.02)
    path = tmp_path / "buyers.yaml"
    router = await serve(start_router, path, market(buyers, "a"))
    refusals: list[tuple[int, dict[str, Any]]] = []

    async def keep_trying_a_bad_file() -> None:
        write(path, BAD_FILE)
        for _ in range(3):
            await asyncio.sleep(0.1)
            refusals.append(await reload(router))

    async with asyncio.timeout(30):
        attempts = asyncio.create_task(keep_trying_a_bad_file())
        leads = await send_leads(router, senders=4, each=40)
        await attempts

    assert len(refusals) == 3
    for status, body in refusals:
        assert status == 422, body
        jsonschema.validate(body, schema("Error"))
        assert body["error"] == "config_invalid"
        assert set(body["fields"]) == BAD_PATHS, body["fields"]
    assert [(status, answer["status"]) for _, _, status, answer in leads] == [(200, "sold")] * 160
    assert {answer["buyer_id"] for *_, answer in leads} == {"a"}
    url = base(router)
    assert await metric(url, "pingtree_config_reloads_total", result="refused") == 3
    assert await metric(url, "pingtree_config_reloads_total", result="applied") == 0
    assert await metric(url, "pingtree_config_generation") == 1

    refused = [r.getMessage() for r in caplog.records if "reload refused" in r.getMessage()]
    assert len(refused) == 3 and all(
        r.levelname == "ERROR" for r in caplog.records if "refused" in r.getMessage()
    )
    assert refused[0].startswith(f"config reload refused, old config kept: {path}: ")
    assert all(where in refused[0] for where in BAD_PATHS), refused[0]
    assert ADMIN_TOKEN not in caplog.text and SELLER_KEY not in caplog.text

    # Fixed, the file is taken.
    write(path, market(buyers, "b"))
    status, body = await reload(router)
    assert status == 200
    jsonschema.validate(body, schema("Reloaded"))
    assert body == {"reloaded": True, "buyers": 3, "sellers": 1, "generation": 2}
    assert "config reloaded: 3 buyers, 1 sellers (generation 2)" in caplog.text
    _, answer, _ = await router.send(consumer(999))
    assert answer["buyer_id"] == "b"


# what a reload carries and what it keeps ---------------------------------------------------------


async def test_a_consumer_sold_before_a_reload_is_still_a_duplicate_after_it(
    buyers: BuyerServer, start_router: StartRouter, tmp_path: Path
) -> None:
    """Without router.dedup_secret the key is random per process: a reload must keep it, or
    every dedup hash changes and a resent consumer is sold again."""
    buyers.set("a", bid=30)
    buyers.set("b", bid=10)
    path = tmp_path / "buyers.yaml"
    tree = [make_buyer("a", buyers, dedup_days=30), make_buyer("b", buyers)]
    raw = config_dict(tree, router=ROOMY)
    assert "dedup_secret" not in raw["router"]
    router = await serve(start_router, path, raw)
    status, first, _ = await router.send(consumer(1))
    assert (await router.admin(first["id"]))["buyer_id"] == "a"

    buyers.set("c", bid=5)
    write(path, config_dict([*tree, make_buyer("c", buyers)], router=ROOMY))
    assert (await reload(router))[0] == 200
    status, again, _ = await router.send(consumer(1, lead_id="the-same-consumer-again"))

    assert (status, again["status"]) == (200, "sold")
    view = await router.admin(again["id"])
    assert view["buyer_id"] == "b"
    skipped = [e for e in view["trace"] if e["buyer_id"] == "a"]
    assert [(e["step"], e["reason"]) for e in skipped] == [("skip", "dedup")]
    assert len(buyers.recorded("a").posts) == 1


async def test_seller_keys_come_from_the_new_file(
    buyers: BuyerServer, start_router: StartRouter, tmp_path: Path
) -> None:
    buyers.set("a", bid=30)
    path = tmp_path / "buyers.yaml"
    tree = [make_buyer("a", buyers)]
    router = await serve(start_router, path, config_dict(tree, router=ROOMY))
    status, before, _ = await router.send(consumer(1))
    assert status == 200
    assert (await router.send(consumer(2), key=FRESH_KEY))[0] == 401

    sellers = [
        {"id": "other-media", "api_key": OTHER_KEY, "payout": 20},
        {"id": "fresh-media", "api_key": FRESH_KEY, "revshare": 0.5},
    ]
    write(path, config_dict(tree, router=ROOMY, sellers=sellers))
    status, answer = await reload(router)
    assert (status, answer["sellers"]) == (200, 2)

    status, removed, _ = await router.send(consumer(3))
    assert (status, removed["error"]) == (401, "unauthorized")
    async with router.session.get(
        router.url(f"/v1/leads/{before['id']}"), headers={"X-API-Key": SELLER_KEY}
    ) as r:
        assert r.status == 401
    status, fresh, _ = await router.send(consumer(4), key=FRESH_KEY)
    assert (status, fresh["status"], fresh["payout"]) == (200, "sold", 15)
    assert (await router.send(consumer(5), key=OTHER_KEY))[0] == 200


async def test_the_admin_token_and_the_body_limit_come_from_the_new_file(
    buyers: BuyerServer, start_router: StartRouter, tmp_path: Path
) -> None:
    buyers.set("a", bid=30)
    path = tmp_path / "buyers.yaml"
    tree = [make_buyer("a", buyers)]
    router = await serve(start_router, path, config_dict(tree, router=ROOMY))
    padding = {f"note_{i}": "x" * 400 for i in range(5)}  # a 2 KB body
    assert (await router.send(consumer(1, **padding)))[0] == 200

    new_token = "the-new-admin-token"
    changed = {**ROOMY, "admin_token": new_token, "max_body_kb": 1}
    write(path, config_dict(tree, router=changed))
    assert (await reload(router))[0] == 200

    status, body = await reload(router)  # the old token
    assert (status, body["error"]) == (401, "unauthorized")
    async with router.session.get(
        router.url("/admin/leads/x"), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as r:
        assert r.status == 401
    status, body = await reload(router, token=new_token)
    assert (status, body["generation"]) == (200, 3)
    status, too_big, _ = await router.send(consumer(2, **padding))
    assert (status, too_big["error"]) == (413, "payload_too_large")


async def test_concurrent_reloads_apply_one_at_a_time(
    buyers: BuyerServer, start_router: StartRouter, tmp_path: Path
) -> None:
    path = tmp_path / "buyers.yaml"
    router = await serve(start_router, path, config_dict([make_buyer("a", buyers)]))
    async with asyncio.timeout(10):
        answers = await asyncio.gather(*(reload(router) for _ in range(5)))
    assert [status for status, _ in answers] == [200] * 5
    assert sorted(body["generation"] for _, body in answers) == [2, 3, 4, 5, 6]
    assert await metric(base(router), "pingtree_config_reloads_total", result="applied") == 5


async def test_a_router_not_started_from_a_file_has_nothing_to_reload(
    buyers: BuyerServer, start_router: StartRouter
) -> None:
    router = await start_router(make_config([make_buyer("a", buyers)]))
    status, body = await reload(router, token="not-the-token")
    assert status == 401
    status, body = await reload(router)
    assert (status, body["error"]) == (409, "no_config_file")
    jsonschema.validate(body, schema("Error"))
    assert await metric(base(router), "pingtree_config_reloads_total", result="refused") == 0


# SIGHUP through the real CLI ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli_config(buyers: BuyerServer, *, fresh_seller: bool) -> dict[str, Any]:
    sellers = [{"id": "acme-media", "api_key": "${TEST_SELLER_KEY}", "revshare": 0.5}]
    if fresh_seller:
        sellers.append({"id": "fresh-media", "api_key": "${TEST_FRESH_KEY}", "revshare": 0.5})
    return {
        "router": {"budget_ms": 2000, "post_reserve_ms": 500, "admin_token": "${TEST_ADMIN_TOKEN}"},
        "sellers": sellers,
        "buyers": [make_buyer("firm-a", buyers, verticals=["mva"])],
    }


@pytest.fixture(params=["asyncio", "uvloop"])
async def served_from_file(
    tmp_path: Path, buyers: BuyerServer, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[str, subprocess.Popen[bytes], Path, Path]]:
    """`pingtree serve` in its own process: (base url, process, its config file, its log)."""
    config, log = tmp_path / "buyers.yaml", tmp_path / "serve.log"
    write(config, _cli_config(buyers, fresh_seller=False))
    port = _free_port()
    env = {
        **os.environ,
        "TEST_ADMIN_TOKEN": "cli-admin-token",
        "TEST_SELLER_KEY": SELLER_KEY,
        "TEST_FRESH_KEY": FRESH_KEY,
    }
    command = [sys.executable, "-m", "pingtree", "serve", "--config", str(config)]
    command += ["--port", str(port), "--loop", request.param]
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: ASYNC220
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:

            async def healthy() -> bool:
                try:
                    async with session.get(f"{url}/healthz") as response:
                        return response.status == 200
                except aiohttp.ClientConnectionError:
                    return False

            await until(healthy, timeout_s=15)
        yield url, process, config, log
    finally:
        process.terminate()
        process.wait(timeout=10)
        printed = log.read_text()
        for secret in (SELLER_KEY, FRESH_KEY, "cli-admin-token"):
            assert secret not in printed


async def test_sighup_reloads_the_file_and_a_bad_one_keeps_the_old(
    served_from_file: tuple[str, subprocess.Popen[bytes], Path, Path], buyers: BuyerServer
) -> None:
    url, process, config, log = served_from_file
    buyers.set("firm-a", bid=40)
    leads = iter(range(100))

    async def status_with(key: str) -> int:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{url}/v1/leads", json=consumer(next(leads)), headers={"X-API-Key": key}
            ) as r,
        ):
            return r.status

    async def answers_200(key: str) -> bool:
        return await status_with(key) == 200

    async with asyncio.timeout(30):
        assert await status_with(FRESH_KEY) == 401
        write(config, _cli_config(buyers, fresh_seller=True))
        process.send_signal(signal.SIGHUP)
        await until(lambda: answers_200(FRESH_KEY))
        await until(
            lambda: "config reloaded: 1 buyers, 2 sellers (generation 2)" in log.read_text()
        )
        assert await metric(url, "pingtree_config_generation") == 2

        write(config, BAD_FILE)
        process.send_signal(signal.SIGHUP)
        await until(lambda: "config reload refused, old config kept" in log.read_text())
        assert await status_with(FRESH_KEY) == 200 and await status_with(SELLER_KEY) == 200
        assert await metric(url, "pingtree_config_reloads_total", result="refused") == 1
        assert await metric(url, "pingtree_config_generation") == 2

    refusal = next(line for line in log.read_text().splitlines() if "reload refused" in line)
    assert " ERROR " in refusal and str(config) in refusal
    assert all(where in refusal for where in BAD_PATHS), refusal
    assert process.poll() is None, "a refused reload must not stop the router"
