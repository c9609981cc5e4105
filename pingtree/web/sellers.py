"""The HTTP API: the seller routes, the operator routes, health, metrics and OpenAPI.

The only module that talks to sellers and operators. Every error leaves as JSON
`{"error", "detail", "fields"}` with the status its exception carries; nothing a client sends can
produce a 500. The config is read from the router's current tree on every request, never kept
aside: after a reload, keys, tokens and limits are the new file's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pingtree.auction.loop_lag import LoopLag
from pingtree.auction.router import Router
from pingtree.config import Config, SellerConfig
from pingtree.core import jsonenc
from pingtree.core.errors import (
    BadRequest,
    ClientClosed,
    ConfigError,
    NotFound,
    PingtreeError,
    RequestTimeout,
    StoreUnavailable,
    Unauthorized,
    UnsupportedEncoding,
    UnsupportedMediaType,
)
from pingtree.core.lead import apply_schema, parse_lead
from pingtree.core.outcome import operator_view, seller_view
from pingtree.deliveries.service import Deliveries, default_consumer
from pingtree.metrics import Metrics
from pingtree.store.queue.base import DeliveryQueue
from pingtree.store.queue.sqlite import SqliteFile, SqliteQueue
from pingtree.store.state.base import IdempotencyKey, Store
from pingtree.store.state.guard import GuardedStore
from pingtree.store.state.memory import MemoryStore
from pingtree.store.state.sqlite import SqliteStore
from pingtree.transport.client import HttpTransport, Transport
from pingtree.web.admission import InFlight, RateLimiter, check_signature
from pingtree.web.deliveries_admin import DELIVERIES
from pingtree.web.deliveries_admin import add_routes as add_delivery_routes
from pingtree.web.lead_body import (
    ACCEPTED_ENCODINGS,
    HANDLER_ARGS,
    decode_lead_body,
    is_lead_type,
    read_body,
)
from pingtree.web.openapi import openapi_document
from pingtree.web.reloading import ConfigReloader

log = logging.getLogger(__name__)

ROUTER = web.AppKey("router", Router)
STORE = web.AppKey("store", GuardedStore)
TRANSPORT = web.AppKey("transport", Transport)
METRICS = web.AppKey("metrics", Metrics)
IN_FLIGHT = web.AppKey("in_flight", InFlight)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)

_IDEMPOTENCY_KEY_MAX = 255

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=jsonenc.dumps(payload), status=status, content_type="application/json", headers=headers
    )


def error_response(error: PingtreeError) -> web.Response:
    headers = {}
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(error.retry_after_s)
    if isinstance(error, UnsupportedEncoding):
        headers["Accept-Encoding"] = ACCEPTED_ENCODINGS
    body = {"error": error.code, "detail": error.detail, "fields": error.fields}
    response = json_response(body, error.status, headers)
    if isinstance(error, RequestTimeout | ClientClosed):
        response.force_close()  # the body was not read to its end: the stream is out of step
    return response


_STATUS_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[METRICS]
    route = (
        request.match_info.route.resource.canonical
        if request.match_info.route.resource
        else "unmatched"
    )
    try:
        response = await handler(request)
    except PingtreeError as exc:
        response = error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _STATUS_CODES.get(exc.status, "http_error")
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        body = {"error": code, "detail": exc.reason, "fields": {}}
        response = json_response(body, exc.status, allow)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, route)
        response = json_response(
            {"error": "internal", "detail": "internal error", "fields": {}}, 500
        )
    metrics.requests.labels(route, str(response.status)).inc()
    return response


# authentication --------------------------------------------------------------------------------


def _presented_key(request: web.Request) -> str | None:
    """The key in X-API-Key or Authorization: Bearer. Two different keys (two X-API-Key headers,
    or one that a Bearer token contradicts) are a 400: which seller is meant would be a guess.
    The same key sent twice is one key."""
    keys: dict[str, set[str]] = {}
    for value in request.headers.getall("X-API-Key", []):
        if value.strip():
            keys.setdefault(value.strip(), set()).add("X-API-Key")
    for value in request.headers.getall("Authorization", []):
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            keys.setdefault(token.strip(), set()).add("Authorization")
    if len(keys) > 1:
        headers = sorted(set().union(*keys.values()))
        raise BadRequest(
            f"the request carries {len(keys)} different API keys ({' and '.join(headers)}): "
            "send one",
            fields={name: "conflicting API keys" for name in headers},
        )
    return next(iter(keys), None)


def authenticate_seller(request: web.Request) -> SellerConfig:
    key = _presented_key(request)
    seller = request.app[ROUTER].tree.seller_for_key(key) if key else None
    if seller is None:
        raise Unauthorized("unknown or missing API key (X-API-Key or Authorization: Bearer)")
    return seller


def authenticate_operator(request: web.Request) -> None:
    token = request.app[ROUTER].tree.settings.admin_token
    if token is None:
        raise Unauthorized("the operator API is disabled: set router.admin_token")
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    expected = hashlib.sha256(token.get_secret_value().encode()).digest()
    # Header bytes that are not UTF-8 arrive surrogate-escaped: hash them as they came.
    given = hashlib.sha256(presented.strip().encode("utf-8", "surrogateescape")).digest()
    if scheme.lower() != "bearer" or not hmac.compare_digest(expected, given):
        raise Unauthorized("admin token required (Authorization: Bearer)")


# the seller API --------------------------------------------------------------------------------


def _idempotency_key(
    request: web.Request, seller: SellerConfig, lead_id: str | None, fingerprint: str
) -> IdempotencyKey | None:
    """The header's key, else the lead_id; each in its own namespace, so a header key "123"
    never meets another lead whose lead_id is "123"."""
    header = request.headers.get("Idempotency-Key", "").strip()
    if len(header) > _IDEMPOTENCY_KEY_MAX:
        raise BadRequest(
            "Idempotency-Key is too long",
            fields={"Idempotency-Key": f"at most {_IDEMPOTENCY_KEY_MAX} characters"},
        )
    if header:
        return IdempotencyKey(seller.id, "header:" + header, fingerprint, "Idempotency-Key")
    if lead_id is not None:
        return IdempotencyKey(seller.id, "lead_id:" + lead_id, fingerprint, "lead_id")
    return None


async def post_lead(request: web.Request) -> web.Response:
    """Cheapest refusals first: too many leads in flight (503), the key (400 for two that
    differ, 401), the seller's rate limit (429), the content type and encoding (415); then the
    body (408, 413, 400), its signature (401) and the lead itself (422), before any auction."""
    settings = request.app[ROUTER].tree.settings
    in_flight = request.app[IN_FLIGHT]
    try:
        in_flight.enter(settings.max_in_flight)
    except PingtreeError:
        request.app[METRICS].overload_refusals.inc()
        raise
    try:
        return await _sell_lead(request)
    finally:
        in_flight.leave()


async def _sell_lead(request: web.Request) -> web.Response:
    seller = authenticate_seller(request)
    metrics = request.app[METRICS]
    try:
        request.app[RATE_LIMITER].admit(seller, time.monotonic())
    except PingtreeError:
        metrics.rate_limited.labels(seller.id).inc()
        raise
    content_type = request.content_type.lower()
    if not is_lead_type(content_type):
        raise UnsupportedMediaType("send application/json or application/x-www-form-urlencoded")
    tree = request.app[ROUTER].tree
    settings = tree.settings
    body = await read_body(request, settings.max_body_kb * 1024, settings.client_timeout_ms / 1000)
    try:
        check_signature(seller, request.headers, body, int(time.time()))
    except PingtreeError:
        metrics.bad_signatures.labels(seller.id).inc()
        raise
    lead = parse_lead(decode_lead_body(content_type, body))
    lead = apply_schema(lead, tree.config.verticals.get(lead.vertical))
    fingerprint = hashlib.sha256(jsonenc.dumps_sorted(lead.model_dump())).hexdigest()
    key = _idempotency_key(request, seller, lead.lead_id, fingerprint)
    outcome, replayed = await request.app[ROUTER].submit(seller, lead, key)
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return json_response(seller_view(outcome, seller), headers=headers)


async def get_lead(request: web.Request) -> web.Response:
    seller = authenticate_seller(request)
    outcome = await request.app[STORE].get_outcome(request.match_info["id"])
    if outcome is None or outcome.seller_id != seller.id:
        raise NotFound("no such lead for this seller")
    return json_response(seller_view(outcome, seller))


# the operator API and the rest -----------------------------------------------------------------


async def admin_get_lead(request: web.Request) -> web.Response:
    authenticate_operator(request)
    outcome = await request.app[STORE].get_outcome(request.match_info["id"])
    if outcome is None:
        raise NotFound("no such lead (or its retention has passed)")
    return json_response(operator_view(outcome))


async def admin_reload(request: web.Request) -> web.Response:
    authenticate_operator(request)
    reloader = request.app[RELOADER]
    if reloader.path is None:
        detail = "this router was not started from a file: there is nothing to re-read"
        return json_response({"error": "no_config_file", "detail": detail, "fields": {}}, 409)
    try:
        tree, generation = await reloader.reload()
    except ConfigError as exc:
        detail = f"{len(exc.errors)} error(s) in {reloader.path}; the running config is kept"
        body = {"error": exc.code, "detail": detail, "fields": _error_fields(exc)}
        return json_response(body, 422)
    answer: dict[str, Any] = {
        "reloaded": True,
        "buyers": len(tree.buyers),
        "sellers": len(tree.sellers),
        "generation": generation,
    }
    if reloader.tell_others is not None:
        # `serve --workers N`: this worker has the new file; the supervisor sends the others
        # SIGHUP, and they re-read it as this one did (the log says how each went).
        reloader.tell_others()
        answer["workers"] = "all"
    return json_response(answer)


def _error_fields(exc: ConfigError) -> dict[str, str]:
    """{path: message}, every error kept: two at one path are joined, not overwritten."""
    fields: dict[str, str] = {}
    for path, message in exc.errors:
        fields[path] = f"{fields[path]}; {message}" if path in fields else message
    return fields


async def healthz(request: web.Request) -> web.Response:
    """200 `{"status": "ok"}`; 503 `{"status": "degraded", "store": "unavailable"}` with
    Retry-After while the store is down (new leads get 503 too). The router itself is alive
    either way: a readiness check, not a liveness one."""
    if await request.app[STORE].healthy():
        return json_response({"status": "ok"})
    retry = {"Retry-After": str(StoreUnavailable.retry_after_s)}
    return json_response({"status": "degraded", "store": "unavailable"}, 503, retry)


async def metrics_page(request: web.Request) -> web.Response:
    payload = generate_latest(request.app[METRICS].registry)
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


RELOADER = web.AppKey("reloader", ConfigReloader)


def create_app(
    config: Config,
    *,
    config_path: str | Path | None = None,
    store: Store | None = None,
    transport: Transport | None = None,
    registry: CollectorRegistry | None = None,
    queue: DeliveryQueue | None = None,
) -> web.Application:
    # The body limit is enforced by read_body with a JSON 413; aiohttp's own cap sits above it.
    # HANDLER_ARGS: bodies reach read_body as sent, which inflates them itself (lead_body.py).
    app = web.Application(
        middlewares=[errors_as_json],
        client_max_size=(config.router.max_body_kb + 64) * 1024,
        handler_args=HANDLER_ARGS,
    )
    # The embedded store and queue share router.state_file: one SQLite file, one writer thread.
    # Without one, the store is in memory and so is the queue's SQLite database.
    retention, state_path = config.router.retention, config.router.state_file
    state = SqliteFile(state_path) if state_path and (store is None or queue is None) else None
    if store is None:
        store = SqliteStore(state, retention) if state is not None else MemoryStore(retention)
    # Guarded: down after any StoreUnavailable, new leads refused at once until a probe finds it
    # back, and the writes that must reach it held until then (store/guard.py).
    store = GuardedStore(store)
    transport = transport or HttpTransport()
    metrics = Metrics(registry)
    metrics.store_up.set_function(lambda: float(store.up))
    metrics.store_deferred_writes.set_function(lambda: float(store.deferred))
    app[STORE] = store
    app[TRANSPORT] = transport
    app[METRICS] = metrics
    app[IN_FLIGHT] = in_flight = InFlight()
    app[RATE_LIMITER] = RateLimiter()
    metrics.in_flight.set_function(lambda: float(in_flight.count))
    # Sold leads on their way to CRMs and postbacks: the embedded queue is a SQLite file
    # (router.state_file; in memory without one), the shared one is Redis (cli.py passes it).
    queue = queue or SqliteQueue(state or ":memory:")
    deliveries = Deliveries(
        queue,
        transport,
        metrics,
        lambda: router.tree,
        config.router.deliveries,
        exports_dir=config.router.exports_dir,
        consumer=default_consumer(),
    )
    app[DELIVERIES] = deliveries
    # How late the event loop runs: a timeout then may be the router's, not the buyer's.
    loop_lag = LoopLag(on_tick=metrics.loop_lag_seconds.observe)
    app.cleanup_ctx.append(loop_lag.running)
    app[ROUTER] = router = Router(config, store, transport, metrics, deliveries, loop_lag)
    path = None if config_path is None else Path(config_path)
    app[RELOADER] = ConfigReloader(path, router, metrics)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        stop_watching_gc = metrics.watch_gc()
        await transport.start()
        await deliveries.start()
        yield
        stop_watching_gc()
        await deliveries.stop()  # before the transport: attempts in flight still use it
        await transport.close()
        await queue.close()
        await store.close()
        if state is not None:
            await state.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/v1/leads", post_lead)
    app.router.add_get("/v1/leads/{id}", get_lead)
    app.router.add_get("/admin/leads/{id}", admin_get_lead)
    app.router.add_post("/admin/reload", admin_reload)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/openapi.json", openapi)
    add_delivery_routes(app, deliveries_key=DELIVERIES)
    return app
