"""jobs.py: a sale → its jobs, with stable ids, unsigned stored requests, a postback without PII,
and test leads sent to sandboxes."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest

from pingtree.config import Config
from pingtree.config.tree import Tree
from pingtree.core import jsonenc
from pingtree.core.lead import Lead, parse_lead
from pingtree.core.outcome import Outcome, seller_view
from pingtree.core.ranking import Offer
from pingtree.deliveries.jobs import (
    attempt_marker,
    attempt_number,
    for_attempt,
    iso_time,
    job_id,
    jobs_for_sale,
    plan_sale,
)
from tests.conftest import OTHER_KEY, SELLER_KEY, make_buyer, make_config, sample

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()
NOW = 1_772_114_652.5  # 2026-02-26T14:04:12.500Z
LEAD_ID = "ld_01JTESTLEAD"
BASE = "http://127.0.0.1:9"

CRM = {
    "id": "crm",
    "url": f"{BASE}/crm",
    "sandbox_url": f"{BASE}/crm-sandbox",
    "failover_url": f"{BASE}/crm-backup",
    "sign": {"secret": SECRET},
    "headers": {"X-Source": "pingtree"},
    "retry_s": [5, 30],
}
SHEET = {
    "id": "sheet",
    "url": f"{BASE}/sheet?token=abc",
    "failover_url": f"{BASE}/sheet-backup",
    "format": "form",
    "fields": [
        {"to": "Phone", "from": "phone", "transform": "phone:10"},
        {"to": "Price", "from": "auction.price"},
        {"to": "Token", "from": "ping.token"},
    ],
}


def config(
    deliveries: list[dict[str, Any]] | None = None,
    postback: dict[str, Any] | None = None,
    reveal: list[str] | None = None,
) -> Config:
    seller: dict[str, Any] = {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8}
    if postback is not None:
        seller["postback"] = postback
    if reveal is not None:
        seller["reveal"] = reveal
    other = {"id": "other-media", "api_key": OTHER_KEY, "payout": 20}
    buyer = make_buyer("firm", deliveries=[CRM, SHEET] if deliveries is None else deliveries)
    return make_config([buyer, make_buyer("plain")], sellers=[seller, other])


def tree_of(cfg: Config) -> Tree:
    return Tree(cfg, fallback_secret=b"s" * 32)


def lead(**changes: Any) -> Lead:
    return parse_lead({**sample("mva-legal"), **changes})


def outcome(status: str = "sold", buyer_id: str = "firm", test: bool = False) -> Outcome:
    return Outcome(
        id=LEAD_ID,
        seller_id="acme-media",
        status=status,  # type: ignore[arg-type]
        received_at="2026-02-26T14:04:12.000Z",
        auction_ms=120,
        lead_id="cs_lead_8f2a4b91",
        buyer_id=buyer_id,
        price=Decimal("42.50"),
        payout=Decimal("34.00"),
        vertical="mva",
        test=test,
    )


def won(**fields: Any) -> Offer:
    """The offer that bought the lead: what its deliveries may read of its ping's answer."""
    offer: dict[str, Any] = {
        "price": Decimal("42.50"),
        "ping_id": "pg_1",
        "bid_id": "b_1",
        "carried": (("token", "t-77"),),
        **fields,
    }
    return Offer(buyer_id="firm", priority=1, answered_ms=38, order=0, **offer)


def jobs(cfg: Config | None = None, *, now: float = NOW, **kw: Any) -> dict[str, Any]:
    the_lead = kw.pop("the_lead", None) or lead(test=kw.get("test", False))
    found = jobs_for_sale(
        tree_of(cfg or config()),
        kw.pop("the_outcome", None) or outcome(test=kw.pop("test", False)),
        the_lead,
        won(),
        now=now,
    )
    return {job.destination: job for job in found}


def test_one_job_per_destination_and_one_for_the_postback() -> None:
    found = jobs(config(postback={"url": f"{BASE}/postback"}))
    assert set(found) == {"crm", "sheet", "postback"}
    assert found["crm"].id == f"{LEAD_ID}.buyer:firm.crm"
    assert found["sheet"].key == "buyer:firm/sheet"
    assert found["postback"].id == f"{LEAD_ID}.seller:acme-media.postback"
    assert found["postback"].owner == "seller:acme-media"
    assert job_id(LEAD_ID, "buyer:firm", "crm") == found["crm"].id


def test_ids_are_stable_for_a_sale_whatever_the_time() -> None:
    first, later = jobs(now=NOW), jobs(now=NOW + 3600)
    assert {k: j.id for k, j in first.items()} == {k: j.id for k, j in later.items()}


def test_stored_requests_carry_no_signature() -> None:
    crm = jobs()["crm"]
    names = {name.lower() for name, _ in crm.headers}
    assert names == {"content-type", "x-source"}
    assert not names & {"webhook-id", "webhook-timestamp", "webhook-signature"}


def test_a_destination_without_fields_gets_the_native_post() -> None:
    crm = jobs()["crm"]
    body = orjson.loads(crm.body)
    assert (crm.method, crm.url) == ("POST", f"{BASE}/crm")
    assert body["id"] == LEAD_ID and body["phone"] == "+13055551234"
    assert (body["ping_id"], body["bid_id"], body["price"]) == ("pg_1", "b_1", 42.5)


def test_the_attempt_number_is_written_in_at_each_attempt_and_nowhere_else() -> None:
    crm = jobs()["crm"]
    marker = attempt_marker(crm.id)
    assert orjson.loads(crm.body)["delivery_attempt"] == marker  # until an attempt fills it in
    assert len(str(marker)) == 18 and attempt_marker(crm.id) == marker  # the same every time
    assert attempt_number(crm) == 1
    url, headers, body = for_attempt(crm, crm.url, 3)
    assert (url, headers) == (crm.url, crm.headers)
    assert body == crm.body.replace(str(marker).encode(), b"3")
    assert orjson.loads(body)["delivery_attempt"] == 3
    assert str(marker).encode() not in body


def test_a_mapped_destination_reads_the_sale_and_the_values_its_ping_carried() -> None:
    sheet = jobs()["sheet"]
    assert sheet.url == f"{BASE}/sheet?token=abc"
    assert parse_qs(sheet.body.decode()) == {
        "Phone": ["3055551234"],
        "Price": ["42.50"],
        "Token": ["t-77"],
    }


def test_schedule_and_failover_come_with_the_job() -> None:
    crm = jobs()["crm"]
    assert (crm.created_at, crm.due_at, crm.attempt) == (NOW, NOW + 5, 0)
    assert (crm.failover_url, crm.target, crm.state) == (f"{BASE}/crm-backup", "primary", "waiting")


def test_test_leads_go_to_the_sandbox_and_never_to_the_real_failover() -> None:
    found = jobs(test=True)
    crm, sheet = found["crm"], found["sheet"]
    assert crm.url == f"{BASE}/crm-sandbox" and crm.failover_url is None
    assert orjson.loads(crm.body)["test"] is True
    # No sandbox: the real URL, as a buyer's post would, with its failover.
    assert sheet.url.startswith(f"{BASE}/sheet") and sheet.failover_url == f"{BASE}/sheet-backup"


def test_postback_is_a_standard_webhooks_event_of_the_sellers_view() -> None:
    cfg = config(postback={"url": f"{BASE}/postback", "sign": {"secret": SECRET}})
    postback = jobs(cfg)["postback"]
    event = orjson.loads(postback.body)
    assert event["type"] == "lead.sold"
    assert event["timestamp"] == "2026-02-26T14:04:12.500Z" == iso_time(NOW)
    seller = tree_of(cfg).sellers["acme-media"]
    assert event["data"] == orjson.loads(jsonenc.dumps(seller_view(outcome(), seller)))
    assert event["data"]["payout"] == 34.0
    assert "buyer_id" not in event["data"] and "price" not in event["data"]
    names = {name.lower() for name, _ in postback.headers}
    assert "webhook-signature" not in names


def test_postback_has_no_pii() -> None:
    the_lead = lead()
    body = jobs(config(postback={"url": f"{BASE}/pb"}), the_lead=the_lead)["postback"].body
    text = body.decode().lower()
    pii = [
        the_lead.first_name, the_lead.last_name, the_lead.phone, the_lead.email,
        the_lead.ip_address, the_lead.trustedform_url, "3055551234",
    ]  # fmt: skip
    for value in pii:
        assert value is not None and value.lower() not in text


def test_postback_reveals_buyer_and_price_only_when_the_seller_may_see_them() -> None:
    cfg = config(postback={"url": f"{BASE}/pb"}, reveal=["buyer", "price"])
    data = orjson.loads(jobs(cfg)["postback"].body)["data"]
    assert (data["buyer_id"], data["price"]) == ("firm", 42.5)


def test_a_postback_field_mapping_cannot_reveal_what_reveal_hides() -> None:
    mapped = {"url": f"{BASE}/pb", "fields": [{"to": "p", "from": "auction.price"}]}
    body = orjson.loads(jobs(config(postback=mapped))["postback"].body)
    assert body["type"] == "lead.sold" and "price" not in body["data"] and "p" not in body


def test_postback_url_shorthand_and_test_leads_to_its_sandbox() -> None:
    cfg = config(postback={"url": f"{BASE}/pb", "sandbox_url": f"{BASE}/pb-test"})
    postback = jobs(cfg, test=True)["postback"]
    assert postback.url == f"{BASE}/pb-test"
    assert orjson.loads(postback.body)["data"]["test"] is True


@pytest.mark.parametrize("status", ["unsold", "rejected", "pending"])
def test_no_jobs_unless_sold(status: str) -> None:
    cfg = config(postback={"url": f"{BASE}/pb"})
    assert jobs(cfg, the_outcome=outcome(status)) == {}


def test_a_buyer_without_deliveries_and_a_seller_without_postback_owe_nothing() -> None:
    assert jobs(the_outcome=outcome(buyer_id="plain")) == {}


def test_a_destination_that_cannot_be_built_is_reported_not_queued() -> None:
    broken = {
        "id": "dialer",
        "url": f"{BASE}/dialer",
        "fields": [{"to": "When", "from": "first_name", "transform": "date:%m/%d/%Y"}],
    }
    plan = plan_sale(
        tree_of(config([CRM, broken])),
        outcome(),
        lead(),
        won(price=Decimal(40), ping_id=None, bid_id=None, carried=()),
        now=NOW,
    )
    assert [job.destination for job in plan.jobs] == ["crm"]
    (problem,) = plan.unbuildable
    assert problem.key == "buyer:firm/dialer"
    assert "When" in problem.reason and "Maria" not in problem.reason
