"""The operator API (DESIGN §6): `GET /admin/leads/{id}` (the operator's view, with the trace)
and `POST /admin/reload` behind `router.admin_token`; `/healthz`, `/metrics` and
`/openapi.json`, which need no key. The deliveries' operator routes are deliveries_admin.py's."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pingtree.core.errors import ConfigError, NotFound, StoreUnavailable
from pingtree.core.outcome import operator_view
from pingtree.web.auth import authenticate_operator
from pingtree.web.keys import METRICS, RELOADER, STORE
from pingtree.web.openapi import openapi_document
from pingtree.web.responses import json_response


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


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/leads/{id}", admin_get_lead)
    app.router.add_post("/admin/reload", admin_reload)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_get("/openapi.json", openapi)


__all__ = ["add_routes", "admin_get_lead", "admin_reload", "healthz", "metrics_page", "openapi"]
