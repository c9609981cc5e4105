"""Exchange mode end to end (DESIGN §14): a seller pings with the anonymized lead, is quoted, and
posts the full lead to the held bids. A real pingtree on a loopback port, real local buyers; one
story runs two `pingtree serve` processes on one real Redis, the ping on one, the post on the
other; the last reads the quotes on record (the operator API, the console)."""

from __future__ import annotations

import asyncio
import re
import uuid
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import aiohttp

from pingtree.config import Config
from pingtree.core.lead import PII_FIELDS
from pingtree.web.keys import LEDGER_WRITER, STORE
from tests.conftest import (
    ADMIN_TOKEN,
    OTHER_KEY,
    SELLER_KEY,
    RouterClient,
    config_dict,
    make_buyer,
    make_config,
    sample,
)
from tests.e2e.router_processes import routers
from tests.web.documented import assert_documented
from tests.web.test_console_sessions import log_in

# The sample's PII values: none may reach a buyer's ping or the held bids.
PII_VALUES = ("Maria", "Gonzalez", "3055551234", "maria.gonzalez", "198.51.100.42", "0f3c9a7e")


def full_lead(**fields: Any) -> dict[str, Any]:
    body = sample("mva-legal")
    body["lead_id"] = f"x-{uuid.uuid4().hex[:12]}"
    body.update(fields)
    return body


def anonymized(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in full_lead(**fields).items() if k not in PII_FIELDS}


async def call(
    router: RouterClient, path: str, body: dict[str, Any], key: str = SELLER_KEY
) -> tuple[int, dict[str, Any], Any]:
    async with router.session.post(router.url(path), json=body, headers={"X-API-Key": key}) as r:
        return r.status, await r.json(), r.headers


async def ping(router: RouterClient, body: dict[str, Any], key: str = SELLER_KEY) -> dict[str, Any]:
    status, answer, _ = await call(router, "/v1/ping", body, key)
    assert status == 200, answer
    assert_documented("/v1/ping", "post", 200, "application/json", answer)
    return answer


async def post(
    router: RouterClient, ping_id: str, body: dict[str, Any], key: str = SELLER_KEY
) -> tuple[int, dict[str, Any], Any]:
    """The post's answer, held against /openapi.json whatever it is."""
    status, answer, headers = await call(router, "/v1/post", {**body, "ping_id": ping_id}, key)
    assert_documented("/v1/post", "post", status, "application/json", answer)
    return status, answer, headers


async def form(router: RouterClient, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with router.session.post(
        router.url(path),
        data=urlencode(body),
        headers={"X-API-Key": SELLER_KEY, "Content-Type": "application/x-www-form-urlencoded"},
    ) as r:
        return r.status, await r.json()


def exchange_config(buyers: Any, *buyer_entries: dict[str, Any], **seller: Any) -> Config:
    sellers = [
        {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8, **seller},
        {"id": "other-media", "api_key": OTHER_KEY, "payout": 5},
    ]
    return make_config(list(buyer_entries), sellers=sellers)


async def test_a_ping_is_quoted_and_its_post_sells_to_the_held_bid(buyers, start_router):
    buyers.set("a", bid=30)
    buyers.set("b", bid=20)
    config = exchange_config(buyers, make_buyer("a", buyers), make_buyer("b", buyers))
    router = await start_router(config)
    quoted = await ping(router, anonymized())
    assert quoted["accepted"] is True and quoted["bid"] == 24.0  # 30 x 0.8
    assert quoted["ping_id"].startswith("pg_") and quoted["expires_at"].endswith("Z")
    assert not buyers.recorded("a").posts  # a ping posts nothing

    status, answer, _ = await post(router, quoted["ping_id"], full_lead())
    assert status == 200, answer
    assert answer["status"] == "sold" and answer["payout"] == 24.0
    assert len(buyers.recorded("a").pings) == 1  # no new pings at the post
    assert "3055551234" in str(buyers.recorded("a").posts[0])  # the post is the full lead
    view = await router.admin(answer["id"])
    assert view["buyer_id"] == "a" and view["price"] == 30.0
    ping_steps = [e for e in view["trace"] if e["step"] == "ping"]
    assert {e["buyer_id"] for e in ping_steps} == {"a", "b"}
    assert all(e["at_ms"] <= 0 for e in ping_steps)  # before the post's receipt
    async with router.session.get(
        router.url(f"/v1/leads/{answer['id']}"), headers={"X-API-Key": SELLER_KEY}
    ) as r:
        assert r.status == 200 and (await r.json())["status"] == "sold"


async def test_pings_are_counted_by_seller_and_whether_quoted(buyers, start_router):
    buyers.set("a", bid=None)  # no bid: no quote
    router = await start_router(exchange_config(buyers, make_buyer("a", buyers)))
    assert (await ping(router, anonymized()))["accepted"] is False
    buyers.set("a", bid=30)
    assert (await ping(router, anonymized()))["accepted"] is True
    assert (await ping(router, anonymized()))["accepted"] is True
    async with router.session.get(router.url("/metrics")) as r:
        metrics = await r.text()
    assert 'pingtree_quotes_total{accepted="false",seller="acme-media"} 1.0' in metrics
    assert 'pingtree_quotes_total{accepted="true",seller="acme-media"} 2.0' in metrics


async def test_the_quote_is_rounded_down_to_the_price_step_and_never_exceeded(buyers, start_router):
    buyers.set("a", bid=30.7)  # x 0.8 = 24.56: quoted 24.5 on a 0.5 step
    config = exchange_config(buyers, make_buyer("a", buyers), price_step=0.5)
    router = await start_router(config)
    quoted = await ping(router, anonymized())
    assert quoted["bid"] == 24.5
    _, answer, _ = await post(router, quoted["ping_id"], full_lead())
    assert answer["status"] == "sold" and answer["payout"] == 24.5  # not 24.56


async def test_a_later_tier_paying_more_than_the_quote_pays_the_quote(buyers, start_router):
    # Tier 1 bids 10 (quoted 8) and refuses the post; tier 2's 30 buys: paid the quote, not 24.
    buyers.set("first", bid=10, accept_post=False)
    buyers.set("second", bid=30)
    config = exchange_config(
        buyers, make_buyer("first", buyers), make_buyer("second", buyers, priority=2)
    )
    router = await start_router(config)
    quoted = await ping(router, anonymized())
    assert quoted["bid"] == 8.0
    _, answer, _ = await post(router, quoted["ping_id"], full_lead())
    assert answer["status"] == "sold" and answer["payout"] == 8.0
    view = await router.admin(answer["id"])
    assert view["buyer_id"] == "second" and Decimal(str(view["payout"])) <= Decimal("8")


async def test_a_fallback_below_the_quote_sells_at_its_own_payout(buyers, start_router):
    buyers.set("best", bid=30, accept_post=False)
    buyers.set("next", bid=20)
    config = exchange_config(buyers, make_buyer("best", buyers), make_buyer("next", buyers))
    router = await start_router(config)
    quoted = await ping(router, anonymized())
    _, answer, _ = await post(router, quoted["ping_id"], full_lead())
    assert quoted["bid"] == 24.0 and answer["status"] == "sold" and answer["payout"] == 16.0


async def test_a_post_after_the_earliest_bid_expiry_is_gone(buyers, start_router):
    buyers.set("a", bid=30, expires_in_ms=300)
    router = await start_router(exchange_config(buyers, make_buyer("a", buyers)))
    quoted = await ping(router, anonymized())
    await asyncio.sleep(0.5)
    status, answer, _ = await post(router, quoted["ping_id"], full_lead())
    assert status == 410 and answer["error"] == "ping_expired", answer
    assert not buyers.recorded("a").posts


async def test_a_post_whose_non_pii_fields_differ_is_a_mismatch(buyers, start_router):
    buyers.set("a", bid=30)
    router = await start_router(exchange_config(buyers, make_buyer("a", buyers)))
    quoted = await ping(router, anonymized())
    status, answer, _ = await post(router, quoted["ping_id"], full_lead(zip="33102"))
    assert status == 409 and answer["error"] == "ping_mismatch", answer
    assert set(answer["fields"]) == {"zip"}
    # PII may differ freely (the ping had none), and the right lead still sells afterwards.
    status, answer, _ = await post(router, quoted["ping_id"], full_lead(first_name="Ana"))
    assert status == 200 and answer["status"] == "sold", answer


async def test_an_unknown_ping_or_another_sellers_is_not_found(buyers, start_router):
    buyers.set("a", bid=30)
    router = await start_router(exchange_config(buyers, make_buyer("a", buyers)))
    status, answer, _ = await post(router, "pg_unknown", full_lead())
    assert status == 404 and answer["error"] == "ping_not_found"
    quoted = await ping(router, anonymized())
    status, answer, _ = await post(router, quoted["ping_id"], full_lead(), key=OTHER_KEY)
    assert status == 404 and answer["error"] == "ping_not_found"
    status, answer, _ = await call(router, "/v1/post", full_lead())
    assert status == 422 and "ping_id" in answer["fields"]


async def test_pii_sent_in_a_ping_reaches_no_buyer_and_is_not_held(buyers, start_router):
    buyers.set("a", bid=30)
    router = await start_router(exchange_config(buyers, make_buyer("a", buyers)))
    body = full_lead(mobile="305-555-1234", phone="3055551234")
    status, quoted = await form(router, "/v1/ping", body)
    assert status == 200, quoted
    assert quoted["accepted"] is True
    raw = buyers.recorded("a").raw_pings[0].decode()
    held = await router.app[STORE].held_bids().get("acme-media", quoted["ping_id"])
    assert held is not None
    for value in PII_VALUES:
        assert value not in raw and value.encode() not in held, value
    assert "mobile" not in raw  # it repeats the phone sent beside it
    assert "case_type" in raw  # the lead's other facts are pinged
    # The post carries the PII, `mobile` with it: the same lead, sold.
    status, answer = await form(router, "/v1/post", {**body, "ping_id": quoted["ping_id"]})
    assert status == 200 and answer["status"] == "sold", answer


async def test_a_resent_post_returns_the_first_answer(buyers, start_router):
    buyers.set("a", bid=30)
    router = await start_router(exchange_config(buyers, make_buyer("a", buyers)))
    quoted = await ping(router, anonymized())
    lead = full_lead()
    first = await post(router, quoted["ping_id"], lead)
    again = await post(router, quoted["ping_id"], lead)
    assert first[0] == again[0] == 200 and first[1] == again[1]
    assert again[2].get("Idempotent-Replayed") == "true"
    assert len(buyers.recorded("a").posts) == 1


async def test_caps_are_reserved_at_the_post_not_the_ping(buyers, start_router):
    buyers.set("capped", bid=30)
    buyers.set("open", bid=10)
    config = exchange_config(
        buyers, make_buyer("capped", buyers, caps={"daily": 1}), make_buyer("open", buyers)
    )
    router = await start_router(config)
    first = await ping(router, anonymized())
    second = await ping(router, anonymized())
    assert first["bid"] == second["bid"] == 24.0  # both quoted on the capped buyer's bid
    _, sold_first, _ = await post(router, first["ping_id"], full_lead())
    _, sold_second, _ = await post(router, second["ping_id"], full_lead(phone="+13055559876"))
    assert (await router.admin(sold_first["id"]))["buyer_id"] == "capped"
    view = await router.admin(sold_second["id"])
    assert view["buyer_id"] == "open" and sold_second["payout"] == 8.0
    skipped = [e for e in view["trace"] if e["buyer_id"] == "capped" and e["step"] == "post"]
    assert [(e["result"], e["reason"]) for e in skipped] == [("skipped", "cap:daily")]


async def test_a_post_to_another_router_than_the_ping_sells(buyers, redis_url, tmp_path):
    # Two `pingtree serve` processes on one Redis: the ping held on one, posted on the other.
    buyers.set("a", bid=30)
    sellers = [{"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8}]
    config = config_dict([make_buyer("a", buyers)], sellers=sellers)
    lead = full_lead()
    async with routers(tmp_path) as start, aiohttp.ClientSession() as session:
        one, two = await start(config, redis_url, count=2)

        async def call_on(base: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
            headers = {"X-API-Key": SELLER_KEY}
            async with session.post(f"{base}{path}", json=body, headers=headers) as r:
                return r.status, await r.json()

        status, quoted = await call_on(one.base, "/v1/ping", anonymized())
        assert status == 200 and quoted["accepted"] is True, quoted
        posted = {**lead, "ping_id": quoted["ping_id"]}
        status, answer = await call_on(two.base, "/v1/post", posted)
        assert status == 200 and answer["status"] == "sold" and answer["payout"] == 24.0, answer
        again = await call_on(one.base, "/v1/post", posted)  # the answer is shared too
    assert again == (200, answer) and len(buyers.recorded("a").posts) == 1


async def test_quotes_are_on_record_with_the_lead_each_became(buyers, start_router):
    buyers.set("a", bid=30)
    config = exchange_config(buyers, make_buyer("a", buyers, verticals=["mva"]))
    router = await start_router(config)
    quoted = await ping(router, anonymized(sub_id="aff-7"))
    refused = await ping(router, anonymized(vertical="solar"))
    never_posted = await ping(router, anonymized())
    _, answer, _ = await post(router, quoted["ping_id"], full_lead(sub_id="aff-7"))
    assert refused["accepted"] is False and never_posted["accepted"] is True
    assert await router.app[LEDGER_WRITER].drain()

    view = await router.admin(answer["id"])
    assert_documented("/admin/leads/{id}", "get", 200, "application/json", view)
    assert view["quote"] == {
        "ping_id": quoted["ping_id"],
        "seller_id": "acme-media",
        "sub_id": "aff-7",
        "vertical": "mva",
        "quoted_at": view["quote"]["quoted_at"],
        "accepted": True,
        "bid": 24.0,
        "reason": None,
        "expires_at": quoted["expires_at"],
        "test": False,
        "lead_id": answer["id"],
    }
    async with router.session.get(
        router.url("/admin/quotes"), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as r:
        assert r.status == 200
        listed = await r.json()
    assert_documented("/admin/quotes", "get", 200, "application/json", listed)
    sellers = listed["sellers"]
    assert sellers == [
        {
            "seller_id": "acme-media",
            "quotes": 3,
            "accepted": 2,
            "posted": 1,
            "sold": 1,
            "post_rate": 0.5,
            "quoted": 48.0,
        }
    ]
    # The console's lead page: the quote, and a timeline of the post's calls only (the ping's
    # are in the trace, at negative times: on the timeline they would fall left of its axis).
    operator = SimpleNamespace(base=router.url("/").rstrip("/"), session=router.session)
    cookies, _ = await log_in(operator, ADMIN_TOKEN)  # type: ignore[arg-type]
    lead_page = router.url(f"/console/leads/{answer['id']}")
    async with router.session.get(lead_page, headers=cookies) as r:
        assert r.status == 200
        page = await r.text()
    assert 'id="quote"' in page and quoted["ping_id"] in page and "24.00" in page
    drawn = re.findall(r'data-step="(\w+)"', page)
    assert drawn == ["post"]
    # A lead sent to /v1/leads has no quote.
    _, plain, _ = await router.send(full_lead())
    assert await router.app[LEDGER_WRITER].drain()
    assert "quote" not in await router.admin(plain["id"])
    plain_page = router.url(f"/console/leads/{plain['id']}")
    async with router.session.get(plain_page, headers=cookies) as r:
        assert r.status == 200 and 'id="quote"' not in await r.text()


async def test_a_post_sells_exclusive_even_for_a_seller_that_sells_shared(buyers, start_router):
    buyers.set("a", bid=30)
    buyers.set("b", bid=20)
    config = exchange_config(
        buyers,
        make_buyer("a", buyers, shared=True),
        make_buyer("b", buyers, shared=True),
        sell="shared",
        max_buyers=2,
    )
    router = await start_router(config)
    _, by_leads, _ = await router.send(full_lead())  # /v1/leads sells it to both
    assert len(buyers.recorded("a").posts) == len(buyers.recorded("b").posts) == 1
    quoted = await ping(router, anonymized())
    _, answer, _ = await post(router, quoted["ping_id"], full_lead())
    assert answer["status"] == "sold" and answer["payout"] == 24.0
    assert len(buyers.recorded("a").posts) == 2 and len(buyers.recorded("b").posts) == 1
    assert by_leads["payout"] == 40.0  # (30 + 20) x 0.8


async def test_a_post_passes_the_compliance_gates_its_ping_could_not(
    buyers, start_router, tmp_path
):
    """A ping carries no consumer: consent evidence, the suppression lists and the outside
    checks' attributes are judged at the post, before any post goes out (DESIGN §16)."""
    buyers.set("a", bid=30)
    buyers.set("b", bid=20)
    optouts = tmp_path / "optouts.csv"
    optouts.write_text("email\nlisted.person@example.com\n")
    dnc = tmp_path / "dnc.csv"
    dnc.write_text("phone\n(305) 555-0101\n")
    suppression = [
        {"id": "dnc", "file": str(dnc), "match": "phone", "scope": "all"},
        {"id": "optouts", "file": str(optouts), "match": "email", "scope": ["a"]},
    ]
    seller = {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8}
    config = make_config(
        [make_buyer("a", buyers), make_buyer("b", buyers)],
        router={"dedup_secret": "exchange-gates-secret"},
        sellers=[{**seller, "consent": {"require": "trustedform"}}],
        suppression=suppression,
    )
    router = await start_router(config)
    certificate = "https://cert.trustedform.com/" + "0f3c9a7e" * 5

    # No certificate: quoted (a ping has none to show), refused at the post, nothing posted.
    quoted = await ping(router, anonymized())
    assert quoted["accepted"] is True
    _, answer, _ = await post(router, quoted["ping_id"], full_lead(trustedform_url=None))
    assert (answer["status"], answer["reason"]) == ("rejected", "consent_evidence")
    assert not buyers.recorded("a").posts and not buyers.recorded("b").posts

    # A phone on a list of scope all: rejected at the post.
    quoted = await ping(router, anonymized())
    body = full_lead(trustedform_url=certificate, phone="(305) 555-0101")
    _, answer, _ = await post(router, quoted["ping_id"], body)
    assert (answer["status"], answer["reason"]) == ("rejected", "suppressed")
    assert not buyers.recorded("a").posts and not buyers.recorded("b").posts

    # An email on a list scoped to a: a's held bid (the best) is skipped, b buys.
    quoted = await ping(router, anonymized())
    assert quoted["bid"] == 24.0  # a's 30 x 0.8: the quote knows nothing of the lists
    body = full_lead(trustedform_url=certificate, email="listed.person@example.com")
    _, answer, _ = await post(router, quoted["ping_id"], body)
    assert answer["status"] == "sold" and answer["payout"] == 16.0
    view = await router.admin(answer["id"])
    skipped = [e for e in view["trace"] if e["step"] == "post" and e["result"] == "skipped"]
    assert [(e["buyer_id"], e["reason"]) for e in skipped] == [("a", "suppressed")]
    assert view["buyer_id"] == "b" and not buyers.recorded("a").posts
