"""Real local buyer servers for end-to-end tests: one aiohttp server on a loopback port, each
buyer at /{name}/ping and /{name}/post, each with a scripted behaviour, every request recorded."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Behaviour:
    """What one simulated buyer does. `bid=None` declines the ping."""

    bid: float | None = 10.0
    decline_every: int = 0  # n > 0: every nth ping is declined (a bid rate of 1 - 1/n)
    ping_delay_s: float = 0.0
    ping_status: int = 200
    ping_body: bytes | None = None  # raw answer, overrides bid
    expires_in_ms: int | None = None
    accept_post: bool = True
    post_delay_s: float = 0.0
    post_status: int = 200
    post_body: bytes | None = None  # raw answer, overrides accept_post
    redirect_url: str | None = None
    post_content_type: str = "application/json"  # e.g. text/html for a buyer answering a web page


@dataclass
class Recorded:
    pings: list[dict[str, Any]] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    raw_pings: list[bytes] = field(default_factory=list)


class BuyerServer:
    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = {}
        self.seen: dict[str, Recorded] = {}
        # Every request's arrival ("in") and answer ("out") across all buyers, in the order they
        # happened: (buyer, "ping" | "post", "in" | "out", monotonic seconds). A request the
        # caller gave up on has no "out".
        self.events: list[tuple[str, str, str, float]] = []
        app = web.Application()
        app.router.add_post("/{name}/ping", self._ping)
        app.router.add_post("/{name}/post", self._post)
        self._server = TestServer(app, host="127.0.0.1")

    async def start(self) -> None:
        await self._server.start_server()

    async def close(self) -> None:
        await self._server.close()

    def url(self, name: str, step: str) -> str:
        return str(self._server.make_url(f"/{name}/{step}"))

    def set(self, name: str, **behaviour: Any) -> Behaviour:
        self.behaviours[name] = Behaviour(**behaviour)
        self.seen.setdefault(name, Recorded())
        return self.behaviours[name]

    def recorded(self, name: str) -> Recorded:
        return self.seen.setdefault(name, Recorded())

    def timeline(self) -> list[tuple[str, str, str]]:
        """`events` without the times: [(buyer, step, "in" | "out"), …]."""
        return [(name, step, edge) for name, step, edge, _ in self.events]

    def _event(self, name: str, step: str, edge: str) -> None:
        self.events.append((name, step, edge, time.monotonic()))

    async def _ping(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        raw = await request.read()
        self._event(name, "ping", "in")
        self.recorded(name).raw_pings.append(raw)
        self.recorded(name).pings.append(orjson.loads(raw))
        b = self.behaviours.get(name, Behaviour())
        if b.ping_delay_s:
            await asyncio.sleep(b.ping_delay_s)
        self._event(name, "ping", "out")
        if b.ping_body is not None:
            return web.Response(
                body=b.ping_body, status=b.ping_status, content_type="application/json"
            )
        declines = b.decline_every > 0 and len(self.recorded(name).pings) % b.decline_every == 0
        if b.bid is None or declines:
            answer: dict[str, Any] = {"accepted": False, "reason": "not interested"}
        else:
            answer = {"accepted": True, "bid": b.bid, "bid_id": f"b-{name}"}
            if b.expires_in_ms is not None:
                answer["expires_in_ms"] = b.expires_in_ms
        return web.Response(
            body=orjson.dumps(answer), status=b.ping_status, content_type="application/json"
        )

    async def _post(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.recorded(name).posts.append(orjson.loads(await request.read()))
        self._event(name, "post", "in")
        b = self.behaviours.get(name, Behaviour())
        if b.post_delay_s:
            await asyncio.sleep(b.post_delay_s)
        self._event(name, "post", "out")
        if b.post_body is not None:
            return web.Response(
                body=b.post_body, status=b.post_status, content_type=b.post_content_type
            )
        if b.accept_post:
            answer: dict[str, Any] = {
                "accepted": True,
                "buyer_lead_id": f"{name}-{len(self.recorded(name).posts)}",
            }
            if b.redirect_url:
                answer["redirect_url"] = b.redirect_url
        else:
            answer = {"accepted": False, "reason": "Duplicate"}
        return web.Response(
            body=orjson.dumps(answer), status=b.post_status, content_type="application/json"
        )


T = TypeVar("T")


class BuyerThread:
    """A BuyerServer answering from its own event loop, in its own thread. For a test whose own
    loop is busy (sending hundreds of leads at once): on that loop, a buyer's answer waits its
    turn behind the test's work, and on a loaded machine past a router's timeout. `set` before
    the traffic, `recorded` after it: the lists are appended to by the buyers' thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="buyers", daemon=True)

    async def start(self) -> BuyerServer:
        self._thread.start()
        self.server = await self._run(self._started())
        return self.server

    async def close(self) -> None:
        await self._run(self.server.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
        self._loop.close()

    async def _started(self) -> BuyerServer:
        server = BuyerServer()
        await server.start()
        return server

    async def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))
