"""How the router is served: aiohttp's server, with pingtree's answer to the requests that never
reach the app, and the process's run loop (`pingtree serve`).

aiohttp's HTTP parser refuses a malformed request (a request line or header over 8190 bytes, too
many headers, bad framing, an invalid method, TLS or HTTP/2 on the plain port) before any
middleware runs. Left to itself it answers text/plain and logs the refusal at ERROR with a
traceback quoting the offending bytes, which may hold a seller's key. `JsonErrorHandler` answers
pingtree's JSON error instead (`{"error", "detail", "fields"}`, the detail naming the kind of
fault, never the bytes) and logs it at DEBUG: a client's mistake is not the server's error.

`PingtreeRunner` is aiohttp's AppRunner serving through it; tests that need the server exactly as
`pingtree serve` runs it use it too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import http_exceptions, web
from aiohttp.web_request import BaseRequest

from pingtree.core import jsonenc
from pingtree.web.lead_body import HANDLER_ARGS

log = logging.getLogger(__name__)

# The kind of fault, by parser exception: what a client is told (never the bytes it sent).
_FAULTS: tuple[tuple[type[Exception], str], ...] = (
    (http_exceptions.LineTooLong, "the request line or a header is too long"),
    (
        http_exceptions.BadHttpMethod,
        "not an HTTP/1.1 request (an unknown method, or TLS or HTTP/2 sent to a plain port)",
    ),
    (http_exceptions.BadStatusLine, "the request line is malformed"),
    (http_exceptions.InvalidHeader, "a header is malformed"),
    (http_exceptions.ContentEncodingError, "the body's Content-Encoding cannot be decoded"),
    (
        http_exceptions.PayloadEncodingError,
        "the body's framing is invalid (Content-Length, Transfer-Encoding or a chunk)",
    ),
    (http_exceptions.InvalidURLError, "the request's URL is malformed"),
)
_CODES = {400: "bad_request", 408: "request_timeout", 413: "payload_too_large"}


def _fault(exc: BaseException | None) -> str:
    for kind, words in _FAULTS:
        if isinstance(exc, kind):
            return words
    if isinstance(exc, http_exceptions.BadHttpMessage) and "too many headers" in str(exc).lower():
        return "too many headers"
    return "the request is not valid HTTP/1.1"


class JsonErrorHandler(web.RequestHandler):
    """One connection's protocol, answering its own errors as pingtree's JSON."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            # Only what escaped the app's own error middleware: pingtree's bug, worth a trace.
            log.error("error serving %s %s", request.method, request.path, exc_info=exc)
            body = {"error": "internal", "detail": "internal error", "fields": {}}
        else:
            detail = _fault(exc)
            # The kind of fault only: the message would quote the bytes (maybe a key).
            log.debug("refused a malformed request from %s: %s", request.remote, detail)
            body = {"error": _CODES.get(status, "bad_request"), "detail": detail, "fields": {}}
        if request.writer.output_size > 0:  # a response had begun: nothing more can be said
            raise ConnectionError("the response had begun; the connection is closed")
        response = web.Response(
            body=jsonenc.dumps(body), status=status, content_type="application/json"
        )
        response.force_close()
        return response


class JsonErrorServer(web.Server):
    """aiohttp's Server, whose connections are `JsonErrorHandler`s."""

    def __init__(
        self,
        handler: Any,
        *,
        loop: asyncio.AbstractEventLoop,
        request_factory: Any = None,
        handler_cancellation: bool = False,
        **handler_args: Any,
    ) -> None:
        super().__init__(
            handler,
            request_factory=request_factory,
            handler_cancellation=handler_cancellation,
            loop=loop,
            **handler_args,
        )
        self._handler_loop = loop
        self._handler_args = handler_args

    def __call__(self) -> web.RequestHandler:
        return JsonErrorHandler(self, loop=self._handler_loop, **self._handler_args)


class PingtreeRunner(web.AppRunner):
    """aiohttp's AppRunner (the app's startup and cleanup, its sites), serving through
    `JsonErrorServer`, with the app's own handler args (bodies as sent: lead_body.py)."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        runner_only = ("handle_signals", "shutdown_timeout", "handler_cancellation")
        self._handler_args = {k: v for k, v in kwargs.items() if k not in runner_only}
        self._handler_args.update(HANDLER_ARGS)

    async def _make_server(self) -> web.Server:
        started = await super()._make_server()  # the app started, and aiohttp's server for it
        return JsonErrorServer(
            started.request_handler,
            loop=asyncio.get_running_loop(),
            request_factory=started.request_factory,
            handler_cancellation=started.handler_cancellation,
            **self._handler_args,
        )


def run(
    app: web.Application,
    *,
    host: str,
    port: int,
    loop: asyncio.AbstractEventLoop,
    reuse_port: bool,
    print: Callable[[str], None],
) -> None:
    """Serve `app` until SIGINT or SIGTERM, as `web.run_app` does (keep-alive 75 s, no access
    log, 60 s for the requests under way to finish), through `PingtreeRunner`. OSError when the
    port cannot be bound; whatever a part of the app raised when it could not start (the state
    file's StoreUnavailable...), once the parts started before it are closed."""

    async def serve() -> None:
        runner = PingtreeRunner(
            app, handle_signals=True, access_log=None, keepalive_timeout=75.0, shutdown_timeout=60.0
        )
        try:
            # A part that fails to start raises here; cleanup closes the ones started before it.
            await runner.setup()
            site = web.TCPSite(runner, host, port, reuse_port=reuse_port)
            await site.start()
            print(f"======== Running on {site.name} ========\n(Press CTRL+C to quit)")
            await asyncio.Event().wait()  # until a signal raises GracefulExit
        finally:
            await runner.cleanup()

    asyncio.set_event_loop(loop)
    main = loop.create_task(serve())
    try:
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        if not main.done():  # stopped by a signal: the runner's cleanup runs now
            main.cancel()
            loop.run_until_complete(asyncio.gather(main, return_exceptions=True))
        _cancel_the_rest(loop)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _cancel_the_rest(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
