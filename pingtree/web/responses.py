"""Every answer is JSON, errors too: `{"error": code, "detail": …, "fields": {path: message}}`
with the status its exception carries. `errors_as_json` is the app's one middleware: whatever a
route raises leaves as that body, and nothing a client sends can produce a 500."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pingtree.core import jsonenc
from pingtree.core.errors import ClientClosed, PingtreeError, RequestTimeout, UnsupportedEncoding
from pingtree.web.keys import METRICS
from pingtree.web.lead_body import ACCEPTED_ENCODINGS

log = logging.getLogger(__name__)

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


__all__ = ["Handler", "error_response", "errors_as_json", "json_response"]
