"""Simulated buyers for the demo, the tests and the benchmarks.

One aiohttp app answers the native buyer protocol (DESIGN §8) as many buyers, each at
`POST /{name}/ping` and `POST /{name}/post`, each behaving as its `SimBuyer` says: fixed or random
bids, declines, slow answers, hangs, 500s, garbage, post refusals and post timeouts. `GET /stats`
counts what each buyer did; `GET /healthz` says the sim is up.

Behaviours are validated once, at load. A request only draws from the app's one
`random.Random(seed)` (so a seeded run is reproducible), bumps counters and writes a small orjson
body: the sim must stay cheap at hundreds of leads a second. It knows nothing of the router or the
codec, so that it tests them rather than agreeing with them.

Counters per buyer in `/stats`: `pings` = bids + declines + hangs + errors + garbage;
`posts` = accepted + refused + post_hangs + post_errors (refused: answered, but not a sale);
`hanging` is how many requests are being held unanswered right now.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, NoReturn

import orjson
import yaml
from aiohttp import web
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from pingtree.errors import ConfigError
from pingtree.states import STATE_CODES

Span = float | tuple[float, float]
PostMode = Literal["accept", "reject", "refuse_200", "timeout", "error"]

# A hang outlasts any timeout pingtree accepts (60 s) by far; it ends sooner when the caller
# hangs up (checked every _HANG_POLL_S) or when the app shuts down.
HANG_S = 3600.0
_HANG_POLL_S = 0.25
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")

_JSON = "application/json"
_NOT_INTERESTED = orjson.dumps({"accepted": False, "reason": "not interested"})
_NOT_COVERED = orjson.dumps({"accepted": False, "reason": "state not covered"})
_DUPLICATE = orjson.dumps({"accepted": False, "reason": "Duplicate"})
_QUOTA_REACHED = orjson.dumps({"status": "Quota Reached"})
_GARBAGE = b"<html><body>Thank you! Your request was received.</body></html>"
_HEALTHY = orjson.dumps({"status": "ok"})


def _number_or_range(value: Any, what: str) -> Any:
    """A number ≥ 0, or [low, high] with 0 ≤ low ≤ high: one clear message, not one per type."""

    def number(item: Any) -> float | None:
        if isinstance(item, bool) or not isinstance(item, int | float):
            return None
        return float(item) if math.isfinite(item) and item >= 0 else None

    if isinstance(value, list | tuple) and len(value) == 2:
        low, high = number(value[0]), number(value[1])
        if low is None or high is None or low > high:
            raise ValueError(f"{what} range must be [low, high] with 0 <= low <= high")
        return (low, high)
    single = number(value)
    if single is None:
        raise ValueError(f"{what} must be a number >= 0 or a [low, high] range")
    return single


def _cents(span: tuple[float, float]) -> tuple[int, int]:
    """The whole cents inside [low, high]: a random bid is drawn among them, so it is exact."""
    return math.ceil(round(span[0] * 100, 6)), math.floor(round(span[1] * 100, 6))


def _percent(rate: float) -> str:
    return f"{rate * 100:g}%"


def _span_text(span: Span, unit: str = "") -> str:
    if isinstance(span, tuple):
        return f"{span[0]:g}-{span[1]:g}{unit}"
    return f"{span:g}{unit}"


class SimBuyer(BaseModel):
    """What one simulated buyer does. The four ping rates are shares of the same pings."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    bid: float | tuple[float, float] | None = (10.0, 50.0)
    decline_rate: float = Field(0.0, ge=0, le=1)
    states: frozenset[str] | None = None
    delay_ms: float | tuple[float, float] = 0.0
    hang_rate: float = Field(0.0, ge=0, le=1)
    error_rate: float = Field(0.0, ge=0, le=1)
    garbage_rate: float = Field(0.0, ge=0, le=1)
    post: PostMode = "accept"
    post_accept_rate: float = Field(1.0, ge=0, le=1)
    post_delay_ms: float | tuple[float, float] = 0.0
    redirect_url: str | None = Field(None, pattern=r"^https?://\S+$")

    @field_validator("bid", mode="before")
    @classmethod
    def _bid_shape(cls, value: Any) -> Any:
        if value is None:
            return None
        bid = _number_or_range(value, "bid")
        if isinstance(bid, tuple) and _cents(bid)[0] > _cents(bid)[1]:
            raise ValueError("bid range must contain a whole cent")
        return bid

    @field_validator("delay_ms", "post_delay_ms", mode="before")
    @classmethod
    def _delay_shape(cls, value: Any, info: ValidationInfo) -> Any:
        return _number_or_range(value, str(info.field_name))

    @field_validator("states", mode="before")
    @classmethod
    def _upper_states(cls, value: Any) -> Any:
        if isinstance(value, list | tuple | set | frozenset):
            return frozenset(str(s).strip().upper() for s in value)
        return value

    @field_validator("states")
    @classmethod
    def _known_states(cls, value: frozenset[str] | None) -> frozenset[str] | None:
        unknown = sorted(s for s in value or () if s not in STATE_CODES)
        if unknown:
            raise ValueError(f"unknown state code(s): {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _shares_fit(self) -> SimBuyer:
        if self.hang_rate + self.error_rate + self.garbage_rate + self.decline_rate > 1 + 1e-9:
            raise ValueError(
                "hang_rate, error_rate, garbage_rate and decline_rate are shares of the same "
                "pings: together they must not exceed 1"
            )
        return self

    def describe(self) -> str:
        """One line an operator reads at `pingtree sim` start."""
        if self.bid is None:
            parts = ["never bids"]
        elif isinstance(self.bid, tuple):
            parts = [f"bids {self.bid[0]:.2f}-{self.bid[1]:.2f}"]
        else:
            parts = [f"bids {self.bid:.2f}"]
        if self.states is not None:
            parts.append("only in " + (",".join(sorted(self.states)) or "no state"))
        for rate, what in (
            (self.decline_rate, "declines"),
            (self.hang_rate, "never answers"),
            (self.error_rate, "HTTP 500 on"),
            (self.garbage_rate, "garbage on"),
        ):
            if rate:
                parts.append(f"{what} {_percent(rate)} of pings")
        if self.delay_ms:
            parts.append(f"answers in {_span_text(self.delay_ms, ' ms')}")
        parts.append(self._post_text())
        if self.post_delay_ms and self.post != "timeout":
            parts.append(f"posts answered in {_span_text(self.post_delay_ms, ' ms')}")
        return " · ".join(parts)

    def _post_text(self) -> str:
        if self.post == "accept":
            share = "" if self.post_accept_rate == 1 else f"{_percent(self.post_accept_rate)} of "
            redirect = f" (redirect {self.redirect_url})" if self.redirect_url else ""
            return f"accepts {share}posts{redirect}"
        return {
            "reject": "rejects every post as Duplicate",
            "refuse_200": 'refuses posts with HTTP 200 {"status": "Quota Reached"}',
            "timeout": "never answers a post",
            "error": "answers posts with HTTP 500",
        }[self.post]


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError("a buyer name is letters, digits, '.', '_' or '-' (it is a URL path)")
    return name


class SimSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    buyers: Mapping[Annotated[str, AfterValidator(_check_name)], SimBuyer] = Field(min_length=1)

    @field_validator("buyers", mode="before")
    @classmethod
    def _empty_is_default(cls, value: Any) -> Any:
        # `name:` with nothing under it in YAML is a buyer with every default.
        if isinstance(value, dict):
            return {name: {} if buyer is None else buyer for name, buyer in value.items()}
        return value

    @field_validator("buyers", mode="after")
    @classmethod
    def _read_only(cls, value: Mapping[str, SimBuyer]) -> Mapping[str, SimBuyer]:
        return MappingProxyType(dict(value))

    @field_serializer("buyers")
    def _as_dict(self, value: Mapping[str, SimBuyer]) -> dict[str, Any]:
        return {name: buyer.model_dump() for name, buyer in value.items()}


DEFAULT_SPEC = SimSpec(
    buyers={
        "steady": SimBuyer(bid=40.0),
        "spread": SimBuyer(
            bid=(10.0, 60.0), post_accept_rate=0.8, redirect_url="https://spread.example/thanks"
        ),
        "slow": SimBuyer(bid=(25.0, 45.0), delay_ms=(300.0, 900.0)),
        "picky": SimBuyer(bid=55.0, states=frozenset({"FL", "GA", "TX"})),
        "choosy": SimBuyer(bid=(30.0, 50.0), decline_rate=0.5),
        "rejects": SimBuyer(bid=(60.0, 80.0), post="reject"),
        "quota": SimBuyer(bid=(50.0, 70.0), post="refuse_200"),
        "hangs": SimBuyer(bid=(35.0, 55.0), hang_rate=0.3),
        "errors": SimBuyer(bid=(35.0, 55.0), error_rate=0.4),
        "garbage": SimBuyer(bid=45.0, garbage_rate=1.0),
        "black-hole": SimBuyer(bid=(5.0, 30.0), post="timeout"),
    }
)
"""The built-in spec of `pingtree sim` without --config: one buyer per behaviour."""


def _where(loc: tuple[int | str, ...]) -> str:
    path = ""
    for item in loc:
        if item == "[key]":
            continue
        path += f"[{item}]" if isinstance(item, int) else ("." if path else "") + str(item)
    return path or "(root)"


def parse_sim(raw: Any) -> SimSpec:
    """Validate a decoded YAML document; raise ConfigError with every error and its path."""
    if not isinstance(raw, dict):
        raise ConfigError([("(root)", "the file must be a mapping with buyers")])
    try:
        return SimSpec.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            [
                (_where(tuple(e["loc"])), str(e["msg"]).removeprefix("Value error, "))
                for e in exc.errors(include_url=False, include_input=False)
            ]
        ) from None


def load_sim(path: str | Path) -> SimSpec:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([(str(path), f"cannot read: {exc.strerror}")]) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError([(where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from exc
    return parse_sim(raw)


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
            bid_cents=_cents(bid) if isinstance(bid, tuple) else None,
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
