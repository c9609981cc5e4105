"""A small HTTP/1.1 client for buyer calls: POST a body, read a bounded answer, keep the connection.

Why not aiohttp's ClientSession (which the seller side still uses as a server): a lead costs a
dozen buyer calls, and aiohttp's client spends most of the router's CPU on features a buyer call
never uses (cookies, redirects, proxies, tracing, multipart, per-request header merging). This
client writes one pre-built request head per URL, parses answers with llhttp (httptools), pools
keep-alive connections per host, and nothing else; docs/benchmarks.md has the figures.

What it guarantees, as transport.py did with aiohttp:
- the answer body is never read past `max_bytes` (the declared length is checked first);
- a connection whose exchange did not finish cleanly (timeout, cancel, error, `Connection: close`)
  is closed, never reused;
- redirects are answers like any other (the caller treats a 3xx as an error);
- `Accept-Encoding: identity` is asked; a gzip or deflate answer anyway is inflated within the cap;
- https is verified, hostname included, against the system store or, for a buyer whose config
  names a CA bundle, against that bundle alone; connections verified under one trust are pooled
  apart from the others, so a reload that changes a buyer's CA never reuses an old connection.
Errors are OSError (connection) or `BadAnswer` (protocol, size); transport.py translates them.
A connection lost once the request was written is `AnswerLost`: the buyer may have acted on it.
Both carry the status when one had come back, and `BadAnswer` whether the request had gone out:
a post's broken answer that may hide a yes (a 2xx, or no status at all) is told from a no.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

# The connection's errors are this client's: importable from here (transport/client.py does).
from pingtree.transport.http1_connection import AnswerLost as AnswerLost
from pingtree.transport.http1_connection import BadAnswer as BadAnswer
from pingtree.transport.http1_connection import Connection

_IDLE_S = 4.0  # below the keep-alive timeout of most servers (Node's is 5 s)
_MAX_IDLE_PER_HOST = 256
_MAX_TRUSTS = 1000  # CA bundles come from buyers.yaml: few


@dataclass(frozen=True, slots=True)
class Target:
    host: str
    port: int
    tls: bool
    head: bytes  # request line and headers up to (not including) Content-Length


# A pool: one origin under one trust (None for plain http).
PoolKey = tuple[str, int, ssl.SSLContext | None]


def target_of(url: str, user_agent: str) -> Target:
    """A native-protocol URL's pool key and pre-built head (a JSON POST)."""
    host, port, tls, host_header, path = _split(url)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {user_agent}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
        "Accept-Encoding: identity\r\n"
    ).encode("latin-1")
    return Target(host, port, tls, head)


def head_of(
    method: str, url: str, headers: Sequence[tuple[str, str]], user_agent: str
) -> tuple[Target, bytes]:
    """A buyer dialect's request head, built per call: its method, its URL with the query of this
    lead, its own headers (config validated their names; values hold no line breaks)."""
    host, port, tls, host_header, path = _split(url)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host_header}", f"User-Agent: {user_agent}"]
    names = {name.lower() for name, _ in headers}
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: identity")
    for name, value in headers:
        if "\r" in value or "\n" in value:
            raise BadAnswer(f"header {name} holds a line break", sent=False)
        lines.append(f"{name}: {value}")
    head = ("\r\n".join(lines) + "\r\n").encode("utf-8")
    return Target(host, port, tls, b""), head


def _split(url: str) -> tuple[str, int, bool, str, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadAnswer(f"not an http(s) URL: {parts.scheme}://", sent=False)
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname, port, tls, host_header, path


class Http1Client:
    """Keep-alive pools per host. Not thread-safe; one per event loop."""

    def __init__(self, user_agent: str = "pingtree") -> None:
        self._user_agent = user_agent
        self._targets: dict[str, Target] = {}
        self._idle: dict[PoolKey, deque[Connection]] = {}
        self._system_trust = ssl.create_default_context()
        self._trusts: dict[str, ssl.SSLContext] = {}

    def trust(self, ca_pem: str | None) -> ssl.SSLContext:
        """The context that verifies a buyer: the system store, or only the CAs of `ca_pem` (one
        context per bundle, built once: the same text after a reload finds the same context)."""
        if ca_pem is None:
            return self._system_trust
        context = self._trusts.get(ca_pem)
        if context is None:
            context = ssl.create_default_context(cadata=ca_pem)
            if len(self._trusts) < _MAX_TRUSTS:
                self._trusts[ca_pem] = context
        return context

    def _target(self, url: str) -> Target:
        target = self._targets.get(url)
        if target is None:
            target = target_of(url, self._user_agent)
            if len(self._targets) < 10_000:  # URLs come from buyers.yaml: few
                self._targets[url] = target
        return target

    def _take_idle(self, key: PoolKey) -> Connection | None:
        pool = self._idle.get(key)
        now = time.monotonic()
        while pool:
            connection = pool.pop()
            if not connection.closed and now - connection.idle_since < _IDLE_S:
                return connection
            connection.close()
        return None

    async def _connect(self, target: Target, context: ssl.SSLContext | None) -> Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            Connection,
            target.host,
            target.port,
            ssl=context,
            server_hostname=target.host if context is not None else None,
        )
        return connection

    async def post(
        self,
        url: str,
        body: bytes,
        max_bytes: int,
        *,
        retry_stale: bool = False,
        ca_pem: str | None = None,
    ) -> tuple[int, bytes]:
        """POST `body` as JSON to a native buyer; (status, body). A reused connection that the
        server had closed is retried once on a new one when `retry_stale` (only for calls that
        change nothing: pings). `ca_pem`: the CA bundle an https buyer is verified against, in
        place of the system store."""
        target = self._target(url)
        status, payload, _ = await self._exchange(
            target, target.head, body, max_bytes, retry_stale, ca_pem
        )
        return status, payload

    async def request(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        max_bytes: int,
        *,
        retry_stale: bool = False,
        ca_pem: str | None = None,
    ) -> tuple[int, bytes, str | None]:
        """Any method, any headers: a buyer dialect's call (config/dialect.py), or a delivery;
        (status, body, the answer's Retry-After or None)."""
        target, head = head_of(method, url, headers, self._user_agent)
        return await self._exchange(target, head, body, max_bytes, retry_stale, ca_pem)

    async def _exchange(
        self,
        target: Target,
        head: bytes,
        body: bytes,
        max_bytes: int,
        retry_stale: bool,
        ca_pem: str | None,
    ) -> tuple[int, bytes, str | None]:
        context = self.trust(ca_pem) if target.tls else None
        key: PoolKey = (target.host, target.port, context)
        connection = self._take_idle(key)
        reused = connection is not None
        if connection is None:
            connection = await self._connect(target, context)
        try:
            status, payload = await connection.exchange(head, body, max_bytes)
        except ConnectionResetError:
            connection.close()
            if not (reused and retry_stale):
                raise
            return await self._exchange(target, head, body, max_bytes, False, ca_pem)
        except BaseException:
            connection.close()  # cancelled or failed mid-exchange: the stream is out of step
            raise
        if connection.reusable:
            connection.idle_since = time.monotonic()
            pool = self._idle.setdefault(key, deque())
            if len(pool) < _MAX_IDLE_PER_HOST:
                pool.append(connection)
            else:
                connection.close()
        else:
            connection.close()
        # Read before any other await: the connection may serve another exchange after that.
        return status, payload, connection.retry_after

    async def close(self) -> None:
        for pool in self._idle.values():
            for connection in pool:
                connection.close()
        self._idle.clear()
