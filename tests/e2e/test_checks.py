"""Compliance checks and consent evidence end to end (DESIGN §16): the real router against real
local check services (tests/check_services.py: a TrustedForm-like certificate claim, a Twilio
Lookup-like phone-type lookup, one that hangs, one that answers garbage) and real local buyers.

The checks budget holds whatever a check does; `on_error` is obeyed both ways; a check's
attributes reach the buyers' filters, and a ping only when a buyer's own ping map reads them; a
rejected check rejects the lead (`check:<id>`), found in the operator's lead list with its trace;
consent evidence is asked by the router, or by the seller instead; secrets stay masked."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from pingtree.config import Config, parse_config
from tests.buyers import BuyerServer
from tests.check_services import CLAIM_KEY, LOOKUP_SID, LOOKUP_TOKEN, CheckServices
from tests.conftest import OTHER_KEY, StartRouter, config_dict, make_buyer, sample
from tests.e2e.test_ledger import filed, get
from tests.web.documented import assert_documented
from tests.web.test_console_sessions import log_in

CERT = "https://cert.trustedform.com/0f3c9a7e2b1d4c5e8a9b0c1d2e3f4a5b6c7d8e9f"
LEADID = "3c5e8a9b-0c1d-4e2f-9a3b-5c6d7e8f9a0b"
ENV = {"TF_KEY": CLAIM_KEY, "LOOKUP_TOKEN": LOOKUP_TOKEN}
ADMIN_TOKEN = "admin-token-for-tests"


@pytest.fixture
async def services() -> AsyncIterator[CheckServices]:
    started = CheckServices()
    await started.start()
    yield started
    await started.close()


def claim(services: CheckServices, **overrides: Any) -> dict[str, Any]:
    """A TrustedForm-like claim of the lead's certificate: `age` joins the lead as `tf_age`."""
    return {
        "id": "tf",
        "url": services.url("/claim"),
        "timeout_ms": 800,
        "auth": {"type": "basic", "username": "API", "password": "${TF_KEY}"},
        "fields": [
            {"to": "cert_url", "from": "trustedform_url"},
            {"to": "reference", "from": "auction.lead_id"},
        ],
        "response": {
            "accepted": {"path": "outcome", "values": ["success"]},
            "rejected": {"path": "outcome", "values": ["failure"]},
            "reason": {"path": "reason"},
            "attributes": {"age": {"path": "age"}},
        },
        **overrides,
    }


def lookup(services: CheckServices, **overrides: Any) -> dict[str, Any]:
    """A Twilio Lookup-like phone-type lookup: `type` joins the lead as `phone_type`."""
    return {
        "id": "phone",
        "url": services.url("/lookup"),
        "method": "GET",
        "timeout_ms": 800,
        "auth": {"type": "basic", "username": LOOKUP_SID, "password": "${LOOKUP_TOKEN}"},
        "fields": [
            {"to": "PhoneNumber", "from": "phone"},
            {"to": "Fields", "value": "line_type_intelligence"},
        ],
        "response": {
            "accepted": {"path": "valid", "values": [True]},
            "attributes": {
                "type": {"path": "line_type_intelligence.type"},
                "carrier": {"path": "line_type_intelligence.carrier_name"},
            },
        },
        "on_error": "pass",
        **overrides,
    }


def broken(services: CheckServices, path: str, on_error: str, **overrides: Any) -> dict[str, Any]:
    return {
        "id": path.strip("/"),
        "url": services.url(path),
        "timeout_ms": 2000,
        "auth": {"type": "bearer", "token": "${TF_KEY}"},
        "fields": [{"to": "state", "from": "state"}],
        "response": {"accepted": {"path": "ok", "values": [True]}},
        "on_error": on_error,
        **overrides,
    }


def configured(buyers: list[dict[str, Any]], checks: list[dict[str, Any]], **router: Any) -> Config:
    raw = config_dict(buyers, router={"checks_budget_ms": 300, **router}, checks=checks)
    return parse_config(raw, env=ENV)


def lead(**fields: Any) -> dict[str, Any]:
    return {**sample("mva-legal"), "trustedform_url": CERT, **fields}


def checks_of(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["buyer_id"]: e for e in view["trace"] if e["step"] == "check"}


async def test_attributes_reach_the_filters_and_only_the_pings_whose_map_reads_them(
    buyers: BuyerServer, services: CheckServices, start_router: StartRouter
) -> None:
    for name, bid in (("wants-landline", 50), ("wants-mobile", 30), ("reads-type", 20)):
        buyers.set(name, bid=bid)
    reads_type = {
        "fields": [
            {"to": "state", "from": "state"},
            {"to": "line", "from": "attributes.phone_type"},
        ]
    }
    router = await start_router(
        configured(
            [
                make_buyer(
                    "wants-landline", buyers, filters={"require": {"phone_type": "landline"}}
                ),
                make_buyer(
                    "wants-mobile",
                    buyers,
                    filters={
                        "require": {"phone_type": "mobile"},
                        "ranges": {"tf_age": {"max": 60}},
                    },
                ),
                make_buyer("reads-type", buyers, ping=reads_type),
            ],
            [claim(services), lookup(services)],
        )
    )
    # The seller claims a landline itself: only the lookup may say what the phone is.
    status, answer, _ = await router.send(lead(phone_type="landline", tf_age=1))
    assert status == 200 and answer["status"] == "sold"

    view = await router.admin(answer["id"])
    assert_documented("/admin/leads/{id}", "get", 200, "application/json", view)
    assert view["buyer_id"] == "wants-mobile"
    skipped = {e["buyer_id"]: e["reason"] for e in view["trace"] if e["step"] == "skip"}
    assert skipped == {"wants-landline": "filter:field"}
    checks = checks_of(view)
    assert {name: e["result"] for name, e in checks.items()} == {"tf": "passed", "phone": "passed"}
    assert all(e["http_status"] == 200 and e["duration_ms"] is not None for e in checks.values())

    (native,) = buyers.recorded("wants-mobile").raw_pings
    for raw in (native, *buyers.recorded("wants-landline").raw_pings):
        assert b"phone_type" not in raw and b"tf_age" not in raw and b"mobile" not in raw
    (mapped,) = buyers.recorded("reads-type").pings
    assert mapped == {"state": "FL", "line": "mobile"}  # its own ping map reads it
    (post,) = buyers.recorded("wants-mobile").posts
    assert post["attributes"]["phone_type"] == "mobile"  # the sold lead carries what was learnt

    # The services were sent what they need, the lead's PII included, with their credentials.
    (claimed,) = services.seen.of("/claim")
    assert claimed == {"cert_url": CERT, "reference": answer["id"]}
    (looked_up,) = services.seen.of("/lookup")
    assert looked_up == {"PhoneNumber": "+13055551234", "Fields": "line_type_intelligence"}


async def test_a_rejected_check_rejects_the_lead_and_the_operator_finds_why(
    buyers: BuyerServer, services: CheckServices, start_router: StartRouter
) -> None:
    services.valid_phone = False
    router = await start_router(configured([make_buyer("firm", buyers)], [lookup(services)]))
    status, answer, _ = await router.send(lead())
    assert status == 200
    assert (answer["status"], answer["reason"]) == ("rejected", "check:phone")
    assert buyers.recorded("firm").pings == []  # no buyer hears of it

    services.valid_phone, services.claim_outcome = True, "failure"
    router = await start_router(configured([make_buyer("firm", buyers)], [claim(services)]))
    _, refused, _ = await router.send(lead(lead_id="second"))
    assert (refused["status"], refused["reason"]) == ("rejected", "check:tf")

    listed = await filed(router, 1)
    assert [(x["id"], x["status"], x["reason"]) for x in listed] == [
        (refused["id"], "rejected", "check:tf")
    ]
    view = await router.admin(refused["id"])
    event = checks_of(view)["tf"]
    assert (event["result"], event["reason"]) == ("rejected", "check:tf")
    assert event["detail"] == "no fingerprints matched"  # the service's own words
    assert_documented("/admin/leads/{id}", "get", 200, "application/json", view)

    # A check is no buyer: not in the reports by buyer, not in the buyers' metrics.
    report = await get(router, "/admin/reports?by=buyer")
    assert [row["key"] for row in report["rows"]] == []
    assert report["totals"]["pings"] == 0
    async with router.session.get(router.url("/metrics")) as metrics:
        exposed = await metrics.text()
    assert 'buyer="tf"' not in exposed and 'buyer="phone"' not in exposed
    assert 'pingtree_checks_total{check="tf",reason="check:tf",result="rejected"} 1.0' in exposed

    # The console's timeline of that lead draws the check.
    operator = SimpleNamespace(base=router.url("").rstrip("/"), session=router.session)
    cookies, _ = await log_in(operator, ADMIN_TOKEN)  # type: ignore[arg-type]
    async with router.session.get(
        router.url(f"/console/leads/{refused['id']}"), headers=cookies
    ) as page:
        assert page.status == 200
        html = await page.text()
    assert "check:tf" in html and 'data-step="check"' in html and CERT not in html
    assert "checks before the auction" in html


@pytest.mark.parametrize("on_error", ["pass", "reject"])
async def test_a_hanging_check_costs_the_checks_budget_and_no_more(
    on_error: str, buyers: BuyerServer, services: CheckServices, start_router: StartRouter
) -> None:
    buyers.set("firm", bid=25)
    quick = broken(services, "/hang", "pass", id="quick", timeout_ms=100)
    router = await start_router(
        configured([make_buyer("firm", buyers)], [broken(services, "/hang", on_error), quick])
    )
    started = time.monotonic()
    _, answer, _ = await router.send(lead())
    took_s = time.monotonic() - started
    # 300 ms of checks budget, then the auction (a buyer answering at once): far from the
    # check's own 2 s timeout, or the 5 s the service hangs for.
    assert took_s < 1.5, took_s
    view = await router.admin(answer["id"])
    event = checks_of(view)["hang"]
    assert (event["result"], event["reason"]) == ("failed", "timeout")
    assert 250 <= event["at_ms"] <= 700, event
    assert f"on_error: {on_error}" in event["detail"]
    # Both ran at once, and the quick one cost its own 100 ms, not the checks budget.
    cut = checks_of(view)["quick"]
    assert (cut["result"], cut["reason"]) == ("failed", "timeout")
    assert 90 <= cut["at_ms"] < 250, cut
    assert len(services.seen.of("/hang")) == 2
    if on_error == "pass":
        assert answer["status"] == "sold"
    else:
        assert (answer["status"], answer["reason"]) == ("rejected", "check:hang")
        assert buyers.recorded("firm").pings == []


@pytest.mark.parametrize("on_error", ["pass", "reject"])
async def test_a_garbage_answer_follows_on_error_and_its_quote_keeps_no_secret(
    on_error: str, buyers: BuyerServer, services: CheckServices, start_router: StartRouter
) -> None:
    router = await start_router(
        configured([make_buyer("firm", buyers)], [broken(services, "/garbage", on_error)])
    )
    _, answer, _ = await router.send(lead())
    expected = ("sold", None) if on_error == "pass" else ("rejected", "check:garbage")
    assert (answer["status"], answer.get("reason")) == expected
    view = await router.admin(answer["id"])
    event = checks_of(view)["garbage"]
    assert (event["result"], event["reason"], event["http_status"]) == (
        "failed",
        "bad_response",
        200,
    )
    assert "not JSON" in event["detail"] and "***" in event["detail"]
    (_, _, sent_auth) = services.seen.requests[0]
    assert sent_auth == f"Bearer {CLAIM_KEY}"  # it was sent the secret, and quoted it back
    assert CLAIM_KEY not in str(view)


async def test_consent_evidence_by_the_router_or_by_the_seller_instead(
    buyers: BuyerServer, start_router: StartRouter
) -> None:
    raw = config_dict(
        [make_buyer("firm", buyers)],
        router={"consent": {"require": "trustedform", "max_age_s": 600}},
        sellers=[
            {"id": "acme-media", "api_key": "acme-secret-key-1", "revshare": 0.8},
            {"id": "other-media", "api_key": OTHER_KEY, "consent": {"require": "jornaya"}},
        ],
    )
    router = await start_router(parse_config(raw, env={}))
    now = datetime.now(UTC)
    fresh = (now - timedelta(seconds=30)).isoformat()
    stale = (now - timedelta(seconds=700)).isoformat()

    _, good, _ = await router.send(lead(lead_id="a", consent_timestamp=fresh))
    assert good["status"] == "sold"
    malformed = "https://cert.trustedform.com/0f3c9a7e2b1d4c5e"  # 16 hex digits, not 40
    _, bad, _ = await router.send(
        lead(lead_id="b", trustedform_url=malformed, consent_timestamp=fresh)
    )
    assert (bad["status"], bad["reason"]) == ("rejected", "consent_evidence")
    _, old, _ = await router.send(lead(lead_id="c", consent_timestamp=stale))
    assert (old["status"], old["reason"]) == ("rejected", "consent_evidence")
    # other-media's own rule: a LeadiD, no certificate, no age asked.
    no_cert = {
        k: v for k, v in lead(lead_id="d", jornaya_leadid=LEADID).items() if k != "trustedform_url"
    }
    _, overridden, _ = await router.send(no_cert, key=OTHER_KEY)
    assert overridden["status"] == "sold"
    _, lacking, _ = await router.send(lead(lead_id="e"), key=OTHER_KEY)
    assert (lacking["status"], lacking["reason"]) == ("rejected", "consent_evidence")

    view = await router.admin(bad["id"])
    (event,) = [e for e in view["trace"] if e["step"] == "check"]
    assert event["buyer_id"] == "consent" and event["reason"] == "consent_evidence"
    assert "trustedform_url is not a TrustedForm certificate URL" in event["detail"]
    assert malformed not in event["detail"]
    assert "700 s old" in checks_of(await router.admin(old["id"]))["consent"]["detail"]
    assert (
        "jornaya_leadid is missing"
        in checks_of(await router.admin(lacking["id"]))["consent"]["detail"]
    )


async def test_the_config_summary_and_console_list_the_checks_without_their_secrets(
    buyers: BuyerServer, services: CheckServices, start_router: StartRouter
) -> None:
    router = await start_router(
        configured([make_buyer("firm", buyers)], [claim(services), lookup(services)])
    )
    operator = SimpleNamespace(base=router.url("").rstrip("/"), session=router.session)
    cookies, _ = await log_in(operator, ADMIN_TOKEN)  # type: ignore[arg-type]
    async with router.session.get(router.url("/console/config"), headers=cookies) as page:
        assert page.status == 200
        html = await page.text()
    assert 'data-check="tf"' in html and 'data-check="phone"' in html
    assert "phone_type, phone_carrier" in html
    for secret in (CLAIM_KEY, LOOKUP_TOKEN):
        assert secret not in html


async def test_a_seller_cannot_pose_as_a_check_that_failed(
    buyers: BuyerServer, services: CheckServices, start_router: StartRouter
) -> None:
    """The lookup refuses its credentials (401): on_error pass lets the lead go on without the
    phone's type, and the `phone_type: mobile` its seller sent is not taken for the lookup's."""
    unauthorized = {"type": "basic", "username": "nobody", "password": "${LOOKUP_TOKEN}"}
    wants_mobile = make_buyer("wants-mobile", buyers, filters={"require": {"phone_type": "mobile"}})
    router = await start_router(configured([wants_mobile], [lookup(services, auth=unauthorized)]))
    _, answer, _ = await router.send(lead(phone_type="mobile"))
    assert (answer["status"], answer["reason"]) == ("unsold", "no_eligible_buyer")
    view = await router.admin(answer["id"])
    event = checks_of(view)["phone"]
    assert (event["result"], event["reason"], event["http_status"]) == ("failed", "http_error", 401)
    assert "on_error: pass" in event["detail"]
    assert [e["reason"] for e in view["trace"] if e["step"] == "skip"] == ["filter:field"]
