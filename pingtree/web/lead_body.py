"""The body of `POST /v1/leads`: read within router.max_body_kb and router.client_timeout_ms,
inflated when it says gzip or deflate, parsed as JSON or form fields, and refused when it is
ambiguous rather than guessed at.

pingtree inflates bodies itself, not aiohttp: `HANDLER_ARGS` (the app's handler_args, which every
runner applies) turns aiohttp's decompression off. pingtree's own inflater counts the limit
after decompression (a zip bomb is a 413 after max_body_kb of output, never inflated further),
and a body that does not inflate is a 400 at DEBUG; aiohttp's would leave the error on the
request's stream, where aiohttp itself reads it again after the answer and logs it at ERROR.
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import CIMultiDictProxy

from pingtree.core import jsonenc
from pingtree.core.errors import (
    BadRequest,
    ClientClosed,
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedEncoding,
)

log = logging.getLogger(__name__)

HANDLER_ARGS: Final[Mapping[str, Any]] = {"auto_decompress": False}

JSON_TYPES = ("application/json", "text/json")
FORM_TYPE = "application/x-www-form-urlencoded"

# Content codings pingtree inflates (x-gzip is gzip, RFC 9110 §8.4.1.3), with zlib's wbits.
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
ACCEPTED_ENCODINGS = "gzip, deflate"
_NAMED_AT_MOST = 40  # characters of an unsupported Content-Encoding quoted back


def media_type(headers: CIMultiDictProxy[str]) -> str:
    """The body's media type (`type/subtype`, lower case) from Content-Type, parameters left out;
    `application/octet-stream` without one, as HTTP says. Read here rather than through aiohttp's
    `content_type`, whose parser (the standard library's email one) raises IndexError on a
    parameter such as `a*` with no value: a seller's malformed header is a 415, not a 500."""
    raw = headers.get("Content-Type")
    if raw is None:
        return "application/octet-stream"
    return raw.split(";", 1)[0].strip().lower()


def is_lead_type(content_type: str) -> bool:
    return content_type in JSON_TYPES or content_type.endswith("+json") or content_type == FORM_TYPE


def content_coding(headers: CIMultiDictProxy[str]) -> str | None:
    """The body's content coding, gzip or deflate; None for none (or identity). Anything else,
    a list of codings included, is an UnsupportedEncoding (415) naming it: a body pingtree cannot
    decode is never read as if it were plain."""
    said = ", ".join(headers.getall("Content-Encoding", []))
    codings = [c for c in (part.strip().lower() for part in said.split(",")) if c]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in _WBITS:
        return codings[0]
    named = said.strip()
    if len(named) > _NAMED_AT_MOST:
        named = named[:_NAMED_AT_MOST] + "…"
    raise UnsupportedEncoding(
        f"Content-Encoding {named!r} is not supported: send the body plain, gzip or deflate",
        fields={"Content-Encoding": "unsupported"},
    )


class _Inflater:
    """One gzip or deflate body inflated as it arrives, never past `limit` bytes of output."""

    def __init__(self, coding: str, limit: int) -> None:
        self._coding = coding
        self._limit = limit
        self._size = 0
        self._zlib: Any = None

    def feed(self, chunk: bytes) -> bytes:
        if self._zlib is None:
            wbits = _WBITS[self._coding]
            if self._coding == "deflate" and chunk[0] & 0x0F != 8:
                wbits = -zlib.MAX_WBITS  # raw deflate, without zlib's header, as many clients send
            self._zlib = zlib.decompressobj(wbits)
        elif self._zlib.eof:
            raise BadRequest(f"bytes after the end of the {self._coding} data")
        try:
            out: bytes = self._zlib.decompress(chunk, self._limit - self._size + 1)
        except zlib.error:
            raise BadRequest(f"the body is not valid {self._coding} data") from None
        self._size += len(out)
        if self._size > self._limit:
            raise PayloadTooLarge(f"the body is over {self._limit // 1024} KB once inflated")
        if self._zlib.unused_data:
            raise BadRequest(f"bytes after the end of the {self._coding} data")
        return out

    def finish(self) -> None:
        if self._zlib is not None and not self._zlib.eof:
            raise BadRequest(f"the {self._coding} data is truncated")


async def read_body(request: web.Request, limit: int, timeout_s: float) -> bytes:
    """The whole body, inflated, within `limit` bytes sent and inflated and within `timeout_s`
    (router.client_timeout_ms): a client that stalls mid-body gets 408, one that hangs up is its
    own doing (logged at DEBUG)."""
    coding = content_coding(request.headers)
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is over {limit // 1024} KB")
    inflater = _Inflater(coding, limit) if coding is not None else None
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.content.iter_any():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"the body is over {limit // 1024} KB")
                chunks.append(chunk if inflater is None else inflater.feed(chunk))
    except TimeoutError:
        raise RequestTimeout(
            f"the body did not arrive within {timeout_s * 1000:.0f} ms (router.client_timeout_ms)"
        ) from None
    except web.RequestPayloadError:
        raise BadRequest("the body could not be read (bad framing)") from None
    except ConnectionError:
        log.debug("a client hung up mid-body on %s", request.path)
        raise ClientClosed("the client closed the connection before its body was read") from None
    if inflater is not None:
        inflater.finish()
    return b"".join(chunks)


def decode_lead_body(content_type: str, body: bytes) -> dict[str, Any]:
    """The lead's fields from a JSON object or a form. A name given twice is a 400 naming it:
    `{"tcpa_consent": false, "tcpa_consent": true}` means nothing certain, and a parser's
    choice (orjson keeps the last) must not decide whether a consumer consented."""
    if content_type != FORM_TYPE:
        try:
            decoded = jsonenc.loads(body)
        except jsonenc.JSONDecodeError:
            raise BadRequest("the body is not valid JSON") from None
        if not isinstance(decoded, dict):
            raise BadRequest("the body must be a JSON object of lead fields")
        _refuse_repeated_keys(body, decoded)
        return decoded
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the body is not valid form encoding") from None
    form: dict[str, Any] = {}
    for name, value in pairs:
        if name in form:
            raise _repeated(name, "field")
        form[name] = value if value != "" else None
    return form


def _repeated(name: str, what: str) -> BadRequest:
    shown = name[:64]
    return BadRequest(f"{what} {shown!r} appears more than once", fields={shown: "repeated"})


def _refuse_repeated_keys(body: bytes, decoded: dict[str, Any]) -> None:
    """BadRequest naming a key given twice in one object, at any depth.

    The cheap proof first (2-3 µs for a typical lead): every member of a JSON text
    has one colon of its own, and any other colon is inside a string. Written again by orjson,
    the decoded lead has as many colons as the body, unless a repeated key was dropped (with its
    member's colon, and those of its strings) or the body spelled a colon `\\u003a` (the one
    other way to write one). Only then is the body parsed again, with every object's pairs."""
    if b"\\u" not in body:
        try:
            if jsonenc.dumps(decoded).count(b":") == body.count(b":"):
                return
        except jsonenc.JSONEncodeError:  # nested deeper than orjson writes: the long way
            pass
    try:
        json.loads(body, object_pairs_hook=_object_without_repeats)
    except RecursionError:
        raise BadRequest("the body is nested too deeply") from None


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) < len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _repeated(name, "key")
            seen.add(name)
    return found
