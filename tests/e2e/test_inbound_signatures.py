"""Inbound lead signatures: a seller with `signing: {secret: whsec_…}` must sign every lead with
Standard Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`) over the exact
body; the leads here are signed by the `standardwebhooks` package, as a seller would.

- Signed JSON or form body: sold. A second signature beside a stale one (a seller rotating its
  secret): sold.
- No headers: 401 `bad_signature` whose `fields` name the three headers; one header missing: only
  it. A signature of another secret, or of the same lead re-encoded (spaces added after signing):
  401 naming `webhook-signature`. A timestamp 10 minutes old or ahead (a replay): 401 naming
  `webhook-timestamp`; one that is not Unix seconds too.
- A seller without `signing` needs no headers. `pingtree_bad_signatures_total` counts refusals.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from standardwebhooks import Webhook

from pingtree.web.keys import METRICS
from tests.buyers import BuyerServer
from tests.conftest import OTHER_KEY, SELLER_KEY, RouterClient, make_buyer, make_config, sample

SECRET = "whsec_" + base64.b64encode(b"acme-media-signs-its-leads-32b!!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"some-other-secret-of-32-bytes!!!").decode()


@pytest.fixture
async def router(buyers: BuyerServer, start_router: Any) -> RouterClient:
    buyers.set("firm", bid=30)
    sellers = [
        {"id": "acme-media", "api_key": SELLER_KEY, "signing": {"secret": SECRET}},
        {"id": "other-media", "api_key": OTHER_KEY},
    ]
    return await start_router(make_config([make_buyer("firm", buyers)], sellers=sellers))


def _body() -> bytes:
    return json.dumps({**sample("mva-legal"), "lead_id": uuid.uuid4().hex}).encode()


def _signed(
    body: bytes, secret: str = SECRET, at: datetime | None = None, msg_id: str | None = None
) -> dict[str, str]:
    at = at or datetime.now(UTC)
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()),
    }


async def _post(
    router: RouterClient,
    body: bytes,
    headers: dict[str, str],
    key: str = SELLER_KEY,
    content_type: str = "application/json",
) -> tuple[int, dict[str, Any]]:
    sent = {"X-API-Key": key, "Content-Type": content_type, **headers}
    async with router.session.post(router.url("/v1/leads"), data=body, headers=sent) as r:
        return r.status, await r.json()


async def test_a_signed_lead_is_sold(router: RouterClient) -> None:
    body = _body()
    status, answer = await _post(router, body, _signed(body))
    assert (status, answer["status"]) == (200, "sold"), answer


async def test_a_signed_form_lead_is_sold(router: RouterClient) -> None:
    fields = {
        k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in sample("mva-legal").items()
    }
    body = urlencode({**fields, "lead_id": uuid.uuid4().hex}).encode()
    status, answer = await _post(
        router, body, _signed(body), content_type="application/x-www-form-urlencoded"
    )
    assert (status, answer["status"]) == (200, "sold"), answer


async def test_a_rotating_seller_may_send_two_signatures(router: RouterClient) -> None:
    body, msg_id, at = _body(), "msg_rotate", datetime.now(UTC)
    headers = _signed(body, at=at, msg_id=msg_id)
    stale = Webhook(OTHER_SECRET).sign(msg_id, at, body.decode())
    headers["webhook-signature"] = f"{stale} {headers['webhook-signature']}"
    status, answer = await _post(router, body, headers)
    assert (status, answer["status"]) == (200, "sold"), answer


def _without(headers: dict[str, str], name: str) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k != name}


def _replaced(headers: dict[str, str], name: str, value: str) -> dict[str, str]:
    return {**headers, name: value}


BODY = _body()
TEN_MINUTES = timedelta(minutes=10)


def _good() -> dict[str, str]:
    return _signed(BODY)


# Each case's headers are made when it runs, not when the module is collected: a signature made
# then is minutes old by the time a long suite (or a second worker) reaches it, and is refused
# for its timestamp instead of for what the case is about.
REFUSED: list[Any] = [
    pytest.param(
        BODY, dict, {"webhook-id", "webhook-timestamp", "webhook-signature"}, id="unsigned"
    ),
    pytest.param(
        BODY,
        lambda: _without(_good(), "webhook-signature"),
        {"webhook-signature"},
        id="no-signature",
    ),
    pytest.param(BODY, lambda: _without(_good(), "webhook-id"), {"webhook-id"}, id="no-id"),
    pytest.param(
        BODY, lambda: _signed(BODY, OTHER_SECRET), {"webhook-signature"}, id="other-secret"
    ),
    pytest.param(BODY.replace(b", ", b",  "), _good, {"webhook-signature"}, id="body-re-encoded"),
    pytest.param(
        BODY,
        lambda: _replaced(_good(), "webhook-signature", "v1,bm90IGEgc2lnbmF0dXJl"),
        {"webhook-signature"},
        id="garbage-signature",
    ),
    pytest.param(
        BODY,
        lambda: _signed(BODY, at=datetime.now(UTC) - TEN_MINUTES),
        {"webhook-timestamp"},
        id="ten-minutes-old",
    ),
    pytest.param(
        BODY,
        lambda: _signed(BODY, at=datetime.now(UTC) + TEN_MINUTES),
        {"webhook-timestamp"},
        id="ten-minutes-ahead",
    ),
    pytest.param(
        BODY,
        lambda: _replaced(_good(), "webhook-timestamp", "yesterday"),
        {"webhook-timestamp"},
        id="timestamp-not-seconds",
    ),
]


@pytest.mark.parametrize(("body", "headers", "named"), REFUSED)
async def test_a_lead_without_a_valid_signature_is_a_401_naming_the_header(
    router: RouterClient, body: bytes, headers: Callable[[], dict[str, str]], named: set[str]
) -> None:
    status, answer = await _post(router, body, headers())
    assert (status, answer["error"]) == (401, "bad_signature"), answer
    assert set(answer["fields"]) == named, answer
    assert all(name in answer["detail"] for name in named), answer
    registry = router.app[METRICS].registry
    labels = {"seller": "acme-media"}
    assert registry.get_sample_value("pingtree_bad_signatures_total", labels) == 1


async def test_a_seller_without_signing_needs_no_signature(router: RouterClient) -> None:
    status, answer = await _post(router, _body(), {}, key=OTHER_KEY)
    assert (status, answer["status"]) == (200, "sold"), answer
