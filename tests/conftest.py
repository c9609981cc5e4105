from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pingtree.config import Config, parse_config
from pingtree.web.app import ServeOptions, create_app
from tests.buyers import BuyerServer
from tests.postgres_server import postgres_server as postgres_server
from tests.postgres_server import postgres_url as postgres_url
from tests.redis_server import redis_server as redis_server
from tests.redis_server import redis_url as redis_url

# The repo's samples/ are copies of the project's shared samples, so a bare clone has them too.
SAMPLES = Path(__file__).resolve().parents[1] / "samples"

SELLER_KEY = "acme-secret-key-1"
OTHER_KEY = "other-secret-key-2"
ADMIN_TOKEN = "admin-token-for-tests"


def sample(name: str) -> dict[str, Any]:
    """A lead from shared/samples: mva-legal, solar or final-expense."""
    return dict(json.loads((SAMPLES / f"{name}.json").read_text()))


def make_buyer(buyer_id: str, server: BuyerServer | None = None, **fields: Any) -> dict[str, Any]:
    """A buyers.yaml buyer entry pointing at `server`; keyword arguments are buyers.yaml keys."""
    base = "http://127.0.0.1:9"
    entry: dict[str, Any] = {"id": buyer_id}
    if fields.get("pricing") != "fixed":
        entry["ping"] = {
            "url": server.url(buyer_id, "ping") if server else f"{base}/ping",
            "timeout_ms": 800,
        }
    entry["post"] = {
        "url": server.url(buyer_id, "post") if server else f"{base}/post",
        "timeout_ms": 1000,
    }
    for key in ("ping", "post"):
        if key in fields and isinstance(fields[key], dict):
            entry[key] = {**entry.get(key, {}), **fields.pop(key)}
    entry.update(fields)
    return entry


def config_dict(
    buyers: list[dict[str, Any]],
    router: dict[str, Any] | None = None,
    sellers: list[dict[str, Any]] | None = None,
    **top: Any,
) -> dict[str, Any]:
    """The buyers.yaml document `make_config` validates; dump it to a file to serve from one."""
    return {
        "router": {
            "admin_token": ADMIN_TOKEN,
            "budget_ms": 2000,
            "post_reserve_ms": 600,
            **(router or {}),
        },
        "sellers": sellers
        or [
            {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8},
            {"id": "other-media", "api_key": OTHER_KEY, "payout": 20},
        ],
        "buyers": buyers,
        **top,
    }


def make_config(
    buyers: list[dict[str, Any]],
    router: dict[str, Any] | None = None,
    sellers: list[dict[str, Any]] | None = None,
    **top: Any,
) -> Config:
    return parse_config(config_dict(buyers, router, sellers, **top), env={})


class RouterClient:
    """A running pingtree on a loopback port, and a seller's and an operator's client for it."""

    def __init__(self, server: TestServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.app = server.app

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def send(
        self, lead: dict[str, Any], *, key: str = SELLER_KEY, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any], aiohttp.typedefs.LooseHeaders]:
        async with self.session.post(
            self.url("/v1/leads"), json=lead, headers={"X-API-Key": key, **(headers or {})}
        ) as r:
            return r.status, await r.json(), r.headers

    async def admin(self, lead_id: str) -> dict[str, Any]:
        async with self.session.get(
            self.url(f"/admin/leads/{lead_id}"), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ) as r:
            assert r.status == 200, await r.text()
            return dict(await r.json())


@pytest.fixture
async def buyers() -> AsyncIterator[BuyerServer]:
    server = BuyerServer()
    await server.start()
    yield server
    await server.close()


ServeApp = Callable[[web.Application], Awaitable[tuple[TestServer, aiohttp.ClientSession]]]


@pytest.fixture
async def serve_app() -> AsyncIterator[ServeApp]:
    """`await serve_app(app)` → (loopback server, client session); all closed at the end."""
    started: list[tuple[TestServer, aiohttp.ClientSession]] = []

    async def serve(app: web.Application) -> tuple[TestServer, aiohttp.ClientSession]:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        started.append((server, aiohttp.ClientSession()))
        return started[-1]

    yield serve
    for server, session in started:
        await session.close()
        await server.close()


StartRouter = Callable[..., Awaitable[RouterClient]]


@pytest.fixture
async def start_router(serve_app: ServeApp) -> StartRouter:
    """`await start_router(config, config_path=None)` → RouterClient; every router started is
    closed at the end. With `config_path`, POST /admin/reload re-reads that file."""

    async def start(config: Config, *, config_path: Path | None = None) -> RouterClient:
        app = create_app(config, ServeOptions(config_path=config_path))
        return RouterClient(*await serve_app(app))

    return start
