"""Secrets and PII after a whole end-to-end run: every secret of the config comes from `${ENV}`,
every log record of the run is captured at DEBUG, every answer of the router is kept (seller
answers, replays, 401/409/413/422 errors, seller and operator views with their traces, /metrics,
/openapi.json, /healthz, reloads good and bad), and then each is searched for each secret and for
each PII value of the leads sold (DESIGN §8: names, phone in every spelling, email, address, city,
IP, date of birth, TrustedForm and Jornaya ids).

What pingtree does:
- Secrets (seller keys, the admin token, the dedup secret, a dialect buyer's bearer token, header
  key, query key and signing secret) appear in no answer, no trace, no metric and no log line;
  a refused reload names the paths of its errors, never the values.
- PII appears in no log line, no metric, no error and no view: the operator view carries no PII
  field, and a buyer that echoes the consumer's phone and email in its refusal is quoted in the
  trace with them masked.
- A buyer that echoes its own credentials in a refusal is quoted in the operator's trace with
  them masked (`***`): its auth, signing secret, secret-named headers and query values.
- Seller keys and operators' tokens (the admin token among them) are found by their SHA-256
  digest (a dict lookup whose time says nothing about how much of a guess was right). No timing
  measurement: the tests check the lookups go through digests.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks import Webhook

import pingtree.config.tree
import pingtree.web.auth
import pingtree.web.keys
from pingtree.config import load_config
from tests.buyers import BuyerServer
from tests.conftest import RouterClient, sample

SECRETS = {
    "PT_SELLER_KEY": "sk_live_4f9QvTz81mWcXbN2",
    "PT_OTHER_KEY": "sk_live_other_J7dLw0pRk3",
    "PT_ADMIN_TOKEN": "adm_9Hq2ZxL7vB4nM0pT",
    "PT_DEDUP_SECRET": "dedup_Xr6Tn1Wq8Ks3Vb5Y",
    "PT_BUYER_TOKEN": "bearer_Lm4Pz7Qc2Ns9Rd1F",
    "PT_BUYER_HEADER_KEY": "hdrkey_Wt5Yb8Kj3Hq6Gv0C",
    "PT_BUYER_QUERY_KEY": "qrykey_Np2Xc7Vm4Bz9Lk1D",
    "PT_BUYER_WHSEC": "whsec_" + base64.b64encode(b"secrets-test-signing-key-32byte!").decode(),
}
SELLER_KEY = SECRETS["PT_SELLER_KEY"]
ADMIN_TOKEN = SECRETS["PT_ADMIN_TOKEN"]


@dataclass(frozen=True)
class Consumer:
    first_name: str
    last_name: str
    digits: str  # ten digits
    email: str
    address: str
    city: str
    ip_address: str
    dob: str
    trustedform_url: str
    jornaya_leadid: str

    def lead(self, **more: Any) -> dict[str, Any]:
        return {
            **sample("mva-legal"),
            "lead_id": f"pii-{uuid.uuid4().hex[:10]}",
            "first_name": self.first_name,
            "last_name": self.last_name,
            "phone": f"({self.digits[:3]}) {self.digits[3:6]}-{self.digits[6:]}",
            "email": self.email,
            "address": self.address,
            "city": self.city,
            "ip_address": self.ip_address,
            "dob": self.dob,
            "trustedform_url": self.trustedform_url,
            "jornaya_leadid": self.jornaya_leadid,
            **more,
        }

    def spellings(self) -> Iterator[str]:
        d = self.digits
        yield from (self.first_name, self.last_name, self.address, self.city, self.ip_address)
        yield from (self.email, self.email.upper(), self.dob, "07/19/1961")
        yield from (self.trustedform_url, self.trustedform_url.rsplit("/", 1)[1])
        yield from (self.jornaya_leadid, self.jornaya_leadid.lower())
        yield from (d, f"+1{d}", f"({d[:3]}) {d[3:6]}-{d[6:]}", f"{d[:3]}-{d[3:6]}-{d[6:]}")
        yield f"{d[:3]}.{d[3:6]}.{d[6:]}"


CONSUMERS = [
    Consumer(
        "Quentavious",
        "Brightwater",
        "3055550148",
        "q.brightwater@example.org",
        "4471 Juniper Hollow Rd",
        "Kissimmee",
        "203.0.113.77",
        "1961-07-19",
        "https://cert.trustedform.com/5e1d9c3ab2f04e7d",
        "4C2B9A10-7E3F-4B1D-9C5E-A1B2C3D4E5F6",
    ),
    Consumer(
        "Marisol",
        "Okonkwo-Vance",
        "4045550177",
        "marisol.ov@example.net",
        "88 Magnolia Terrace Apt 3",
        "Valdosta",
        "198.51.100.23",
        "1958-02-03",
        "https://cert.trustedform.com/a1b2c3d4e5f60718",
        "9F8E7D6C-5B4A-4392-8170-6F5E4D3C2B1A",
    ),
]

CONFIG = """
router:
  admin_token: ${PT_ADMIN_TOKEN}
  dedup_secret: ${PT_DEDUP_SECRET}
  budget_ms: 2000
  post_reserve_ms: 600
sellers:
  - {id: acme-media, api_key: "${PT_SELLER_KEY}", revshare: 0.8}
  - {id: other-media, api_key: "${PT_OTHER_KEY}", payout: 10}
buyers:
  - id: dialect-firm
    dedup_days: 30
    ping: &call
      url: ${PT_DIALECT_URL}/ping
      timeout_ms: 800
      query: {key: "${PT_BUYER_QUERY_KEY}"}
      headers: {X-Api-Key: "${PT_BUYER_HEADER_KEY}"}
      auth: {type: bearer, token: "${PT_BUYER_TOKEN}"}
      sign: {secret: "${PT_BUYER_WHSEC}"}
      fields:
        - {to: state, from: state}
        - {to: zip3, from: zip3}
      response:
        format: json
        accepted: {path: status, values: [bid]}
        rejected: {path: status, values: ["no"]}
        price: {path: price}
        reason: {path: message}
    post:
      <<: *call
      url: ${PT_DIALECT_URL}/post
      timeout_ms: 1000
      fields:
        - {to: name, from: first_name}
        - {to: surname, from: last_name}
        - {to: phone, from: phone, transform: phone:10}
        - {to: email, from: email}
      response:
        format: json
        accepted: {path: status, values: [ok]}
        rejected: {path: status, values: [error]}
        reason: {path: message}
  - id: native-firm
    ping: {url: "${PT_NATIVE_PING}", timeout_ms: 800}
    post: {url: "${PT_NATIVE_POST}", timeout_ms: 1000}
"""


class DialectFirm:
    """A buyer that insists on all four credentials and answers in its own JSON; its post answer
    is scripted: `ok`, `echo_pii` (a refusal quoting the consumer), `echo_secret` (a refusal
    quoting the credentials it was sent)."""

    def __init__(self) -> None:
        self.post_answer = "ok"
        self.refused: list[str] = []  # requests whose credentials were wrong
        app = web.Application()
        app.router.add_post("/ping", self._ping)
        app.router.add_post("/post", self._post)
        self._server = TestServer(app, host="127.0.0.1")

    async def start(self) -> None:
        await self._server.start_server()

    async def close(self) -> None:
        await self._server.close()

    def url(self) -> str:
        return str(self._server.make_url("")).rstrip("/")

    async def _checked(self, request: web.Request) -> dict[str, Any] | None:
        body = await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            Webhook(SECRETS["PT_BUYER_WHSEC"]).verify(body, headers)
        except Exception:
            self.refused.append(f"{request.path}: signature")
            return None
        wanted = [
            (request.headers.get("Authorization"), f"Bearer {SECRETS['PT_BUYER_TOKEN']}"),
            (request.headers.get("X-Api-Key"), SECRETS["PT_BUYER_HEADER_KEY"]),
            (request.query.get("key"), SECRETS["PT_BUYER_QUERY_KEY"]),
        ]
        if any(got != want for got, want in wanted):
            self.refused.append(f"{request.path}: credentials")
            return None
        return dict(orjson.loads(body))

    async def _ping(self, request: web.Request) -> web.Response:
        if await self._checked(request) is None:
            return web.json_response({"status": "denied"}, status=403)
        return web.json_response({"status": "bid", "price": 40})

    async def _post(self, request: web.Request) -> web.Response:
        sent = await self._checked(request)
        if sent is None:
            return web.json_response({"status": "denied"}, status=403)
        if self.post_answer == "echo_pii":
            words = f"duplicate: {sent['name']} {sent['surname']}, {sent['phone']}, {sent['email']}"
            return web.json_response({"status": "error", "message": words})
        if self.post_answer == "echo_secret":
            words = (
                f"bad credentials {request.headers['X-Api-Key']} / "
                f"{request.headers['Authorization']} / {request.query['key']}"
            )
            return web.json_response({"status": "error", "message": words})
        return web.json_response({"status": "ok", "id": "df-1"})


@dataclass
class Run:
    """Everything the router said during a run, as text."""

    router: RouterClient
    answers: list[str] = field(default_factory=list)

    async def call(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        async with self.router.session.request(method, self.router.url(path), **kw) as r:
            text = await r.text()
            headers = "\n".join(f"{k}: {v}" for k, v in r.headers.items())
            self.answers.append(f"{method} {path} -> {r.status}\n{headers}\n\n{text}")
            is_json = r.content_type == "application/json"
            return r.status, orjson.loads(text) if is_json else text

    async def sell(self, lead: dict[str, Any], key: str = SELLER_KEY) -> tuple[int, Any]:
        return await self.call("POST", "/v1/leads", json=lead, headers={"X-API-Key": key})

    async def admin(self, path: str, token: str = ADMIN_TOKEN) -> tuple[int, Any]:
        return await self.call("GET", path, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def dialect_firm() -> AsyncIterator[DialectFirm]:
    firm = DialectFirm()
    await firm.start()
    yield firm
    await firm.close()


@pytest.fixture
def config_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    dialect_firm: DialectFirm,
    buyers: BuyerServer,
) -> Path:
    """buyers.yaml with every secret a ${REFERENCE}, the environment set as `serve` would see it
    (a reload re-reads it from there)."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PT_DIALECT_URL", dialect_firm.url())
    monkeypatch.setenv("PT_NATIVE_PING", buyers.url("native-firm", "ping"))
    monkeypatch.setenv("PT_NATIVE_POST", buyers.url("native-firm", "post"))
    path = tmp_path / "buyers.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
async def run(config_file: Path, start_router: Any, buyers: BuyerServer) -> Run:
    buyers.set("native-firm", bid=20)
    return Run(await start_router(load_config(config_file), config_path=config_file))


def _found(needles: Iterator[str] | list[str], haystack: str) -> list[str]:
    text = haystack.lower()
    return sorted({needle for needle in needles if needle.lower() in text})


async def _whole_run(run: Run, firm: DialectFirm, config_file: Path) -> list[str]:
    """A day in the router's life; returns the ids of the leads it recorded."""
    first, second = CONSUMERS
    ids: list[str] = []

    firm.post_answer = "ok"
    sold = first.lead()
    status, answer = await run.sell(sold)
    assert (status, answer["status"]) == (200, "sold"), answer
    ids.append(answer["id"])
    status, replay = await run.sell(sold)  # the same lead again: replayed
    assert status == 200 and replay["id"] == answer["id"]
    status, conflict = await run.sell({**sold, "zip": "33102"})  # same lead_id, other lead
    assert status == 409, conflict

    firm.post_answer = "echo_pii"  # refuses, quoting the consumer; the native firm takes it
    status, answer = await run.sell(second.lead())
    assert (status, answer["status"]) == (200, "sold"), answer
    ids.append(answer["id"])

    form = {k: v for k, v in second.lead(zip="30301", state="GA").items() if v is not None}
    status, answer = await run.call(
        "POST",
        "/v1/leads",
        data=urlencode({k: str(v).lower() if isinstance(v, bool) else v for k, v in form.items()}),
        headers={"X-API-Key": SELLER_KEY, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200, answer
    ids.append(answer["id"])

    status, answer = await run.sell(first.lead(tcpa_consent=False))
    assert (status, answer["status"]) == (200, "rejected"), answer
    ids.append(answer["id"])

    bad = first.lead(
        phone=f"{first.digits}9", email=first.email.replace("@", "@@"), dob="13/45/1961"
    )
    status, invalid = await run.sell(bad)
    assert status == 422 and {"phone", "email", "dob"} <= set(invalid["fields"]), invalid
    assert (await run.sell(first.lead(), key="sk_live_guessed_0000000"))[0] == 401
    assert (await run.sell(first.lead(), key=SECRETS["PT_OTHER_KEY"][:-1]))[0] == 401
    oversized = first.lead(notes="x" * 70_000)
    assert (await run.sell(oversized))[0] == 413

    # The admin's views below read the ledger: every lead filed first (moments after its answer).
    assert await run.router.app[pingtree.web.keys.LEDGER_WRITER].drain()
    for lead_id in ids:
        assert (await run.call("GET", f"/v1/leads/{lead_id}", headers={"X-API-Key": SELLER_KEY}))[
            0
        ] == 200
        assert (await run.admin(f"/admin/leads/{lead_id}"))[0] == 200
    assert (await run.admin(f"/admin/leads/{ids[0]}", token=ADMIN_TOKEN[:-1]))[0] == 401
    assert (await run.call("GET", f"/admin/leads/{ids[0]}"))[0] == 401

    assert (await run.admin("/metrics"))[0] == 200
    assert (await run.call("GET", "/openapi.json"))[0] == 200
    assert (await run.call("GET", "/healthz"))[0] == 200

    reload_headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert (await run.call("POST", "/admin/reload", headers=reload_headers))[0] == 200
    # A refused reload whose errors sit on values that came from secrets.
    broken = CONFIG.replace("budget_ms: 2000", "budget_ms: ${PT_ADMIN_TOKEN}")
    _write(config_file, broken.replace("${PT_DIALECT_URL}/ping", "ftp://${PT_BUYER_QUERY_KEY}"))
    status, refused = await run.call("POST", "/admin/reload", headers=reload_headers)
    assert status == 422 and "router.budget_ms" in refused["fields"], refused
    _write(config_file, CONFIG)
    return ids


def pii_of_all() -> list[str]:
    return [spelling for consumer in CONSUMERS for spelling in consumer.spellings()]


def _without_the_lead(answer: str) -> str:
    """An admin's view of one lead without its `lead` (the one place PII is shown)."""
    if not answer.startswith("GET /admin/leads/") or "-> 200" not in answer:
        return answer
    head, _, body = answer.partition("\n\n")
    view = orjson.loads(body)
    view.pop("lead")
    return f"{head}\n\n{orjson.dumps(view).decode()}"


def _write(path: Path, text: str) -> None:
    path.write_text(text)


async def test_no_secret_and_no_pii_leaves_the_router(
    run: Run,
    dialect_firm: DialectFirm,
    config_file: Path,
    caplog: pytest.LogCaptureFixture,
    buyers: BuyerServer,
) -> None:
    caplog.set_level(logging.DEBUG)
    ids = await _whole_run(run, dialect_firm, config_file)
    assert dialect_firm.refused == []  # every credential reached the buyer, so it was in use

    views = [a for a in run.answers if a.startswith("GET /admin/leads/") and "-> 200" in a]
    assert len(views) == len(ids)
    assert any("duplicate:" in view for view in views), "the buyer's echo is not in the trace"
    # The router's own records: pingtree's, and aiohttp's server errors. aiohttp's access log is
    # left out: `pingtree serve` turns it off, and here it also logs the buyers' servers, whose
    # request lines rightly hold the query key they were sent.
    logs = "\n".join(
        f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''} {r.args!r}"
        for r in caplog.records
        if r.name.startswith(("pingtree", "aiohttp.server", "aiohttp.web"))
    )
    assert logs.strip(), "nothing was logged: the capture is not working"
    metrics = next(a for a in run.answers if a.startswith("GET /metrics -> 200"))
    answers = "\n\n".join(run.answers)
    # DESIGN §13: an admin's view of one lead shows the lead, its PII with it, under `lead` and
    # there only; the rest of that view (the trace, the buyers' words) is held to the rule below.
    shown = [_without_the_lead(answer) for answer in run.answers]
    assert any(_found(pii_of_all(), answer) for answer in views), "no admin view shows the lead"

    secrets = list(SECRETS.values())
    assert _found(secrets, answers) == []
    assert _found(secrets, logs) == []
    pii = [spelling for consumer in CONSUMERS for spelling in consumer.spellings()]
    assert _found(pii, logs) == []
    assert _found(pii, metrics) == []
    # Seller answers, errors, views and traces alike: the router never hands PII back.
    assert _found(pii, "\n\n".join(shown)) == []
    # The buyers themselves got what they needed: the winner the whole lead.
    assert buyers.recorded("native-firm").posts[0]["email"] == CONSUMERS[1].email


async def test_a_buyer_echoing_its_credentials_does_not_put_them_in_the_trace(
    run: Run, dialect_firm: DialectFirm
) -> None:
    dialect_firm.post_answer = "echo_secret"
    status, answer = await run.sell(CONSUMERS[0].lead())
    assert (status, answer["status"]) == (200, "sold")
    status, view = await run.admin(f"/admin/leads/{answer['id']}")
    details = [e.get("detail", "") for e in view["trace"] if e["buyer_id"] == "dialect-firm"]
    assert any("bad credentials" in d for d in details), details
    assert _found(list(SECRETS.values()), str(view)) == []


# constant-time checks, by construction ---------------------------------------------------------


async def test_seller_keys_are_looked_up_by_their_digest(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = run.router.app[pingtree.web.keys.ROUTER].tree
    table = tree._sellers_by_key
    assert all(isinstance(k, bytes) and len(k) == 32 for k in table)  # SHA-256 digests
    assert table[hashlib.sha256(SELLER_KEY.encode()).digest()].id == "acme-media"
    digested: list[str] = []
    real = pingtree.config.tree._digest

    def recording(value: str) -> bytes:
        digested.append(value)
        return real(value)

    monkeypatch.setattr(pingtree.config.tree, "_digest", recording)
    assert (await run.sell(CONSUMERS[0].lead(), key="sk_live_4f9QvTz81mWcXbN"))[0] == 401
    assert (await run.call("GET", "/v1/leads/x", headers={"X-API-Key": SELLER_KEY}))[0] == 404
    assert digested == ["sk_live_4f9QvTz81mWcXbN", SELLER_KEY]


async def test_the_admin_token_is_looked_up_by_its_digest(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = run.router.app[pingtree.web.keys.ROUTER].tree
    table = tree._operators_by_token
    assert all(isinstance(k, bytes) and len(k) == 32 for k in table)  # SHA-256 digests
    assert table[hashlib.sha256(ADMIN_TOKEN.encode()).digest()].name == "admin"
    digested: list[str] = []
    real = pingtree.config.tree._digest

    def recording(value: str) -> bytes:
        digested.append(value)
        return real(value)

    monkeypatch.setattr(pingtree.config.tree, "_digest", recording)
    assert (await run.admin("/admin/leads/nope", token="adm_9Hq2ZxL7vB4nM0pX"))[0] == 401
    assert (await run.admin("/admin/leads/nope"))[0] == 404
    assert digested == ["adm_9Hq2ZxL7vB4nM0pX", ADMIN_TOKEN]
