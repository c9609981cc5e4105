"""Buyers wired by configuration alone (issue 5): the four worked examples of "Wiring a buyer"
(docs/wiring-a-buyer.md, examples/dialects/*.yaml), loaded as an operator would load them, against
real local buyers that speak XML, a JSON webhook, form-encoded text and a LeadsPedia-style
ping/post whose post wants the ping's id in its query string (tests/dialect_buyers.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from pingtree.cli.main import main
from pingtree.config import parse_config
from pingtree.core.errors import ConfigError
from tests.conftest import ADMIN_TOKEN, SAMPLES, SELLER_KEY, sample
from tests.dialect_buyers import (
    GHL_FIRM_TOKEN,
    GHL_FIRM_WHSEC,
    LP_SOLAR_CAMPAIGN,
    LP_SOLAR_KEY,
    SOLAR_CRM_PASSWORD,
    XML_LEGAL_KEY,
    DialectBuyers,
    form_of,
    xml_of,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "dialects"
WIRING_A_BUYER = Path(__file__).resolve().parents[2] / "docs" / "wiring-a-buyer.md"
SECRETS = (XML_LEGAL_KEY, GHL_FIRM_TOKEN, GHL_FIRM_WHSEC, SOLAR_CRM_PASSWORD, LP_SOLAR_KEY)


def example(name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text()))


def config_for(dialects: DialectBuyers, *names: str, router: dict[str, Any] | None = None) -> Any:
    raw = {
        "router": {"admin_token": ADMIN_TOKEN, "budget_ms": 3000, **(router or {})},
        "sellers": [{"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8}],
        "buyers": [buyer for name in names for buyer in example(name)],
    }
    return parse_config(raw, env=dialects.env())


def lead(name: str = "mva-legal", **fields: Any) -> dict[str, Any]:
    body = sample(name)
    body["lead_id"] = f"dialect-{uuid.uuid4().hex[:12]}"
    body.update(fields)
    return body


@pytest.fixture
async def dialects() -> AsyncIterator[DialectBuyers]:
    server = DialectBuyers()
    await server.start()
    yield server
    await server.close()


async def sell(router: Any, body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    status, answer, _ = await router.send(body)
    assert status == 200, answer
    return answer, await router.admin(answer["id"])


def trace(view: dict[str, Any], buyer_id: str) -> list[tuple[str, str, str | None]]:
    return [
        (e["step"], e["result"], e.get("reason"))
        for e in view["trace"]
        if e["buyer_id"] == buyer_id
    ]


# the XML buyer ---------------------------------------------------------------------------------


async def test_an_xml_buyer_bids_in_xml_and_buys_with_its_ping_token(dialects, start_router):
    router = await start_router(config_for(dialects, "xml-legal"))
    answer, view = await sell(router, lead())
    assert (answer["status"], view["buyer_id"], view["price"]) == ("sold", "xml-legal", 22.5)
    assert view["buyer_lead_id"] == "XL-991"
    assert trace(view, "xml-legal") == [("ping", "bid", None), ("post", "accepted", None)]

    (ping,) = dialects.calls("xml-legal/ping")
    document = xml_of(ping)
    assert ping.headers["Content-Type"].startswith("application/xml")
    assert (document.tag, document.get("version")) == ("lead", "2")
    assert document.findtext("state") == "Florida"
    assert document.findtext("case/type") == "MVA"
    assert document.findtext("case/injured") == "Yes"
    assert document.findtext("case/date") == "02/20/2026"
    assert document.findtext("test") == "0"
    for pii in ("Maria", "Gonzalez", "5551234", "maria.gonzalez"):
        assert pii not in ping.body.decode()

    (post,) = dialects.calls("xml-legal/post")
    sent = xml_of(post)
    assert sent.findtext("ping_token") == dialects.tokens[0]  # carried from the ping's answer
    assert sent.findtext("contact/phone") == "3055551234"
    assert sent.findtext("contact/first_name") == "Maria"
    assert sent.findtext("price") == "22.50"


@pytest.mark.parametrize(
    ("answer", "step", "result", "reason"),
    [
        ("unmatched", "ping", "declined", "declined"),
        ("html", "ping", "failed", "bad_response"),
    ],
)
async def test_an_xml_ping_refusal_or_an_error_page_is_never_a_bid(
    dialects, start_router, answer, step, result, reason
):
    dialects.xml_ping = answer
    router = await start_router(config_for(dialects, "xml-legal"))
    reply, view = await sell(router, lead())
    assert reply["status"] == "unsold"
    ((got_step, got_result, got_reason),) = trace(view, "xml-legal")
    assert (got_step, got_result, got_reason) == (step, result, reason)
    event = next(e for e in view["trace"] if e["buyer_id"] == "xml-legal")
    if answer == "html":  # the raw snippet is in the trace, for the operator to see why
        assert "Service Unavailable" in event["detail"]
    else:
        assert event["detail"] == "no demand"


async def test_xml_post_refusals_are_traced_with_their_reason(dialects, start_router):
    """A refusal the map names ends the post (`unsold` here, with no other buyer); a status word
    it does not know may be the buyer's yes: `post_unknown`, the lead `pending` (DESIGN §8)."""
    for answer, status, result, reason, detail in (
        ("duplicate", "unsold", "rejected", "duplicate", "seen in the last 30 days"),
        ("rejected", "unsold", "rejected", "post_rejected", "outside service area"),
        (
            "gibberish",
            "pending",
            "unknown",
            "post_unknown",
            "HTTP 200, unknown answer: <response><status>Pending review</status></response>",
        ),
    ):
        dialects.xml_post = answer
        router = await start_router(config_for(dialects, "xml-legal"))
        reply, view = await sell(router, lead())
        assert reply["status"] == status, answer
        post = next(e for e in view["trace"] if e["step"] == "post")
        assert (post["result"], post["reason"]) == (result, reason), answer
        assert detail in post["detail"]


async def test_an_xml_buyer_naming_its_dtd_is_read_and_buys(dialects, start_router):
    """Real buyers put `<!DOCTYPE response SYSTEM "https://…dtd">` after the declaration of
    every answer: it is read (the DTD is not fetched), the bid and the sale go through."""
    dialects.xml_doctype = '<!DOCTYPE response SYSTEM "https://buyer.example/dtd/response.dtd">'
    router = await start_router(config_for(dialects, "xml-legal"))
    answer, view = await sell(router, lead())
    assert (answer["status"], view["buyer_id"], view["price"]) == ("sold", "xml-legal", 22.5)
    assert view["buyer_lead_id"] == "XL-991"
    assert trace(view, "xml-legal") == [("ping", "bid", None), ("post", "accepted", None)]


# the webhook buyer -----------------------------------------------------------------------------


async def test_a_fixed_price_webhook_gets_a_signed_bearer_post_with_custom_fields(
    dialects, start_router
):
    router = await start_router(config_for(dialects, "ghl-webhook"))
    answer, view = await sell(router, lead())
    assert (answer["status"], view["buyer_id"], view["price"]) == ("sold", "ghl-firm", 45.0)
    assert view["buyer_lead_id"].startswith("c_")
    assert dialects.signatures_ok == [True]  # verified by the standardwebhooks package

    (post,) = dialects.calls("ghl")
    body = orjson.loads(post.body)
    assert post.headers["Authorization"] == f"Bearer {GHL_FIRM_TOKEN}"
    assert post.headers["webhook-id"] == f"{answer['id']}-ghl-firm"
    assert {k: body[k] for k in ("firstName", "lastName", "phone", "state", "postalCode")} == {
        "firstName": "Maria",
        "lastName": "Gonzalez",
        "phone": "+13055551234",
        "state": "FL",
        "postalCode": "33101",
    }
    assert body["customField"] == {
        "accident_date": "02/20/2026",
        "injured": "yes",
        "treatment": "Emergency room",
        "trustedform": "https://cert.trustedform.com/0f3c9a7e2b1d4c5e",
        "lead_ref": answer["id"],
    }
    assert body["source"] == "pingtree"


async def test_a_webhook_error_status_is_a_rejection_not_a_sale(dialects, start_router):
    dialects.ghl_status = "error"
    router = await start_router(config_for(dialects, "ghl-webhook"))
    answer, view = await sell(router, lead())
    assert answer["status"] == "unsold"
    assert trace(view, "ghl-firm")[-1] == ("post", "rejected", "post_rejected")


# the form-encoded CRM --------------------------------------------------------------------------


async def test_a_form_crm_bids_in_plain_text_and_takes_the_lead_form_encoded(
    dialects, start_router
):
    router = await start_router(config_for(dialects, "crm-form"))
    answer, view = await sell(router, lead("solar"))
    assert (answer["status"], view["buyer_id"], view["price"]) == ("sold", "solar-crm", 14.5)
    assert view["buyer_lead_id"] == "48213"

    (ping,) = dialects.calls("crm/ping")
    assert form_of(ping) == {
        "State": "Arizona",
        "Zip3": "850",
        "Homeowner": "1",
        "Bill": "240",
        "Shade": "No shade",
    }
    (post,) = dialects.calls("crm/post")
    form = form_of(post)
    assert form["Mobile"] == "(602) 555-0147"
    assert (form["FirstName"], form["City"], form["State"]) == ("John", "Phoenix", "Arizona")
    assert (form["Price"], form["LeadRef"]) == ("14.50", answer["id"])


@pytest.mark.parametrize(
    ("ping", "post", "status", "reason"),
    [
        ("NO BID", "OK 1", "unsold", "no_valid_bid"),
        ("BID $9.75", "ERROR Duplicate lead", "unsold", "no_buyer_accepted"),
        ("BID free", "OK 1", "unsold", "no_valid_bid"),
        ("<html>502 Bad Gateway</html>", "OK 1", "unsold", "no_valid_bid"),
    ],
)
async def test_text_answers_are_read_strictly(dialects, start_router, ping, post, status, reason):
    dialects.crm_ping, dialects.crm_post = ping, post
    router = await start_router(config_for(dialects, "crm-form"))
    answer, view = await sell(router, lead("solar"))
    assert (answer["status"], view["reason"]) == (status, reason)
    if "Duplicate" in post:
        assert trace(view, "solar-crm")[-1] == ("post", "rejected", "duplicate")


# the LeadsPedia-style buyer: the ping's id in the post's query (DESIGN §8b) ---------------------

IP = "203.0.113.7"


async def test_the_post_sends_the_pings_id_back_in_its_query_string(dialects, start_router):
    router = await start_router(config_for(dialects, "ping-id-query"))
    answer, view = await sell(router, lead("solar", ip_address=IP))
    assert (answer["status"], view["buyer_id"], view["price"]) == ("sold", "lp-solar", 18.25)
    assert view["buyer_lead_id"] == "LP-5150"
    assert trace(view, "lp-solar") == [("ping", "bid", None), ("post", "accepted", None)]

    (ping,) = dialects.calls("lp/ping")
    assert ping.query == {"lp_campaign_id": LP_SOLAR_CAMPAIGN, "lp_campaign_key": LP_SOLAR_KEY}
    assert form_of(ping) == {
        "state": "AZ",
        "zip_code": "85004",
        "ip_address": IP,  # the buyer's ping_pii_allowed
        "residence_ownership": "Own",
        "average_utility_bill": "240",
        "lp_test": "0",
    }
    (post,) = dialects.calls("lp/post")
    assert post.query == {
        "lp_campaign_id": LP_SOLAR_CAMPAIGN,
        "lp_campaign_key": LP_SOLAR_KEY,
        "lp_ping_id": dialects.lp_ping_ids[0],  # carried from the ping's answer
    }
    assert form_of(post)["phone_home"] == "6025550147"
    ping_event = next(e for e in view["trace"] if e["step"] == "ping")
    assert ping_event["pii"] == ["ip_address"]  # the trace marks a ping carrying opted-in PII


async def test_a_carried_value_goes_into_a_post_header_too(dialects, start_router):
    buyers = example("ping-id-query")
    buyers[0]["post"]["headers"] = {"X-Ping-Token": {"from": "ping.ping_id"}}
    del buyers[0]["post"]["query"]["lp_ping_id"]
    raw = {
        "router": {"admin_token": ADMIN_TOKEN},
        "sellers": [{"id": "acme-media", "api_key": SELLER_KEY}],
        "buyers": buyers,
    }
    router = await start_router(parse_config(raw, env=dialects.env()))
    answer, view = await sell(router, lead("solar", ip_address=IP))
    # This buyer wants the id in the query: without it, its refusal is traced as it came.
    assert answer["status"] == "unsold"
    post = next(e for e in view["trace"] if e["step"] == "post")
    assert (post["result"], post["detail"]) == ("rejected", "Invalid lp_ping_id")
    (sent,) = dialects.calls("lp/post")
    assert sent.headers["X-Ping-Token"] == dialects.lp_ping_ids[0]
    assert "lp_ping_id" not in sent.query


def test_a_post_reading_a_value_the_ping_does_not_carry_is_refused_at_load(dialects):
    buyers = example("ping-id-query")
    buyers[0]["post"]["query"]["lp_ping_id"] = {"from": "ping.order_id"}
    buyers[0]["post"]["headers"] = {"X-Ping-Token": {"from": "ping.token", "default": "none"}}
    raw = {"sellers": [{"id": "s", "api_key": "12345678"}], "buyers": buyers}
    with pytest.raises(ConfigError) as raised:
        parse_config(raw, env=dialects.env())
    assert raised.value.errors == [
        (
            "buyers[0:lp-solar].post.query.lp_ping_id.from",
            "'ping.order_id': the ping's answer carries no 'order_id' (its carry: ping_id)",
        ),
        (
            "buyers[0:lp-solar].post.headers.X-Ping-Token.from",
            "'ping.token': the ping's answer carries no 'token' (its carry: ping_id)",
        ),
    ]


# sandbox, secrets, the docs -------------------------------------------------------------------


async def test_a_test_lead_goes_to_the_buyers_sandbox(dialects, start_router):
    buyers = example("crm-form")
    buyers[0]["ping"]["sandbox_url"] = dialects.base("/sandbox/crm/ping")
    buyers[0]["post"]["sandbox_url"] = dialects.base("/sandbox/crm/post")
    raw = {
        "router": {"admin_token": ADMIN_TOKEN},
        "sellers": [{"id": "acme-media", "api_key": SELLER_KEY}],
        "buyers": buyers,
    }
    router = await start_router(parse_config(raw, env=dialects.env()))
    _, view = await sell(router, lead("solar", test=True))
    assert view["status"] == "sold"
    assert len(dialects.calls("sandbox/crm/ping")) == 1
    assert dialects.calls("crm/ping") == [] and dialects.calls("crm/post") == []
    await sell(router, lead("solar"))
    assert len(dialects.calls("crm/ping")) == 1  # a live lead goes live


async def test_no_secret_of_the_examples_reaches_a_response_or_a_trace(dialects, start_router):
    dialects.xml_ping = "html"
    router = await start_router(
        config_for(dialects, "xml-legal", "ghl-webhook", "crm-form", "ping-id-query")
    )
    pages = []
    for body in (lead(), lead("solar"), lead("solar", ip_address=IP)):
        answer, view = await sell(router, body)
        pages += [orjson.dumps(answer), orjson.dumps(view)]
    async with router.session.get(router.url("/metrics")) as r:
        pages.append(await r.read())
    for secret in SECRETS:
        assert all(secret.encode() not in page for page in pages)


def test_a_ping_mapping_that_reads_pii_is_refused_at_load(dialects):
    buyers = example("xml-legal")
    buyers[0]["ping"]["fields"].append({"to": "phone", "from": "phone"})
    raw = {"sellers": [{"id": "s", "api_key": "12345678"}], "buyers": buyers}
    with pytest.raises(ConfigError) as raised:
        parse_config(raw, env=dialects.env())
    assert raised.value.errors == [
        (
            "buyers[0:xml-legal].ping.fields[10].from",
            "'phone' is PII: it can go in a post, never in a ping",
        )
    ]


@pytest.mark.parametrize("name", ["xml-legal", "ghl-webhook", "crm-form", "ping-id-query"])
def test_the_docs_show_each_worked_example_as_tested(name):
    assert (EXAMPLES / f"{name}.yaml").read_text() in WIRING_A_BUYER.read_text()


# pingtree try ----------------------------------------------------------------------------------


def _write_config(tmp_path: Path, *names: str) -> Path:
    raw = {
        "router": {"admin_token": "${PINGTREE_ADMIN_TOKEN:-admin-token-1234}"},
        "sellers": [{"id": "acme-media", "api_key": SELLER_KEY}],
        "buyers": [buyer for name in names for buyer in example(name)],
    }
    path = tmp_path / "buyers.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


async def _try(monkeypatch, dialects, capsys, *argv: str) -> tuple[int, str, str]:
    for name, value in dialects.env().items():
        monkeypatch.setenv(name, value)
    code = await asyncio.to_thread(main, ["try", *argv])
    out, err = capsys.readouterr()
    return code, out, err


async def test_try_shows_the_exact_ping_and_post_with_secrets_masked(
    dialects, tmp_path, monkeypatch, capsys
):
    config = _write_config(tmp_path, "xml-legal", "ghl-webhook")
    lead_file = tmp_path / "lead.json"
    lead_file.write_bytes(orjson.dumps(lead()))
    code, out, _ = await _try(
        monkeypatch,
        dialects,
        capsys,
        "xml-legal",
        "--config",
        str(config),
        "--lead",
        str(lead_file),
    )
    assert code == 0
    assert f"--- ping to xml-legal: POST {dialects.base('/xml-legal')}/ping" in out
    assert "<state>Florida</state>" in out and "<key>***</key>" in out
    assert "<phone>3055551234</phone>" in out.split("--- post")[1]  # PII only in the post
    assert "Maria" not in out.split("--- post")[0]
    assert dialects.calls("xml-legal/ping") == []  # without --send nothing is sent
    code, out, _ = await _try(
        monkeypatch, dialects, capsys, "ghl-firm", "--config", str(config), "--lead", str(lead_file)
    )
    assert "Authorization: Bearer ***" in out and "webhook-signature: ***" in out
    for secret in SECRETS:
        assert secret not in out


async def test_try_send_shows_the_raw_answers_and_how_they_were_read(
    dialects, tmp_path, monkeypatch, capsys
):
    config = _write_config(tmp_path, "xml-legal")
    lead_file = tmp_path / "lead.json"
    lead_file.write_bytes(orjson.dumps(lead()))
    argv = ("xml-legal", "--config", str(config), "--lead", str(lead_file), "--send")
    code, out, _ = await _try(monkeypatch, dialects, capsys, *argv)
    assert code == 0, out
    assert "<status>Matched</status>" in out  # the raw answer
    assert "read as: bid 22.50, carried {'token': 'tok-1'}" in out
    assert "<ping_token>tok-1</ping_token>" in out.split("--- post")[1]
    assert "read as: accepted (buyer lead id XL-991" in out
    dialects.xml_ping = "html"
    code, out, _ = await _try(monkeypatch, dialects, capsys, *argv)
    assert code == 1
    assert "read as: failure (bad_response): not XML" in out or "failure (bad_response)" in out
    assert XML_LEGAL_KEY not in out


async def test_try_without_send_shows_carried_values_as_placeholders(
    dialects, tmp_path, monkeypatch, capsys
):
    config = _write_config(tmp_path, "xml-legal", "ping-id-query")
    raw = yaml.safe_load(config.read_text())
    raw["buyers"][1]["post"]["headers"] = {"X-Ping-Token": {"from": "ping.ping_id"}}
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    lead_file = tmp_path / "lead.json"
    lead_file.write_bytes(orjson.dumps(lead("solar", ip_address=IP)))
    argv = ("lp-solar", "--config", str(config), "--lead", str(lead_file))
    code, out, _ = await _try(monkeypatch, dialects, capsys, *argv)
    assert code == 0, out
    post = out.split("--- post")[1]
    base = dialects.base("/lp")
    assert (
        f"{base}/post.do?lp_campaign_id=***&lp_campaign_key=***&lp_ping_id=<carried:ping_id>"
        in post
    )
    assert "X-Ping-Token: <carried:ping_id>" in post
    assert LP_SOLAR_KEY not in out and LP_SOLAR_CAMPAIGN not in out
    assert dialects.calls("lp/ping") == []  # nothing was sent

    lead_file.write_bytes(orjson.dumps(lead()))
    argv = ("xml-legal", "--config", str(config), "--lead", str(lead_file))
    code, out, _ = await _try(monkeypatch, dialects, capsys, *argv)
    assert code == 0, out
    assert "<ping_token><carried:token></ping_token>" in out.split("--- post")[1]


async def test_try_a_buyer_by_assignment_and_a_ping_that_cannot_be_built(
    dialects, tmp_path, monkeypatch, capsys
):
    """A delivery buyer (fixed price, no ping, no post) is named with where the lead goes; a ping
    whose mapping fails for this lead says so, and nothing is sent."""
    unbuildable = {"url": dialects.base("/odd/ping"), "format": "form"}
    unbuildable["fields"] = [{"to": "When", "from": "state", "transform": "date:%m/%d/%Y"}]
    raw = {
        "router": {"admin_token": "${PINGTREE_ADMIN_TOKEN:-admin-token-1234}"},
        "sellers": [{"id": "acme-media", "api_key": SELLER_KEY}],
        "buyers": [
            {
                "id": "flat-firm",
                "pricing": "fixed",
                "price": 30,
                "deliveries": [{"id": "intake", "url": dialects.base("/intake")}],
            },
            {"id": "odd", "ping": unbuildable, "post": {"url": dialects.base("/odd/post")}},
        ],
    }
    config = tmp_path / "buyers.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    lead_file = tmp_path / "lead.json"
    lead_file.write_bytes(orjson.dumps(lead()))
    argv = ("--config", str(config), "--lead", str(lead_file), "--send")
    code, out, _ = await _try(monkeypatch, dialects, capsys, "flat-firm", *argv)
    assert code == 0, out
    assert "no post: flat-firm buys by assignment; the lead goes to: intake" in out
    code, out, _ = await _try(monkeypatch, dialects, capsys, "odd", *argv)
    assert code == 1
    assert "ping: cannot be built: When: date:%m/%d/%Y" in out
    assert "--- post" not in out and dialects.calls("odd/ping") == []


async def test_try_names_the_buyers_when_the_one_asked_for_is_unknown(
    dialects, tmp_path, monkeypatch, capsys
):
    config = _write_config(tmp_path, "crm-form")
    argv = ("nobody", "--config", str(config), "--lead", str(SAMPLES / "solar.json"))
    code, _, err = await _try(monkeypatch, dialects, capsys, *argv)
    assert code == 2 and "no buyer 'nobody' (buyers: solar-crm)" in err
