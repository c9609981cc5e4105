"""The one outbound HTTP client: deadlines, size limits, error translation.

Client exceptions stop here: callers get a `Response` or a `BuyerCallFailed` child. The deadline
covers connect, headers and the whole body, so a buyer that trickles its answer a byte at a time is
cut off like one that hangs. Redirects are not followed: a buyer's 3xx is an http_error.
`HttpTransport` speaks through the lean client of http1.py (why not aiohttp's client: see there).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from pingtree.errors import BadBuyerResponse, BuyerCallFailed, BuyerHTTPError, BuyerTimeout
from pingtree.http1 import BadAnswer, Http1Client

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    duration_ms: float


class Transport(Protocol):
    async def post(
        self, url: str, body: bytes, *, timeout_s: float, max_bytes: int, idempotent: bool = False
    ) -> Response:
        """POST `body`; `idempotent` (a ping) lets a call that met a connection the buyer had
        closed be retried once on a fresh one."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class HttpTransport:
    """Keep-alive connections pooled per buyer host, through the lean client of http1.py."""

    def __init__(self) -> None:
        self._client: Http1Client | None = None

    async def start(self) -> None:
        if self._client is None:
            self._client = Http1Client()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def post(
        self, url: str, body: bytes, *, timeout_s: float, max_bytes: int, idempotent: bool = False
    ) -> Response:
        if self._client is None:
            await self.start()
        assert self._client is not None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                status, payload = await self._client.post(
                    url, body, max_bytes, retry_stale=idempotent
                )
        except TimeoutError:
            raise BuyerTimeout(f"no answer within {timeout_s * 1000:.0f} ms") from None
        except BadAnswer as exc:
            raise BadBuyerResponse(str(exc), http_status=exc.status) from None
        except OSError as exc:
            raise BuyerHTTPError(f"connection failed: {type(exc).__name__}") from None
        return Response(status, payload, (time.perf_counter() - started) * 1000)


@dataclass(frozen=True, slots=True)
class Call:
    """One buyer call that never raises: the response or the failure, and the trace's timing."""

    outcome: Response | BuyerCallFailed
    timing: Mapping[str, int | None]


async def call(
    transport: Transport,
    url: str,
    body: bytes,
    timeout_s: float,
    max_bytes: int,
    *,
    idempotent: bool = False,
) -> Call:
    try:
        response = await transport.post(
            url, body, timeout_s=timeout_s, max_bytes=max_bytes, idempotent=idempotent
        )
    except BuyerCallFailed as exc:
        waited = int(timeout_s * 1000) if isinstance(exc, BuyerTimeout) else None
        return Call(exc, {"http_status": exc.http_status, "duration_ms": waited})
    return Call(
        response, {"http_status": response.status, "duration_ms": int(response.duration_ms)}
    )


Handler = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]


class MockTransport:
    """For tests of the router without sockets: `handler(url, body) → (status, body)`; a handler
    may raise a BuyerCallFailed child or sleep past the timeout."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def post(
        self, url: str, body: bytes, *, timeout_s: float, max_bytes: int, idempotent: bool = False
    ) -> Response:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                status, payload = await self._handler(url, body)
        except TimeoutError:
            raise BuyerTimeout(f"no answer within {timeout_s * 1000:.0f} ms") from None
        if len(payload) > max_bytes:
            raise BadBuyerResponse(f"body over the {max_bytes} byte limit", http_status=status)
        return Response(status, payload, (time.perf_counter() - started) * 1000)
