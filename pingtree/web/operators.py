"""The operator API (DESIGN §6, §13): `POST /admin/reload` (admins only, audited with what
changed) and `GET /admin/events` (this router's finished auctions, live), behind an operator's
token; `/healthz`, `/metrics` and `/openapi.json`, which need no key. The leads, reports, audit
and forget are ledger_admin.py's, the deliveries' routes deliveries_admin.py's, the buyers'
buyers_admin.py's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pingtree.config import Operator
from pingtree.config.diff import config_diff
from pingtree.core.errors import ConfigError, StoreUnavailable
from pingtree.web.audit import audited
from pingtree.web.auth import authenticate_operator, require_admin
from pingtree.web.keys import EVENTS, LEDGER_WRITER, METRICS, RELOADER, ROUTER, STORE
from pingtree.web.openapi import openapi_document
from pingtree.web.responses import json_response


async def admin_reload(request: web.Request) -> web.Response:
    operator = authenticate_operator(request)
    require_admin(operator)
    reloader = request.app[RELOADER]
    if reloader.path is None:
        detail = "this router was not started from a file: there is nothing to re-read"
        return json_response({"error": "no_config_file", "detail": detail, "fields": {}}, 409)
    try:
        answer = await reload_config(request, operator)
    except ConfigError as exc:
        body = {
            "error": exc.code,
            "detail": refused_detail(exc, reloader.path),
            "fields": _error_fields(exc),
        }
        return json_response(body, 422)
    return json_response(answer)


async def reload_config(request: web.Request, operator: Operator) -> dict[str, Any]:
    """Re-read the file the router was started with (its reloader's `path`, which the caller
    checked is set) and swap it in, for `operator`, an admin (the caller checked), audited with
    the config diff; what POST /admin/reload answers. ConfigError, with every error and its
    path, when the file does not validate: the running config is kept. The console's Config
    page too."""
    reloader = request.app[RELOADER]
    before = request.app[ROUTER].tree.config
    tree, generation = await reloader.reload()
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
    changes = config_diff(before, tree.config)
    await audited(request, operator, "reload", None, {"generation": generation, **changes})
    return answer


def refused_detail(exc: ConfigError, path: Path) -> str:
    return f"{len(exc.errors)} error(s) in {path}; the running config is kept"


def _error_fields(exc: ConfigError) -> dict[str, str]:
    """{path: message}, every error kept: two at one path are joined, not overwritten."""
    fields: dict[str, str] = {}
    for path, message in exc.errors:
        fields[path] = f"{fields[path]}; {message}" if path in fields else message
    return fields


async def admin_events(request: web.Request) -> web.StreamResponse:
    authenticate_operator(request)
    return await event_stream(request)


async def event_stream(request: web.Request) -> web.StreamResponse:
    """Server-sent events of the auctions this router finishes (events.py), until the operator
    hangs up or the router stops; the caller has authenticated them (the console by session)."""
    events = request.app[EVENTS]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # a proxy that buffers would hold the stream back
        }
    )
    await response.prepare(request)
    try:
        with events.listen() as listener:
            await response.write(b": the auctions this router finishes\n\n")
            async for frame in listener.frames(events.keep_alive_s):
                await response.write(frame)
    except ConnectionResetError:
        pass  # the operator hung up: nobody to answer
    return response


async def healthz(request: web.Request) -> web.Response:
    """200 `{"status": "ok"}`; 503 `{"status": "degraded", "store": "unavailable"}` with
    Retry-After while the store is down (new leads get 503 too). The router itself is alive
    either way: a readiness check, not a liveness one. With a ledger, `ledger` says whether its
    database takes rows and how far behind it is (`backlog` records, `lag_s` the oldest's age):
    a ledger that is behind, or down, costs no lead, so it never makes this a 503."""
    writer = request.app.get(LEDGER_WRITER)
    ledger = None
    if writer is not None:
        status = await writer.current_status()
        ledger = {"up": status.up, "backlog": status.backlog, "lag_s": status.lag_s}
    if await request.app[STORE].healthy():
        return json_response({"status": "ok"} | ({"ledger": ledger} if ledger else {}))
    retry = {"Retry-After": str(StoreUnavailable.retry_after_s)}
    body = {"status": "degraded", "store": "unavailable"} | ({"ledger": ledger} if ledger else {})
    return json_response(body, 503, retry)


async def metrics_page(request: web.Request) -> web.Response:
    payload = generate_latest(request.app[METRICS].registry)
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return json_response(openapi_document())


def add_routes(app: web.Application) -> None:
    app.router.add_post("/admin/reload", admin_reload)
    app.router.add_get("/admin/events", admin_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/openapi.json", openapi)


__all__ = [
    "add_routes",
    "admin_events",
    "admin_reload",
    "event_stream",
    "healthz",
    "metrics_page",
    "openapi",
    "refused_detail",
    "reload_config",
]
