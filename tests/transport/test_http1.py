"""The lean HTTP/1.1 client against raw loopback servers that answer byte for byte what a buyer's
server might: chunked, length-less, compressed, closing, garbage, too large, too slow."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from pingtree.transport.http1 import BadAnswer, Http1Client

Answer = Callable[[bytes], Awaitable[bytes | None]]  # request bytes → raw answer (None: hang)


class RawServer:
    """Reads one request head+body at a time and writes back what `answer` returns."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/ping"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                raw = await self.answer(request)
                if raw is None:
                    await asyncio.sleep(3600)
                if raw == b"":  # close without answering, as a server timing out an idle socket
                    break
                writer.write(raw)
                await writer.drain()
                if b"connection: close" in raw.lower() or raw.startswith(b"HTTP/1.0"):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()


def fixed(raw: bytes) -> Answer:
    async def answer(request: bytes) -> bytes:
        return raw

    return answer


OK = b'{"accepted": true, "bid": 12.5}'


def http(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Answer], Awaitable[tuple[RawServer, str]]]]:
    servers: list[RawServer] = []

    async def start(answer: Answer) -> tuple[RawServer, str]:
        server = RawServer(answer)
        servers.append(server)
        return server, await server.start()

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def client() -> AsyncIterator[Http1Client]:
    made = Http1Client()
    yield made
    await made.close()


@pytest.mark.parametrize(
    "raw",
    [
        http(OK),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n0\r\n\r\n" % (len(OK), OK),
        b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
        + OK,  # ends with the connection
        http(gzip.compress(OK), "Content-Encoding: gzip"),
    ],
    ids=["content-length", "chunked", "read-until-close", "gzip"],
)
async def test_every_way_of_framing_an_answer_gives_the_same_body(serve, client, raw) -> None:
    _, url = await serve(fixed(raw))
    assert await client.post(url, b"{}", 1024) == (200, OK)


async def test_the_request_is_a_plain_json_post(serve, client) -> None:
    server, url = await serve(fixed(http(OK)))
    await client.post(url + "?key=abc", b'{"ping_id": "pg_1"}', 1024)
    request = server.requests[0]
    assert request.startswith(b"POST /ping?key=abc HTTP/1.1\r\n")
    for header in (b"Host: 127.0.0.1:", b"Content-Type: application/json", b"Content-Length: 19"):
        assert header in request
    assert request.endswith(b'\r\n\r\n{"ping_id": "pg_1"}')


async def test_a_kept_alive_connection_is_reused(serve, client) -> None:
    server, url = await serve(fixed(http(OK)))
    for _ in range(5):
        assert await client.post(url, b"{}", 1024) == (200, OK)
    assert server.connections == 1 and len(server.requests) == 5


async def test_connection_close_is_honoured(serve, client) -> None:
    server, url = await serve(fixed(http(OK, "Connection: close")))
    for _ in range(3):
        assert await client.post(url, b"{}", 1024) == (200, OK)
    assert server.connections == 3


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (http(b"x" * 2000), "over the 1024 byte limit"),
        (
            http(b"x" * 2000, "Transfer-Encoding: chunked").replace(
                b"\r\n\r\n", b"\r\n\r\n7d0\r\n", 1
            )
            + b"\r\n0\r\n\r\n",
            "over the 1024",
        ),
        (http(gzip.compress(b"x" * 100_000), "Content-Encoding: gzip"), "decompressed body over"),
        (http(OK, "Content-Encoding: br"), "unsupported Content-Encoding"),
        (b"<html>this is not HTTP</html>\r\n\r\n", "not valid HTTP"),
    ],
    ids=["declared-too-large", "chunked-too-large", "gzip-bomb", "brotli", "not-http"],
)
async def test_a_bad_answer_is_refused_and_its_connection_dropped(
    serve, client, raw, message
) -> None:
    server, url = await serve(fixed(raw))
    with pytest.raises(BadAnswer, match=message):
        await client.post(url, b"{}", 1024)
    with pytest.raises(BadAnswer):
        await client.post(url, b"{}", 1024)
    assert server.connections == 2  # never reused after a bad exchange


@pytest.mark.parametrize("framing", ["declared", "chunked"])
async def test_an_answer_over_the_limit_says_its_status_however_it_is_framed(
    serve, client, framing
) -> None:
    """A caller that judges by the status (a delivery: 2xx is delivered) must get it whether the
    size is declared up front or found out as the body comes."""
    body = b"x" * 2000
    raw = http(body, status="201 Created")
    if framing == "chunked":
        raw = http(body, "Transfer-Encoding: chunked", status="201 Created")
        raw = raw.replace(b"\r\n\r\n", b"\r\n\r\n7d0\r\n", 1) + b"\r\n0\r\n\r\n"
    _, url = await serve(fixed(raw))
    with pytest.raises(BadAnswer, match="over the 1024") as refused:
        await client.post(url, b"{}", 1024)
    assert refused.value.status == 201


async def test_a_cancelled_exchange_closes_its_connection(serve, client) -> None:
    calls = 0

    async def first_hangs(request: bytes) -> bytes | None:
        nonlocal calls
        calls += 1
        return None if calls == 1 else http(OK)

    server, url = await serve(first_hangs)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await client.post(url, b"{}", 1024)
    assert await client.post(url, b"{}", 1024) == (200, OK)
    assert server.connections == 2  # the half-done exchange's socket was not reused


@pytest.mark.parametrize("retry_stale", [True, False], ids=["ping: retried", "post: not retried"])
async def test_a_connection_the_buyer_closed_unseen(serve, client, retry_stale) -> None:
    """The second request on a kept-alive socket meets a server that has just closed it."""
    calls = 0

    async def drops_the_second(request: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return b"" if calls == 2 else http(OK)

    server, url = await serve(drops_the_second)
    assert await client.post(url, b"{}", 1024) == (200, OK)
    if retry_stale:
        assert await client.post(url, b"{}", 1024, retry_stale=True) == (200, OK)
        assert server.connections == 2 and calls == 3
    else:
        with pytest.raises(ConnectionResetError):
            await client.post(url, b"{}", 1024)
        assert calls == 2  # a post that may have been seen is never sent twice


async def test_connection_refused_is_an_os_error(client) -> None:
    with pytest.raises(OSError):
        await client.post("http://127.0.0.1:9/ping", b"{}", 1024)


async def test_a_second_unasked_answer_is_never_taken_for_the_next_one(serve, client) -> None:
    """A buyer that answers twice: the extra answer must not become the next call's answer."""
    calls = 0

    async def answers_twice(request: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return http(OK) + http(b'{"accepted": true, "bid": 999}')

    server, url = await serve(answers_twice)
    assert await client.post(url, b"{}", 1024) == (200, OK)
    assert await client.post(url, b"{}", 1024) == (200, OK)
    assert server.connections == 2  # the out-of-step socket was dropped, not reused
