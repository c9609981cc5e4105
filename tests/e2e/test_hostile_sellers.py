"""Hostile sellers against a real router on loopback: whatever a client sends, never a 5xx, and
every 4xx pingtree answers is JSON `{"error", "detail", "fields"}` naming the problem.

What is tried, and what pingtree does:

- hypothesis: JSON objects of lead fields and random keys with values of every JSON type (deep
  lists and objects, huge integers, long strings), on top of a valid lead or alone: 200 with a
  status, 400, 409 (a random `lead_id` reused with another body) or 422 whose `fields` name only
  fields that were sent (or the required `vertical` / `phone`, or `(body)`).
- hypothesis: random bytes under random content types (JSON, form, XML, multipart, none, junk):
  415 for a type that is neither JSON nor form, 400 for a body that does not decode (bad UTF-8,
  not JSON, not a JSON object, JSON nested past orjson's depth limit), else as above.
- hypothesis: form bodies with repeated fields: 400 naming a repeated field in `fields`.
- hypothesis: odd headers (random `Idempotency-Key` up to 400 characters, X-API-Key and
  Authorization of any Latin-1 text, Content-Encoding that does not match the body): 400 for a
  key over 255 characters or a body that does not decode, 401 for a wrong key, never a 5xx.
- schemathesis against our own `/openapi.json` (OpenAPI 3.1), every operation in positive and
  negative mode, about 30 examples each: no server error, and every answer conforms to the
  document (status code, content type, headers, body schema).
- Body limits: a body declared or streamed (chunked) over `router.max_body_kb` is a 413 JSON.
- Malformed HTTP below the app (a header or request line over aiohttp's 8190 bytes, 150 headers,
  a bad Content-Length, Content-Length with Transfer-Encoding, a bad chunk size, an invalid
  header token or method, an HTTP/2 preface, TLS to the HTTP port): aiohttp's parser refuses it
  before the app sees the request; served as `pingtree serve` serves (pingtree/web/serving.py), the
  answer is a 400 in pingtree's JSON naming the kind of fault, logged at DEBUG without the bytes
  (no ERROR, no header value in any log record).
- Content-Encoding: a body that says gzip or deflate and is not (or is cut short) is a 400, any
  other coding (br, zstd, x-foo) a 415 naming it, a 401 first without a valid key; nothing at
  ERROR and no traceback in the log records, nor on `pingtree serve`'s stderr.
- Slow clients: a client that sends its head and then stalls the body gets a 408 JSON after
  `router.client_timeout_ms`, and the connection is closed; one that hangs up mid-body is a
  client error (`client_closed`, logged at DEBUG), no 5xx counted, nothing logged at ERROR. A
  client that trickles its head is closed by aiohttp's keep-alive timeout (75 s under `pingtree
  serve`) without an answer; not tested here (too slow).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp
import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pingtree.core.lead import KNOWN_FIELDS
from pingtree.web.app import create_app
from pingtree.web.openapi import openapi_document
from pingtree.web.serving import PingtreeRunner
from tests.buyers import BuyerServer
from tests.conftest import (
    ADMIN_TOKEN,
    SELLER_KEY,
    RouterClient,
    config_dict,
    make_buyer,
    make_config,
    sample,
)
from tests.e2e.router_processes import routers

# The router is shared by a test's examples (function-scoped fixture), and a loaded CI machine
# must not turn slowness into a failure: no health check applies here.
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
STATUSES = {"sold", "unsold", "rejected", "pending"}


@pytest.fixture
async def router(buyers: BuyerServer, start_router: Any) -> RouterClient:
    """One router per test, shared by its hypothesis examples: a fixed-price buyer, so a valid
    lead sells without a ping."""
    buyers.set("flat", accept_post=True)
    return await start_router(make_config([make_buyer("flat", buyers, pricing="fixed", price=30)]))


def _valid_lead() -> dict[str, Any]:
    lead = sample("mva-legal")
    lead.pop("lead_id", None)
    return lead


async def _post(
    router: RouterClient, body: bytes, content_type: str | None, headers: dict[str, str]
) -> tuple[int, str, bytes]:
    sent = {"X-API-Key": SELLER_KEY, **headers}
    if content_type is not None:
        sent["Content-Type"] = content_type
    async with router.session.post(
        router.url("/v1/leads"), data=body, headers=sent, skip_auto_headers=["Content-Type"]
    ) as r:
        return r.status, r.headers.get("Content-Type", ""), await r.read()


def well_answered(status: int, content_type: str, body: bytes) -> dict[str, Any]:
    """Never a 5xx; a 2xx is an outcome, a 4xx a JSON error naming the problem."""
    assert status < 500, (status, body[:300])
    assert content_type.startswith("application/json"), (status, content_type, body[:300])
    answer = json.loads(body)
    assert isinstance(answer, dict)
    if status == 200:
        assert answer["status"] in STATUSES, answer
    else:
        assert 400 <= status < 500, status
        assert set(answer) == {"error", "detail", "fields"}, answer
        assert isinstance(answer["error"], str) and answer["error"], answer
        assert isinstance(answer["detail"], str) and answer["detail"], answer
        assert isinstance(answer["fields"], dict), answer
        if status == 422:
            assert answer["fields"], answer  # it names the bad fields
    return answer


class Client(Protocol):
    session: aiohttp.ClientSession

    def url(self, path: str) -> str: ...


async def _no_server_error_counted(router: Client) -> None:
    async with router.session.get(router.url("/metrics")) as r:
        metrics = await r.text()
    errors = re.findall(r'pingtree_http_responses_total\{[^}]*status="5\d\d"[^}]*\} (\S+)', metrics)
    assert all(float(count) == 0 for count in errors), errors
    async with router.session.get(router.url("/healthz")) as r:
        assert r.status == 200


# hypothesis: JSON lead objects -------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", " ", "true", "no", "(305) 555-0123", "FL", "33101", "x" * 600])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
FIELD_NAMES = st.sampled_from(sorted(KNOWN_FIELDS)) | st.text(max_size=70)
LEAD_OBJECTS = st.tuples(st.booleans(), st.dictionaries(FIELD_NAMES, JSON_VALUES, max_size=15)).map(
    lambda pair: {**_valid_lead(), **pair[1]} if pair[0] else pair[1]
)


@FUZZ
@given(lead=LEAD_OBJECTS)
async def test_any_json_object_gets_an_outcome_or_a_json_4xx(
    router: RouterClient, lead: dict[str, Any]
) -> None:
    status, content_type, body = await _post(
        router, json.dumps(lead).encode(), "application/json", {}
    )
    answer = well_answered(status, content_type, body)
    if status == 422:
        named = {"(body)", "(empty)", "vertical", "phone"} | {key[:64] for key in lead}
        assert set(answer["fields"]) <= named, (answer["fields"], sorted(lead))


async def test_no_5xx_was_counted_after_fuzzing(router: RouterClient) -> None:
    for lead in ({}, _valid_lead(), {"phone": {"a": [1, 2]}, "vertical": ["mva"]}):
        await _post(router, json.dumps(lead).encode(), "application/json", {})
    await _no_server_error_counted(router)


# hypothesis: bytes under any content type ---------------------------------------------------------

CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=latin-1",
        "application/vnd.lead+json",
        "text/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "application/xml",
        "multipart/form-data; boundary=xyz",
        "",
        None,
    ]
) | st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30)
BODIES = st.binary(max_size=3000) | st.sampled_from(
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"phone": "\\ud800", "vertical": "mva"}',  # a lone surrogate
        b'{"vertical": "mva", "phone": "3055550123"' + b", " * 10,
        b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
        b"null",
        b"[1, 2]",
        b'"a string"',
        b"vertical=mva&phone=%FF%FE",
        b"vertical=mva&phone=3055550123&vertical=solar",
        b"a=1&&&b",
    ]
)


@pytest.mark.parametrize(
    ("content_type", "status"),
    [("application/json; a*", 200), ("text/plain; x*", 415), (";9w*", 415), ("v,;7jS#*", 415)],
)
async def test_a_content_type_the_email_parser_chokes_on_is_read_not_a_500(
    router: RouterClient, content_type: str, status: int
) -> None:
    # A parameter ending in * with no value made aiohttp's parser (the standard library's email
    # one) raise IndexError: found by the fuzz test below, now a case of its own.
    lead = b'{"vertical": "mva", "phone": "3055550123", "zip": "33101", "lead_id": "ct-1"}'
    answered, answered_type, answer = await _post(router, lead, content_type, {})
    well_answered(answered, answered_type, answer)
    assert answered == status, answer


@FUZZ
@given(body=BODIES, content_type=CONTENT_TYPES)
async def test_any_bytes_under_any_content_type_get_a_json_answer(
    router: RouterClient, body: bytes, content_type: str | None
) -> None:
    status, answered_type, answer = await _post(router, body, content_type, {})
    decoded = well_answered(status, answered_type, answer)
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in ("application/json", "text/json", "application/x-www-form-urlencoded") and (
        not media.endswith("+json")
    ):
        assert (status, decoded["error"]) == (415, "unsupported_media_type"), decoded


FORM_NAMES = st.sampled_from(["vertical", "phone", "state", "zip", "tcpa_consent", "case_type"])


@FUZZ
@given(
    pairs=st.lists(st.tuples(FORM_NAMES, st.text(max_size=20)), min_size=2, max_size=10).filter(
        lambda pairs: len({name for name, _ in pairs}) < len(pairs)
    )
)
async def test_a_repeated_form_field_is_a_400_naming_it(
    router: RouterClient, pairs: list[tuple[str, str]]
) -> None:
    status, content_type, body = await _post(
        router, urlencode(pairs).encode(), "application/x-www-form-urlencoded", {}
    )
    answer = well_answered(status, content_type, body)
    repeated = {name for name, count in Counter(name for name, _ in pairs).items() if count > 1}
    assert status == 400, answer
    [(name, said)] = answer["fields"].items()
    assert name in repeated and said == "repeated", answer


# hypothesis: odd headers --------------------------------------------------------------------------

LATIN1 = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=400,
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Idempotency-Key": LATIN1,
        "X-API-Key": st.sampled_from([SELLER_KEY, SELLER_KEY + " ", "", "x"]) | LATIN1,
        "Authorization": st.sampled_from(["Bearer ", f"Bearer {SELLER_KEY}", "Basic Zm9v"])
        | LATIN1,
        "Content-Encoding": st.sampled_from(["gzip", "deflate", "identity", "gzip, gzip"]),
        "Accept": LATIN1,
        "X-Forwarded-For": LATIN1,
        "Expect": st.sampled_from(["100-continue", "nonsense"]),
    },
)


@FUZZ
@given(headers=HEADERS, lead=st.sampled_from([_valid_lead(), {"vertical": "mva"}]))
async def test_odd_headers_never_get_a_5xx(
    router: RouterClient, headers: dict[str, str], lead: dict[str, Any]
) -> None:
    try:
        status, content_type, body = await _post(
            router, json.dumps(lead).encode(), "application/json", headers
        )
    except (ValueError, aiohttp.ClientError):
        assume(False)  # a header the client library itself refuses to send
        return
    if status == 417:  # aiohttp answers an unknown Expect before pingtree sees the request
        return
    answer = well_answered(status, content_type, body)
    if len(headers.get("Idempotency-Key", "").strip()) > 255 and status == 400:
        assert "Idempotency-Key" in answer["fields"], answer


# schemathesis against /openapi.json ---------------------------------------------------------------

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# A stream that never ends cannot be fuzzed request by request: its frames are checked by
# tests/e2e/test_events.py (roles, no PII, keep-alives, the end at shutdown).
_ENDLESS = {"/admin/events"}
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def _sellable(case: Any) -> Any:
    """Half of the positive leads become a valid lead (the generated attributes whose names a
    lead can carry, on top of a sample lead), so 200 answers are checked against the document
    too: a random phone, state or zip is almost never valid."""
    if isinstance(case.body, dict) and len(case.body) % 2 == 0:
        attributes = {
            name: value
            for name, value in case.body.items()
            if name not in KNOWN_FIELDS and _ATTRIBUTE_NAME.match(name)
        }
        case.body = {**attributes, **_valid_lead()}
    return case


def _schemathesis_run(base_url: str) -> tuple[Counter[tuple[str, int]], list[str]]:
    """Every operation of our document, positive and negative, a bounded number of examples;
    (statuses seen per operation, failures)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    seen: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in _ENDLESS:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            exchanges = _exchanges(operation, mode, base_url, seen, failures)
            try:
                exchanges()
            except Unsatisfiable:
                # No negative example exists for an operation without parameters or body.
                assert mode is GenerationMode.NEGATIVE, operation.label
    return seen, failures


def _exchanges(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    seen: Counter[tuple[str, int]],
    failures: list[str],
) -> Callable[[], None]:
    strategy = operation.as_strategy(generation_mode=mode)
    if mode is GenerationMode.POSITIVE:
        strategy = strategy.map(_sellable)
    # Each operation its own credential: a seller key beside a Bearer token that differs from it
    # is a 400 (which key was meant would be a guess).
    if operation.path.startswith("/admin/"):
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    else:
        headers = {"X-API-Key": SELLER_KEY}

    @settings(
        max_examples=30,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exchange(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers)
        seen[(operation.label, response.status_code)] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except AssertionError as failure:  # schemathesis' FailureGroup is one
            failures.append(f"{operation.label} ({mode.value}): {failure}"[:2000])

    return exchange  # type: ignore[no-any-return]


async def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document(
    router: RouterClient,
) -> None:
    base_url = router.url("/").rstrip("/")
    seen, failures = await asyncio.to_thread(_schemathesis_run, base_url)
    assert failures == [], "\n\n".join(failures)
    # Every operation was exercised (schemathesis leaves out the document's own URL).
    document = openapi_document()
    operations = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if path != "/openapi.json" and path not in _ENDLESS
    }
    assert {label for label, _ in seen} == operations
    assert seen[("POST /v1/leads", 200)] > 0  # some leads were sold: 200 answers checked too
    await _no_server_error_counted(router)


# below the app: raw HTTP -----------------------------------------------------------------------

HEAD = f"POST /v1/leads HTTP/1.1\r\nHost: pingtree\r\nX-API-Key: {SELLER_KEY}\r\n"


def _port(router: RouterClient) -> int:
    assert router.server.port is not None
    return router.server.port


async def _raw(port: int, data: bytes, wait_s: float = 2.0) -> bytes:
    """Send bytes as they are; what came back before the server closed or `wait_s` passed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        chunks: list[bytes] = []
        deadline = time.monotonic() + wait_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), left)
            except (TimeoutError, ConnectionError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            if _complete(b"".join(chunks)):
                break
        return b"".join(chunks)
    finally:
        writer.close()


def _complete(answer: bytes) -> bool:
    head, found, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
    return bool(found and length and len(body) >= int(length.group(1)))


def _parse(answer: bytes) -> tuple[int, str, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    found = re.search(rb"(?i)content-type:\s*([^\r\n]*)", head)
    return status, found.group(1).decode() if found else "", body


JSON_LEAD = json.dumps({"vertical": "mva"}).encode()


def _lead_request(extra: str, body: bytes = JSON_LEAD) -> bytes:
    head = HEAD + "Content-Type: application/json\r\n" + extra
    return head.encode("latin-1") + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def _chunked(body: bytes, size: int = 4096) -> bytes:
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    framed = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    head = HEAD + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    return head.encode() + framed


OVER_64_KB = b'{"vertical": "mva", "pad": "' + b"x" * (64 * 1024) + b'"}'


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(_lead_request("", OVER_64_KB), id="declared"),
        pytest.param(_chunked(OVER_64_KB), id="chunked"),
        pytest.param(
            (
                HEAD + "Content-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{}"
            ).encode(),
            id="declared-100-gb",
        ),
    ],
)
async def test_a_body_over_the_limit_is_a_json_413(
    router: RouterClient, request_bytes: bytes
) -> None:
    status, content_type, body = _parse(await _raw(_port(router), request_bytes))
    answer = well_answered(status, content_type, body)
    assert (status, answer["error"]) == (413, "payload_too_large")


MALFORMED = [
    pytest.param(_lead_request("X-Big: " + "a" * 100_000 + "\r\n"), id="100-kb-header"),
    pytest.param(
        f"POST /v1/leads?{'a' * 20_000} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), id="20-kb-line"
    ),
    pytest.param(_lead_request("".join(f"X-H{i}: v\r\n" for i in range(150))), id="150-headers"),
    pytest.param(
        (HEAD + "Content-Type: application/json\r\nContent-Length: abc\r\n\r\n{}").encode(),
        id="bad-content-length",
    ),
    pytest.param(
        (
            HEAD + "Content-Type: application/json\r\nContent-Length: 5\r\n"
            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        ).encode(),
        id="length-and-chunked",
    ),
    pytest.param(
        (
            HEAD + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            "zz\r\n{}\r\n0\r\n\r\n"
        ).encode(),
        id="bad-chunk-size",
    ),
    pytest.param(_lead_request("not a header\r\n"), id="header-without-colon"),
    pytest.param(b"FROB /v1/leads HTTP/1.1\r\nHost: x\r\n\r\n", id="invalid-method"),
    pytest.param(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", id="http2-preface"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64), id="tls-hello"),
]


@pytest.mark.parametrize("request_bytes", MALFORMED)
async def test_malformed_http_is_a_4xx_never_a_5xx(
    router: RouterClient, request_bytes: bytes
) -> None:
    status, _, _ = _parse(await _raw(_port(router), request_bytes))
    assert 400 <= status < 500
    async with router.session.get(router.url("/healthz")) as r:
        assert r.status == 200


# slow clients ----------------------------------------------------------------------------------


@dataclass
class Served:
    """A router served as `pingtree serve` serves it (web.run_app's defaults: keep-alive 75 s, no
    handler cancellation when a client leaves), not as aiohttp's TestServer does."""

    port: int
    session: aiohttp.ClientSession

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


CLIENT_TIMEOUT_MS = 1000


@pytest.fixture
async def served(buyers: BuyerServer) -> AsyncIterator[Served]:
    """Through pingtree's runner (serving.py), with `pingtree serve`'s settings."""
    buyers.set("flat", accept_post=True)
    config = make_config(
        [make_buyer("flat", buyers, pricing="fixed", price=30)],
        router={"client_timeout_ms": CLIENT_TIMEOUT_MS},
    )
    runner = PingtreeRunner(create_app(config), access_log=None, keepalive_timeout=75.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session:
        yield Served(port, session)
    await runner.cleanup()


STALLED = (HEAD + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n").encode()
SECRET_HEADER = "X-Api-Key: sk_live_do_not_log_me_" + "a" * 9000  # over the 8190-byte line limit


@pytest.mark.parametrize(
    "request_bytes",
    [
        *MALFORMED,
        pytest.param(_lead_request(SECRET_HEADER + "\r\n"), id="secret-in-a-long-header"),
    ],
)
async def test_malformed_http_is_answered_in_pingtrees_json(
    served: Served, request_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    status, content_type, body = _parse(await _raw(served.port, request_bytes))
    answer = well_answered(status, content_type, body)
    assert (status, answer["error"]) == (400, "bad_request"), answer
    logged = [r for r in caplog.records if r.name.startswith(("aiohttp", "pingtree"))]
    assert [r.getMessage() for r in logged if r.levelno >= logging.WARNING] == []
    text = " ".join(f"{r.getMessage()} {r.exc_text or ''}" for r in logged)
    assert "sk_live_do_not_log_me" not in text and "aaaaaaaa" not in text
    async with served.session.get(served.url("/healthz")) as r:
        assert r.status == 200


async def test_a_client_that_stalls_its_body_is_timed_out(served: Served) -> None:
    started = time.monotonic()
    answer = await _raw(served.port, STALLED + b'{"vertical": ', wait_s=2.5)
    assert answer, "no answer and no close after 2.5 s"
    status, content_type, body = _parse(answer)
    assert (status, well_answered(status, content_type, body)["error"]) == (408, "request_timeout")
    assert CLIENT_TIMEOUT_MS / 1000 <= time.monotonic() - started < CLIENT_TIMEOUT_MS / 1000 + 1
    assert b"connection: close" in answer.lower()
    await _no_server_error_counted(served)


async def test_a_client_that_hangs_up_mid_body_is_not_a_server_error(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(STALLED + b'{"vertical": ')
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.close()
    await asyncio.sleep(0.2)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], errors
    await _no_server_error_counted(served)


# Content-Encoding --------------------------------------------------------------------------------


def _encoded_request(encoding: str, body: bytes, key: str) -> bytes:
    head = (
        f"POST /v1/leads HTTP/1.1\r\nHost: pingtree\r\nX-API-Key: {key}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Encoding: {encoding}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _until_closed(port: int, data: bytes, wait_s: float = 10.0) -> bytes:
    """Send bytes; all the server sends until it closes the connection, which it does only once
    it is done with the request (its body read to the end or given up): whatever it logs about
    the request has been logged by then."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(wait_s):
            return await reader.read()
    finally:
        writer.close()


LEAD_BYTES = json.dumps(_valid_lead()).encode()
# (Content-Encoding, body, the answer with the seller's key)
BAD_ENCODINGS = [
    ("gzip", LEAD_BYTES, 400),
    ("deflate", LEAD_BYTES, 400),
    ("gzip", gzip.compress(LEAD_BYTES)[:-8], 400),
    ("br", LEAD_BYTES, 415),
    ("zstd", LEAD_BYTES, 415),
    ("x-foo", LEAD_BYTES, 415),
]
ENCODING_IDS = ["gzip-not-gzip", "deflate-not-deflate", "gzip-truncated", "br", "zstd", "x-foo"]


@pytest.mark.parametrize("key", [SELLER_KEY, "not-a-key"], ids=["seller", "no-key"])
@pytest.mark.parametrize(("encoding", "body", "expected"), BAD_ENCODINGS, ids=ENCODING_IDS)
async def test_a_body_pingtree_cannot_inflate_is_a_4xx_logged_without_error(
    served: Served,
    caplog: pytest.LogCaptureFixture,
    key: str,
    encoding: str,
    body: bytes,
    expected: int,
) -> None:
    """A client, with or without a key, once wrote three chained tracebacks at ERROR this way:
    aiohttp inflated the body, failed, and read the failure again after pingtree's answer."""
    caplog.set_level(logging.DEBUG)
    answer = await _until_closed(served.port, _encoded_request(encoding, body, key))
    status, content_type, payload = _parse(answer)
    decoded = well_answered(status, content_type, payload)
    assert status == (expected if key == SELLER_KEY else 401), decoded
    if status == 415:
        assert decoded["error"] == "unsupported_encoding" and repr(encoding) in decoded["detail"]
    logged = [r for r in caplog.records if r.name.startswith(("aiohttp", "pingtree"))]
    assert [r.getMessage() for r in logged if r.levelno >= logging.WARNING] == []
    assert [r.getMessage() for r in logged if r.exc_info or r.exc_text] == []
    await _no_server_error_counted(served)


async def test_pingtree_serve_writes_no_traceback_for_a_bad_encoding(
    tmp_path: Path, buyers: BuyerServer
) -> None:
    buyers.set("flat", accept_post=True)
    config = config_dict([make_buyer("flat", buyers, pricing="fixed", price=30)])
    async with routers(tmp_path) as start:
        (router,) = await start(config, None)
        port = int(router.base.rsplit(":", 1)[1])
        for encoding, body, expected in BAD_ENCODINGS:
            for key, status in ((SELLER_KEY, expected), ("not-a-key", 401)):
                answer = await _until_closed(port, _encoded_request(encoding, body, key))
                assert _parse(answer)[0] == status, (encoding, key, answer)
    output = router.output()
    assert "Traceback" not in output and " ERROR " not in output, output
