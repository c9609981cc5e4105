"""What a sold lead's destinations are sent, through the real router: leads POSTed by a seller to
`create_app`, sold to a real local buyer, delivered to a real local CRM (the `Receiver` of
test_deliveries_worker.py, which verifies Standard Webhooks signatures). Each attempt says which
it is (`delivery_attempt`, `webhook-attempt`); a field mapping reads the attempt and the sale's
time; the compliance fields reach the buyer's post, every delivery and the CSVs exactly as the
seller sent them, while the rules still read them normalized (DESIGN §8b)."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
import pytest

from pingtree.web.app import create_app
from tests.buyers import BuyerServer
from tests.conftest import ADMIN_TOKEN, SELLER_KEY, ServeApp, make_buyer, make_config, sample
from tests.e2e.test_deliveries_worker import Receiver, destination

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SELLER = {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8}
FAST = {"poll_ms": 20, "concurrency": 4, "ledger_days": 30}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver()
    await made.start()
    yield made
    await made.close()


class Router:
    """The router under test and a seller's and an operator's client for it."""

    def __init__(self, base: str, session: Any) -> None:
        self.base = base
        self.session = session

    async def sell(self, lead: dict[str, Any] | str) -> str:
        """POST `lead` (a JSON object, or a form-encoded body); the sold lead's pingtree id."""
        headers = {"X-API-Key": SELLER_KEY}
        if isinstance(lead, str):
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            sent = self.session.post(f"{self.base}/v1/leads", data=lead, headers=headers)
        else:
            sent = self.session.post(f"{self.base}/v1/leads", json=lead, headers=headers)
        async with sent as response:
            answer = await response.json()
        assert (response.status, answer["status"]) == (200, "sold"), answer
        return str(answer["id"])

    async def filed(self, count: int) -> None:
        """Until the ledger lists `count` leads: the export reads the ledger, which files a
        sale moments after its answer."""
        async with asyncio.timeout(10):
            while len((await self.admin("/admin/leads?limit=500"))["leads"]) < count:  # noqa: ASYNC110 (polling the router over HTTP)
                await asyncio.sleep(0.02)

    async def admin(self, path: str) -> Any:
        async with self.session.get(f"{self.base}{path}", headers=ADMIN) as response:
            assert response.status == 200, await response.text()
            if response.content_type == "text/csv":
                return await response.text()
            return await response.json()


async def start(
    serve_app: ServeApp, buyers: BuyerServer, deliveries: list[dict[str, Any]], **router: Any
) -> Router:
    buyers.set("firm", bid=40)
    config = make_config(
        [make_buyer("firm", buyers, deliveries=deliveries)],
        router={"deliveries": FAST, **router},
        sellers=[SELLER],
    )
    server, session = await serve_app(create_app(config))
    return Router(str(server.make_url("")).rstrip("/"), session)


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


# which attempt it is ----------------------------------------------------------------------------


async def test_each_attempt_says_its_number_in_the_default_body_and_a_header(
    serve_app: ServeApp, buyers: BuyerServer, receiver: Receiver
) -> None:
    receiver.answer("crm", 500)  # fails once, then takes it
    router = await start(serve_app, buyers, [destination(receiver)])
    lead = await router.sell(sample("mva-legal"))
    await until(lambda: len(receiver.at("crm")) == 2, "the second attempt")
    first, second = receiver.at("crm")
    assert [orjson.loads(s.body)["delivery_attempt"] for s in (first, second)] == [1, 2]
    assert [s.headers["webhook-attempt"] for s in (first, second)] == ["1", "2"]
    assert first.signed_ok and second.signed_ok  # each attempt signs its own body
    # The same request otherwise: one webhook-id, the same lead.
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == f"{lead}.buyer:firm.crm"
    bodies = [orjson.loads(s.body) for s in (first, second)]
    assert [{k: v for k, v in b.items() if k != "delivery_attempt"} for b in bodies] == [
        {k: v for k, v in bodies[1].items() if k != "delivery_attempt"}
    ] * 2
    job = await router.admin(f"/admin/deliveries/{lead}.buyer:firm.crm")
    assert job["state"] == "delivered" and len(job["history"]) == 2


async def test_a_field_mapping_reads_the_attempt_and_the_sale_time_in_every_format(
    serve_app: ServeApp, buyers: BuyerServer, receiver: Receiver
) -> None:
    json_fields = [
        {"to": "attempt", "from": "delivery_attempt"},
        {"to": "attempt_text", "from": "delivery_attempt", "transform": "string"},
        {"to": "meta.sold", "from": "sold_at"},
        {"to": "sold_day", "from": "sold_at", "transform": "datetime:%m/%d/%Y"},
        {"to": "phone", "from": "phone"},
    ]
    form_fields = [{"to": "try", "from": "delivery_attempt"}, {"to": "at", "from": "sold_at"}]
    xml_fields = [{"to": "attempt", "from": "delivery_attempt"}]
    receiver.answer("sheet", 503)
    receiver.answer("dialer", 502)
    receiver.answer("legacy", 500)
    router = await start(
        serve_app,
        buyers,
        [
            destination(receiver, "sheet", fields=json_fields),
            destination(receiver, "dialer", format="form", fields=form_fields),
            destination(receiver, "legacy", format="xml", root="lead", fields=xml_fields),
            destination(receiver, "lookup", method="GET", fields=form_fields),
        ],
    )
    lead = await router.sell(sample("mva-legal"))
    for path in ("sheet", "dialer", "legacy"):
        await until(lambda path=path: len(receiver.at(path)) == 2, f"{path}'s second attempt")
    await until(lambda: len(receiver.at("lookup")) == 1, "the lookup")

    sheet = [orjson.loads(s.body) for s in receiver.at("sheet")]
    sold_at = sheet[0]["meta"]["sold"]  # the sale's time, as every destination gets it
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", sold_at), sold_at
    # The export's (the ledger's: when the auction ended) is the same sale, a moment earlier.
    await router.filed(1)
    (row,) = csv.DictReader(io.StringIO(await router.admin("/admin/exports/leads.csv")))
    exported = datetime.fromisoformat(row["sold_at"])
    assert 0 <= (datetime.fromisoformat(sold_at) - exported).total_seconds() < 1, row
    assert [(b["attempt"], b["attempt_text"]) for b in sheet] == [(1, "1"), (2, "2")]
    assert [b["meta"]["sold"] for b in sheet] == [sold_at] * 2
    assert sheet[0]["sold_day"] == datetime.fromisoformat(sold_at).strftime("%m/%d/%Y")
    dialer = [parse_qs(s.body.decode()) for s in receiver.at("dialer")]
    assert dialer == [{"try": ["1"], "at": [sold_at]}, {"try": ["2"], "at": [sold_at]}]
    legacy = [s.body for s in receiver.at("legacy")]
    assert [b"<attempt>1</attempt>" in legacy[0], b"<attempt>2</attempt>" in legacy[1]] == [
        True,
        True,
    ]
    (lookup,) = receiver.at("lookup")
    assert parse_qs(lookup.query) == {"try": ["1"], "at": [sold_at]}
    assert lookup.headers["webhook-attempt"] == "1" and lookup.body == b""
    assert all(s.signed_ok for s in receiver.seen)
    assert lead in receiver.at("sheet")[0].headers["webhook-id"]


# compliance fields, as the seller sent them ---------------------------------------------------

# Odd but valid, as real sellers send them: each must come out exactly so, wherever the lead goes.
AS_JSON = {
    "consent_timestamp": "2026-02-26T14:04:12.000Z",  # was re-serialized as …12+00:00
    "tcpa_consent": "1",  # a JSON string, not a boolean
    "ip_address": "2001:DB8:0:0:0:0:0:1",  # IPv6, not in its canonical form (2001:db8::1)
    "trustedform_url": "https://cert.trustedform.com/0f3c9a7e2b1d4c5e?shared_token=Ab12-cd&v=2",
    "jornaya_leadid": "a1b2c3d4-E5F6-7890-abcd-EF1234567890",
}
AS_FORM = {
    "consent_timestamp": "2026-03-02T09:12:44.000-05:00",
    "tcpa_consent": "yes",
    "ip_address": "::FFFF:192.0.2.1",  # an IPv4-mapped address (::ffff:c000:201 canonically)
    "trustedform_url": "https://cert.trustedform.com/7d2e11aa90c3b8f4?shared_token=Zz9&sig=a+b/c",
    "jornaya_leadid": "LEADID_7F3A-11",
}
MAPPED = [{"to": f"sent_{name}", "from": name} for name in AS_JSON]


def form_body(lead: dict[str, Any]) -> str:
    """`lead` as an HTML form posts it: every value text."""
    words = {True: "true", False: "false"}
    return urlencode({k: words.get(v, v) if isinstance(v, bool) else v for k, v in lead.items()})


async def test_compliance_fields_reach_every_destination_as_the_seller_sent_them(
    serve_app: ServeApp, buyers: BuyerServer, receiver: Receiver, tmp_path: Path
) -> None:
    router = await start(
        serve_app,
        buyers,
        [destination(receiver), destination(receiver, "sheet", fields=MAPPED)],
        exports_dir=str(tmp_path / "exports"),
    )
    sent = {
        await router.sell({**sample("mva-legal"), **AS_JSON}): AS_JSON,
        await router.sell(form_body({**sample("final-expense"), **AS_FORM})): AS_FORM,
    }
    await until(lambda: len(receiver.seen) == 4, "both leads at both destinations")

    def by_lead(bodies: list[dict[str, Any]], key: str = "id") -> dict[str, dict[str, Any]]:
        return {body[key]: body for body in bodies}

    posts = by_lead(buyers.recorded("firm").posts)
    crm = by_lead([orjson.loads(seen.body) for seen in receiver.at("crm")])
    sheet = [orjson.loads(seen.body) for seen in receiver.at("sheet")]
    await router.filed(2)
    export = await router.admin("/admin/exports/leads.csv?buyer=firm")
    exported = by_lead(list(csv.DictReader(io.StringIO(export))))
    (mirror,) = (tmp_path / "exports" / "firm").glob("*.csv")
    mirrored = by_lead(list(csv.DictReader(mirror.open(encoding="utf-8"))))
    for lead, values in sent.items():
        assert {name: posts[lead][name] for name in values} == values  # the buyer's post
        assert {name: crm[lead][name] for name in values} == values  # the default body
        assert {name: exported[lead][name] for name in values} == values  # the export
        assert {name: mirrored[lead][name] for name in values} == values  # the CSV mirror
    mapped = [{name: body[f"sent_{name}"] for name in AS_JSON} for body in sheet]
    assert sorted(mapped, key=str) == sorted(sent.values(), key=str)  # a field mapping
    # The rules and the ping read them normalized: consent is a boolean, and it was given.
    assert [ping["tcpa_consent"] for ping in buyers.recorded("firm").pings] == [True, True]
