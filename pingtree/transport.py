"""The one outbound HTTP client: deadlines, size limits, error translation.

aiohttp exceptions stop here: callers get a `Response` or a `BuyerCallFailed` child. The deadline
covers connect, headers and the whole body, so a buyer that trickles its answer a byte at a time is
cut off like one that hangs. Redirects are not followed: a buyer's 3xx is an http_error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from pingtree.errors import BadBuyerResponse, BuyerCallFailed, BuyerHTTPError, BuyerTimeout

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    duration_ms: float


class Transport(Protocol):
    async def post(
        self, url: str, body: bytes, *, timeout_s: float, max_bytes: int
    ) -> Response: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class HttpTransport:
    """Pooled keep-alive connections sized for fan-out: every buyer of a tier is pinged at once."""

    def __init__(self, *, max_connections: int = 512, per_host: int = 128) -> None:
        self._max_connections = max_connections
        self._per_host = per_host
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=self._per_host,
                ttl_dns_cache=300,
                enable_cleanup_closed=True,
            )
            # Headers set once on the session: a call adds none of its own (cheaper per request).
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                headers={"User-Agent": "pingtree", **_JSON_HEADERS},
                auto_decompress=True,
                cookie_jar=aiohttp.DummyCookieJar(),  # buyers' cookies mean nothing to us
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, url: str, body: bytes, *, timeout_s: float, max_bytes: int) -> Response:
        if self._session is None:
            await self.start()
        assert self._session is not None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                async with self._session.post(url, data=body, allow_redirects=False) as answer:
                    payload = await _read_capped(answer, max_bytes)
                    status = answer.status
        except TimeoutError:
            raise BuyerTimeout(f"no answer within {timeout_s * 1000:.0f} ms") from None
        except aiohttp.ClientResponseError as exc:
            raise BuyerHTTPError(f"HTTP error: {exc.message}", http_status=exc.status) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise BuyerHTTPError(f"connection failed: {type(exc).__name__}") from None
        return Response(status, payload, (time.perf_counter() - started) * 1000)


async def _read_capped(answer: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    declared = answer.content_length
    if declared is not None and declared > max_bytes:
        raise BadBuyerResponse(
            f"body of {declared} bytes is over the {max_bytes} byte limit",
            http_status=answer.status,
        )
    if declared is not None and not answer.headers.get("Content-Encoding"):
        return await answer.read()  # the length is known and within the limit: one read
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.content.iter_any():
        size += len(chunk)
        if size > max_bytes:
            raise BadBuyerResponse(
                f"body over the {max_bytes} byte limit", http_status=answer.status
            )
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class Call:
    """One buyer call that never raises: the response or the failure, and the trace's timing."""

    outcome: Response | BuyerCallFailed
    timing: Mapping[str, int | None]


async def call(
    transport: Transport, url: str, body: bytes, timeout_s: float, max_bytes: int
) -> Call:
    try:
        response = await transport.post(url, body, timeout_s=timeout_s, max_bytes=max_bytes)
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

    async def post(self, url: str, body: bytes, *, timeout_s: float, max_bytes: int) -> Response:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                status, payload = await self._handler(url, body)
        except TimeoutError:
            raise BuyerTimeout(f"no answer within {timeout_s * 1000:.0f} ms") from None
        if len(payload) > max_bytes:
            raise BadBuyerResponse(f"body over the {max_bytes} byte limit", http_status=status)
        return Response(status, payload, (time.perf_counter() - started) * 1000)
