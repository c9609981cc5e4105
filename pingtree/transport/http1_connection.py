"""One keep-alive HTTP/1.1 connection of the buyer client (http1.py, whose docstring has what it
guarantees): one exchange at a time, its answer parsed by llhttp (httptools), bounded by the
caller's byte limit, inflated when gzip or deflate; and the errors an exchange ends in.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import cast

import httptools

__all__ = ["AnswerLost", "BadAnswer", "Connection"]

_RETRY_AFTER_MAX = 64  # a date or a number of seconds: anything longer is not one


class AnswerLost(ConnectionResetError):
    """The connection ended (reset, or closed by the buyer) after the request was written and
    before the whole answer arrived: the buyer may have acted on it. A ConnectionResetError, so
    a ping on a stale keep-alive connection is still retried once on a fresh one. `status`: the
    answer's, when its status line had arrived."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BadAnswer(Exception):
    """The buyer's answer broke HTTP, its encoding or the size limit; `status` when its status
    line had arrived. `sent`: False when the request could not even be written (a bad URL or
    header), so the buyer saw nothing."""

    def __init__(self, message: str, status: int | None = None, *, sent: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.sent = sent


class Connection(asyncio.Protocol):
    """One keep-alive connection; one exchange at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._limit = 0
        self._status: int | None = None
        self._body: list[bytes] = []
        self._size = 0
        self._encoding = b""
        self._close_after = False
        self._headers_done = False
        self._length_known = False
        # The one answer header a caller sees: deliveries honour it on 429 and 503.
        self.retry_after: str | None = None

    # asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport, but they are ones.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._parser is None:  # bytes nobody asked for: this connection cannot be trusted
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            # httptools wraps an exception raised by a callback: the cause says what it was.
            cause = exc.__context__
            if isinstance(cause, BadAnswer):
                self._fail(cause)
            else:
                self._fail(BadAnswer(f"not valid HTTP: {exc}", self._status_read()))

    def eof_received(self) -> bool | None:
        # An answer without a length ends with the connection (HTTP/1.0 style).
        if self._waiter is not None and self._headers_done and not self._length_known:
            self.on_message_complete()
            self._close_after = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        # A waiter exists from the moment the request is written until its answer is whole.
        self._fail(AnswerLost("the buyer closed the connection", self._status_read()))

    # httptools callbacks --------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._waiter is None:  # a second answer to one request: the stream is out of step
            raise BadAnswer("more than one answer to a request")

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"content-length":
            self._length_known = True
            if value.strip().isdigit() and int(value) > self._limit:
                # The status line is in: with it, a caller judges this answer as it would the
                # same body sent chunked (cut off at the limit), not as one with no head.
                raise BadAnswer(
                    f"body of {int(value)} bytes is over the {self._limit} byte limit",
                    self._status_read(),
                )
        elif lowered == b"transfer-encoding":
            self._length_known = True
        elif lowered == b"content-encoding":
            self._encoding = value.strip().lower()
        elif lowered == b"retry-after":
            self.retry_after = value.strip()[:_RETRY_AFTER_MAX].decode("latin-1")

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        self._status = self._parser.get_status_code()
        self._headers_done = True
        self._close_after = not self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._limit:
            raise BadAnswer(f"body over the {self._limit} byte limit", self._status)
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        self._parser = None
        if waiter is None or waiter.done() or self._status is None:
            return
        try:
            waiter.set_result((self._status, self._decoded(b"".join(self._body))))
        except BadAnswer as exc:
            waiter.set_exception(exc)
            self._close_after = True

    # the exchange ---------------------------------------------------------------------------

    def _status_read(self) -> int | None:
        """The answer's status once its status line is read, before its headers are complete:
        an answer that breaks down in its headers still says whether it began as a 2xx."""
        if self._status is not None:
            return self._status
        status = self._parser.get_status_code() if self._parser is not None else 0
        return status or None

    def _decoded(self, body: bytes) -> bytes:
        if self._encoding in (b"", b"identity"):
            return body
        if self._encoding not in (b"gzip", b"deflate"):
            raise BadAnswer(
                f"unsupported Content-Encoding {self._encoding.decode('latin-1')}", self._status
            )
        inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, detected
        try:
            inflated = inflater.decompress(body, self._limit + 1)
        except zlib.error:
            raise BadAnswer("body does not decompress", self._status) from None
        if len(inflated) > self._limit:
            raise BadAnswer(f"decompressed body over the {self._limit} byte limit", self._status)
        return inflated

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, head: bytes, body: bytes, limit: int) -> tuple[int, bytes]:
        assert self.transport is not None and self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._limit, self._status, self._body, self._size = limit, None, [], 0
        self.retry_after = None
        self._encoding, self._close_after, self._headers_done, self._length_known = (
            b"",
            False,
            False,
            False,
        )
        self.transport.write(b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body))
        return await self._waiter

    @property
    def reusable(self) -> bool:
        return not (self.closed or self._close_after or self._parser is not None)
