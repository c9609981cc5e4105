"""The simulator's HTTP app: one aiohttp app answering the native buyer protocol (DESIGN §8) as
many buyers, each at `POST /{name}/ping` and `POST /{name}/post`, each as its `SimBuyer` says.

A request only draws from the app's one `random.Random(seed)` (so a seeded run is reproducible),
bumps counters and writes a small orjson body: the sim must stay cheap at hundreds of leads a
second. Counters per buyer in `GET /stats`: `pings` = bids + declines + hangs + errors + garbage;
`posts` = accepted + refused + post_hangs + post_errors (refused: answered, but not a sale);
`hanging` is how many requests are being held unanswered right now.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass
from typing import Any, NoReturn

import orjson
from aiohttp import web

from pingtree.sim.behaviour import SimBuyer, SimSpec, Span, whole_cents

# A hang outlasts any timeout pingtree accepts (60 s) by far; it ends sooner when the caller
# hangs up (checked every _HANG_POLL_S) or when the app shuts down.
HANG_S = 3600.0
_HANG_POLL_S = 0.25

_JSON = "application/json"
_NOT_INTERESTED = orjson.dumps({"accepted": False, "reason": "not interested"})
_NOT_COVERED = orjson.dumps({"accepted": False, "reason": "state not covered"})
_DUPLICATE = orjson.dumps({"accepted": False, "reason": "Duplicate"})
_QUOTA_REACHED = orjson.dumps({"status": "Quota Reached"})
_GARBAGE = b"<html><body>Thank you! Your request was received.</body></html>"
_HEALTHY = orjson.dumps({"status": "ok"})


@dataclass(slots=True)
class _Counters:
    pings: int = 0
    bids: int = 0
    declines: int = 0
    hangs: int = 0
    errors: int = 0
    garbage: int = 0
    posts: int = 0
    accepted: int = 0
    refused: int = 0
    post_hangs: int = 0
    post_errors: int = 0
    hanging: int = 0


@dataclass(frozen=True, slots=True)
class _Plan:
    """A buyer's behaviour with what a request needs precomputed: no model work per request."""

    buyer: SimBuyer
    hang_below: float
    error_below: float
    garbage_below: float
    decline_below: float
    fixed_bid: float | None
    bid_cents: tuple[int, int] | None

    @classmethod
    def of(cls, buyer: SimBuyer) -> _Plan:
        # One draw per ping picks its fate: [0, hang) hangs, then errors, garbage, declines.
        hang = buyer.hang_rate
        error = hang + buyer.error_rate
        garbage = error + buyer.garbage_rate
        bid = buyer.bid
        return cls(
            buyer=buyer,
            hang_below=hang,
            error_below=error,
            garbage_below=garbage,
            decline_below=garbage + buyer.decline_rate,
            fixed_bid=bid if isinstance(bid, float) else None,
            bid_cents=whole_cents(bid) if isinstance(bid, tuple) else None,
        )


def _json(body: bytes) -> web.Response:
    return web.Response(body=body, content_type=_JSON)


class _Sim:
    """The app's state: the plans, one random generator, the counters, the requests held."""

    def __init__(self, spec: SimSpec, rng: random.Random) -> None:
        self.plans = {name: _Plan.of(buyer) for name, buyer in spec.buyers.items()}
        self.counters = {name: _Counters() for name in spec.buyers}
        self.rng = rng
        self.held: set[asyncio.Task[Any]] = set()

    def _seconds(self, span: Span) -> float:
        if isinstance(span, tuple):
            return self.rng.uniform(span[0], span[1]) / 1000
        return span / 1000

    async def _read(self, request: web.Request) -> tuple[_Plan, _Counters, dict[str, Any]]:
        name = request.match_info["name"]
        plan = self.plans.get(name)
        if plan is None:
            detail = f"no simulated buyer named {name!r}"
            raise web.HTTPNotFound(
                text=orjson.dumps({"error": "not_found", "detail": detail}).decode(),
                content_type=_JSON,
            )
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(
                text='{"error":"bad_request","detail":"expected a JSON object"}',
                content_type=_JSON,
            )
        return plan, self.counters[name], body

    async def ping(self, request: web.Request) -> web.Response:
        plan, counts, ping = await self._read(request)
        buyer = plan.buyer
        counts.pings += 1
        draw = self.rng.random()
        if draw < plan.hang_below:
            counts.hangs += 1
            await self._hold(request, counts)
        delay = self._seconds(buyer.delay_ms)
        if draw < plan.error_below:
            counts.errors += 1
            answer = web.Response(status=500, text="simulated failure")
        elif draw < plan.garbage_below:
            counts.garbage += 1
            answer = web.Response(body=_GARBAGE, content_type="text/html")
        elif draw < plan.decline_below or buyer.bid is None:
            counts.declines += 1
            answer = _json(_NOT_INTERESTED)
        elif buyer.states is not None and not (
            isinstance(state := ping.get("state"), str) and state.upper() in buyer.states
        ):
            counts.declines += 1
            answer = _json(_NOT_COVERED)
        else:
            counts.bids += 1
            if plan.bid_cents is not None:
                price = self.rng.randint(*plan.bid_cents) / 100
            else:
                assert plan.fixed_bid is not None
                price = plan.fixed_bid
            name = request.match_info["name"]
            bid = {"accepted": True, "bid": price, "bid_id": f"{name}-b{counts.bids}"}
            answer = _json(orjson.dumps(bid))
        if delay:
            await asyncio.sleep(delay)
        return answer

    async def post(self, request: web.Request) -> web.Response:
        plan, counts, _ = await self._read(request)
        buyer = plan.buyer
        counts.posts += 1
        if buyer.post == "timeout":
            counts.post_hangs += 1
            await self._hold(request, counts)
        delay = self._seconds(buyer.post_delay_ms)
        if buyer.post == "error":
            counts.post_errors += 1
            answer = web.Response(status=500, text="simulated failure")
        elif buyer.post == "refuse_200":
            counts.refused += 1
            answer = _json(_QUOTA_REACHED)
        elif buyer.post == "reject" or self.rng.random() >= buyer.post_accept_rate:
            counts.refused += 1
            answer = _json(_DUPLICATE)
        else:
            counts.accepted += 1
            name = request.match_info["name"]
            sale: dict[str, Any] = {"accepted": True, "buyer_lead_id": f"{name}-{counts.accepted}"}
            if buyer.redirect_url is not None:
                sale["redirect_url"] = buyer.redirect_url
            answer = _json(orjson.dumps(sale))
        if delay:
            await asyncio.sleep(delay)
        return answer

    async def _hold(self, request: web.Request, counts: _Counters) -> NoReturn:
        """Never answer: wait until the caller hangs up (polled, since a server without handler
        cancellation would otherwise keep the task for an hour), or until shutdown cancels it."""
        task = asyncio.current_task()
        assert task is not None
        self.held.add(task)
        counts.hanging += 1
        try:
            for _ in range(int(HANG_S / _HANG_POLL_S)):
                if request.transport is None or request.transport.is_closing():
                    break
                await asyncio.sleep(_HANG_POLL_S)
        finally:
            counts.hanging -= 1
            self.held.discard(task)
        # Nobody is listening any more (or an hour passed): this answer is not a protocol one.
        raise web.HTTPServiceUnavailable()

    async def release_held(self, app: web.Application) -> None:
        """At shutdown, before aiohttp waits for open requests: drop the held ones at once."""
        for task in list(self.held):
            task.cancel()

    async def stats(self, request: web.Request) -> web.Response:
        return _json(orjson.dumps({name: asdict(c) for name, c in self.counters.items()}))


async def _healthz(request: web.Request) -> web.Response:
    return _json(_HEALTHY)


def create_sim_app(spec: SimSpec, *, seed: int | None = None) -> web.Application:
    """One app for every buyer of `spec`; with a seed, the same requests get the same answers."""
    sim = _Sim(spec, random.Random(seed))
    app = web.Application()
    app.on_shutdown.append(sim.release_held)
    app.router.add_post("/{name}/ping", sim.ping)
    app.router.add_post("/{name}/post", sim.post)
    app.router.add_get("/stats", sim.stats)
    app.router.add_get("/healthz", _healthz)
    return app
