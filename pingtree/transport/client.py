"""The one outbound HTTP client: deadlines, size limits, error translation.

Client exceptions stop here: callers get a `Response` or a `BuyerCallFailed` child. The deadline
covers connect, headers and the whole body, so a buyer that trickles its answer a byte at a time is
cut off like one that hangs. A connection that ends after the request went out and before the
whole answer is `BuyerAnswerLost` (the buyer may have acted on it), unless a status other than
a 2xx had come back (a no: `BuyerHTTPError`); an answer that breaks HTTP, its encoding or the size
limit once the request was out is `BuyerAnswerUnreadable` when it began as a 2xx or with no status
(it may hide a yes), else `BadBuyerResponse`. Redirects are not followed: a
buyer's 3xx is an http_error. An https buyer is verified against the system store, or against the
CA bundle its endpoint's `tls` names; a certificate refused is an http_error whose detail says why
(`TLS certificate refused: …`). `HttpTransport` speaks through the lean client of http1.py (why
not aiohttp's client: see there).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from pingtree.config.models import TLS
from pingtree.core.errors import (
    BadBuyerResponse,
    BuyerAnswerLost,
    BuyerAnswerUnreadable,
    BuyerCallFailed,
    BuyerHTTPError,
    BuyerTimeout,
)
from pingtree.transport.http1 import AnswerLost, BadAnswer, Http1Client

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    duration_ms: float
    retry_after: str | None = None  # the answer's Retry-After (send() only): deliveries use it


@dataclass(frozen=True, slots=True)
class Request:
    """A buyer dialect's call (codec/request.py builds it); native calls skip it for speed."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


class Transport(Protocol):
    async def post(
        self,
        url: str,
        body: bytes,
        *,
        timeout_s: float,
        max_bytes: int,
        idempotent: bool = False,
        tls: TLS | None = None,
    ) -> Response:
        """POST `body` as JSON (the native protocol); `idempotent` (a ping) lets a call that met a
        connection the buyer had closed be retried once on a fresh one; `tls` (the endpoint's)
        names the CA bundle an https buyer is verified against instead of the system store."""

    async def send(
        self,
        request: Request,
        *,
        timeout_s: float,
        max_bytes: int,
        idempotent: bool = False,
        tls: TLS | None = None,
    ) -> Response:
        """Any method and headers: a buyer that speaks its own dialect."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...


Exchange = Callable[[], Awaitable[tuple[int, bytes] | tuple[int, bytes, str | None]]]


async def _timed(exchange: Exchange, timeout_s: float) -> Response:
    """One call under its deadline, its failures translated (BuyerCallFailed children)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(max(timeout_s, 0.0)):
            answer = await exchange()
    except TimeoutError:
        raise BuyerTimeout(f"no answer within {timeout_s * 1000:.0f} ms") from None
    except BadAnswer as exc:
        raise _unreadable(exc) from None
    except ssl.SSLCertVerificationError as exc:  # OpenSSL's words: no secret, no lead data
        raise BuyerHTTPError(f"TLS certificate refused: {exc.verify_message}") from None
    except ssl.SSLError as exc:
        raise BuyerHTTPError(f"TLS handshake failed: {exc.reason or type(exc).__name__}") from None
    except AnswerLost as exc:
        raise _lost(exc.status) from None
    except OSError as exc:
        raise BuyerHTTPError(f"connection failed: {type(exc).__name__}") from None
    retry_after = answer[2] if len(answer) == 3 else None
    return Response(answer[0], answer[1], (time.perf_counter() - started) * 1000, retry_after)


def _is_2xx(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def _unreadable(exc: BadAnswer) -> BadBuyerResponse:
    """A broken answer. Once the request was out, one that began as a 2xx, or before any status
    line, may hide a yes: BuyerAnswerUnreadable. Any other status was a no, whatever followed."""
    if exc.sent and (exc.status is None or _is_2xx(exc.status)):
        return BuyerAnswerUnreadable(str(exc), http_status=exc.status)
    return BadBuyerResponse(str(exc), http_status=exc.status)


def _lost(status: int | None) -> BuyerHTTPError:
    """The connection ended once the request was out, before a whole answer."""
    if status is not None and not _is_2xx(status):
        return BuyerHTTPError(f"HTTP {status}, then the connection failed", http_status=status)
    return BuyerAnswerLost(
        "connection failed after the request was sent: ConnectionResetError", http_status=status
    )


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

    def _started(self) -> Http1Client:
        if self._client is None:
            self._client = Http1Client()
        return self._client

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        timeout_s: float,
        max_bytes: int,
        idempotent: bool = False,
        tls: TLS | None = None,
    ) -> Response:
        client = self._started()
        ca_pem = None if tls is None else tls.ca_pem
        return await _timed(
            lambda: client.post(url, body, max_bytes, retry_stale=idempotent, ca_pem=ca_pem),
            timeout_s,
        )

    async def send(
        self,
        request: Request,
        *,
        timeout_s: float,
        max_bytes: int,
        idempotent: bool = False,
        tls: TLS | None = None,
    ) -> Response:
        client = self._started()
        ca_pem = None if tls is None else tls.ca_pem
        return await _timed(
            lambda: client.request(
                request.method,
                request.url,
                request.headers,
                request.body,
                max_bytes,
                retry_stale=idempotent,
                ca_pem=ca_pem,
            ),
            timeout_s,
        )


@dataclass(frozen=True, slots=True)
class Call:
    """One buyer call that never raises: the response or the failure, and the trace's timing."""

    outcome: Response | BuyerCallFailed
    timing: Mapping[str, int | None]


async def call(
    transport: Transport,
    target: str | Request,
    body: bytes,
    timeout_s: float,
    max_bytes: int,
    *,
    idempotent: bool = False,
    tls: TLS | None = None,
) -> Call:
    """A native POST of `body` to a URL, or a dialect's `Request` (its own body; `body` unused);
    `tls`: the endpoint's, when it names the CA bundle its https certificate is checked against."""
    try:
        if isinstance(target, Request):
            response = await transport.send(
                target, timeout_s=timeout_s, max_bytes=max_bytes, idempotent=idempotent, tls=tls
            )
        else:
            response = await transport.post(
                target,
                body,
                timeout_s=timeout_s,
                max_bytes=max_bytes,
                idempotent=idempotent,
                tls=tls,
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
        self.requests: list[Request] = []  # dialect calls as sent, for tests to inspect

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        timeout_s: float,
        max_bytes: int,
        idempotent: bool = False,
        tls: TLS | None = None,
    ) -> Response:
        return await _timed(lambda: self._bounded(url, body, max_bytes), timeout_s)

    async def send(
        self,
        request: Request,
        *,
        timeout_s: float,
        max_bytes: int,
        idempotent: bool = False,
        tls: TLS | None = None,
    ) -> Response:
        self.requests.append(request)
        return await _timed(lambda: self._bounded(request.url, request.body, max_bytes), timeout_s)

    async def _bounded(self, url: str, body: bytes, max_bytes: int) -> tuple[int, bytes]:
        status, payload = await self._handler(url, body)
        if len(payload) > max_bytes:
            raise BadAnswer(f"body over the {max_bytes} byte limit", status)
        return status, payload
