"""A buyer's own API and returns through HTTP (DESIGN §15), on a real router with its embedded
ledger and real local buyers: two buyers never see each other's leads; every return rule at its
edge (the window's last instant and one second after, a buyer's fractional window, the rate
exactly at the cap and one over, a second return, an unknown reason); the operator's queue; the
money in reports after returns and charge-backs, cent for cent; feedback, stats and self-pause.
The clock the API goes by is the test's (keys.CLOCK), so an edge is exact, not slept towards.
Pull with acknowledgements across a SIGKILL is test_buyer_pull_durable.py's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from pingtree.cli.main import main
from pingtree.config import parse_config
from pingtree.web.app import create_app
from pingtree.web.keys import CLOCK
from tests.buyers import BuyerServer
from tests.conftest import (
    ADMIN_TOKEN,
    OTHER_KEY,
    SELLER_KEY,
    RouterClient,
    ServeApp,
    config_dict,
    make_buyer,
)
from tests.e2e.router_processes import consumer
from tests.web.documented import assert_documented

KEY_A = "firm-a-portal-key"
KEY_B = "firm-b-portal-key"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
VIEWER_TOKEN = "viewer-token-for-returns"
SELLERS = [
    {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8, "chargeback": True},
    {"id": "other-media", "api_key": OTHER_KEY, "payout": 20},
]


class Clock:
    """The API's time: the wall clock until a test sets it."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or datetime.now(UTC)


Market = Callable[..., Awaitable[tuple[RouterClient, Clock]]]


@pytest.fixture
def market(buyers: BuyerServer, serve_app: ServeApp) -> Market:
    """`await market(buyers=[...], returns={...})` → a router whose buyers firm-a (41.50, key
    KEY_A) and firm-b (22.25, KEY_B) have portals, and the clock its buyer API goes by."""

    async def start(
        buyer_fields: dict[str, dict[str, Any]] | None = None, **router: Any
    ) -> tuple[RouterClient, Clock]:
        buyers.set("firm-a", bid=41.5)
        buyers.set("firm-b", bid=22.25)
        fields = buyer_fields or {}
        entries = [
            make_buyer("firm-a", buyers, portal={"api_key": KEY_A}, **fields.get("firm-a", {})),
            make_buyer(
                "firm-b",
                buyers,
                portal={"api_key": KEY_B, "self_pause": True},
                **fields.get("firm-b", {}),
            ),
        ]
        document = config_dict(
            entries,
            router={"dedup_secret": "buyer-api-tests-secret", **router},
            sellers=SELLERS,
            operators=[{"name": "vic", "token": VIEWER_TOKEN, "role": "viewer"}],
        )
        app = create_app(parse_config(document, env={}))
        clock = Clock()
        app[CLOCK] = clock
        return RouterClient(*await serve_app(app)), clock

    return start


async def call(
    router: RouterClient, method: str, path: str, key: str | None, body: Any = None
) -> tuple[int, Any]:
    """A buyer's (X-API-Key) or, with key None, the admin's request; money read as Decimal."""
    headers = ADMIN if key is None else {"X-API-Key": key}
    async with router.session.request(
        method, router.url(path), headers=headers, json=body
    ) as response:
        return response.status, json.loads(await response.text(), parse_float=Decimal)


async def sell(
    router: RouterClient, count: int, key: str = SELLER_KEY, first: int = 0
) -> list[str]:
    ids = []
    for n in range(first, first + count):
        status, body, _ = await router.send(consumer(n), key=key)
        assert (status, body["status"]) == (200, "sold"), body
        ids.append(body["id"])
    return ids


async def bought(router: RouterClient, key: str, count: int) -> list[dict[str, Any]]:
    """The buyer's lead list once the ledger's writer has filed `count` of its leads."""
    async with asyncio.timeout(10):
        while True:
            status, page = await call(router, "GET", "/v1/buyer/leads?limit=500", key)
            assert status == 200, page
            if len(page["leads"]) >= count:
                return list(page["leads"])
            await asyncio.sleep(0.05)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_two_buyers_never_see_each_others_leads(market: Market) -> None:
    router, _ = await market({"firm-a": {"caps": {"daily": 2}}})
    ids = await sell(router, 5)  # firm-a's cap takes two; firm-b buys the other three
    mine, theirs = await bought(router, KEY_A, 2), await bought(router, KEY_B, 3)
    assert [lead["id"] for lead in mine] == ids[:2]  # oldest sale first
    assert [lead["id"] for lead in theirs] == ids[2:]
    first = mine[0]
    assert (first["price"], first["seller"], first["return"]) == (
        Decimal("41.50"),
        "acme-media",
        None,
    )
    assert first["lead"]["phone"] == "+13055551000"  # in full: the lead as posted
    assert first["lead"]["email"] == "c0@example.com"

    for lead_id in ids[2:]:  # firm-b's leads do not exist for firm-a, whatever it asks
        assert (await call(router, "GET", f"/v1/buyer/leads/{lead_id}", KEY_A))[0] == 404
        returned = await call(router, "POST", f"/v1/buyer/leads/{lead_id}/return", KEY_A,
                              {"reason": "fraud"})  # fmt: skip
        assert returned[0] == 404, returned
        feedback = {"event": "converted", "value": 100}
        assert (await call(router, "POST", f"/v1/buyer/leads/{lead_id}/feedback", KEY_A, feedback))[
            0
        ] == 404
    status, one = await call(router, "GET", f"/v1/buyer/leads/{ids[0]}", KEY_A)
    assert (status, one["id"]) == (200, ids[0])

    # Pages of one: every lead once, in order; a seller's key or none is no buyer's.
    seen, cursor = [], ""
    while cursor is not None:
        page = (await call(router, "GET", f"/v1/buyer/leads?limit=1&cursor={cursor}", KEY_B))[1]
        seen += [lead["id"] for lead in page["leads"]]
        cursor = page["next_cursor"]
    assert seen == ids[2:]
    assert (await call(router, "GET", "/v1/buyer/leads", SELLER_KEY))[0] == 401
    assert (await call(router, "GET", "/v1/buyer/leads", "not-a-key-at-all"))[0] == 401
    since = (await call(router, "GET", f"/v1/buyer/leads?since={theirs[2]['sold_at']}", KEY_B))[1]
    assert [lead["id"] for lead in since["leads"]] == ids[4:]


RULES = {
    "window_days": 3,
    "max_pct": 50,
    "reasons": ["bad_phone", "duplicate", "fraud"],
    "auto_approve": ["bad_phone"],
}


async def test_every_return_rule_at_its_edge(market: Market) -> None:
    """firm-a's own window is half a day (over the router's 3): open at its last instant,
    closed one second after; max_pct 50 of 4 sales: the second return is exactly at the cap,
    the third over it until one is denied; a second return of a lead; an unknown reason."""
    router, clock = await market({"firm-a": {"returns": {"window_days": 0.5}}}, returns=RULES)
    ids = await sell(router, 4)
    leads = {lead["id"]: lead for lead in await bought(router, KEY_A, 4)}
    sold_at = {lead_id: at(leads[lead_id]["sold_at"]) for lead_id in ids}

    async def claim(
        lead_id: str, reason: str = "duplicate", after: timedelta = timedelta()
    ) -> tuple[int, Any]:
        clock.at = sold_at[lead_id] + after
        body = {"reason": reason, "note": "the number rings a fax"}
        return await call(router, "POST", f"/v1/buyer/leads/{lead_id}/return", KEY_A, body)

    half_day = timedelta(hours=12)
    closed = await claim(ids[1], after=half_day + timedelta(seconds=1))
    assert (closed[0], closed[1]["error"]) == (422, "return_window_closed")
    status, first = await claim(ids[0], after=half_day)  # the window's last instant
    assert (status, first["status"], first["amount"]) == (201, "pending", Decimal("41.50"))
    again = await claim(ids[0], reason="fraud")
    assert (again[0], again[1]["error"]) == (409, "already_returned")
    unknown = await claim(ids[1], reason="changed_my_mind")
    assert (unknown[0], unknown[1]["error"]) == (422, "unknown_reason")

    status, second = await claim(ids[1], reason="bad_phone")  # 2 of 4: exactly at the cap
    assert (status, second["status"], second["decided_by"]) == (201, "approved", "auto")
    over = await claim(ids[2])  # 3 of 4 would pass 50 %
    assert (over[0], over[1]["error"]) == (422, "return_rate_exceeded")
    denied = await call(router, "POST", f"/admin/returns/{first['id']}/deny", None)
    assert (denied[0], denied[1]["status"], denied[1]["decided_by"]) == (200, "denied", "admin")
    status, third = await claim(ids[2])  # a denied return no longer counts
    assert (status, third["status"]) == (201, "pending")
    page = (await call(router, "GET", "/v1/buyer/leads", KEY_A))[1]
    listed = page["leads"]
    assert [lead["return"] and lead["return"]["status"] for lead in listed] == [
        "denied", "approved", "pending", None,
    ]  # fmt: skip
    # Real answers as /openapi.json documents them.
    assert_documented("/v1/buyer/leads", "get", 200, "application/json", _plain(page))
    assert_documented("/v1/buyer/leads/{id}/return", "post", 201, "application/json", _plain(third))
    assert_documented("/v1/buyer/leads/{id}/return", "post", 422, "application/json", over[1])
    queue = (await call(router, "GET", "/admin/returns", None))[1]
    assert_documented("/admin/returns", "get", 200, "application/json", _plain(queue))


def _plain(body: Any) -> Any:
    """Money read as Decimal, as JSON has it (a number) for a schema."""
    return json.loads(json.dumps(body, default=float))


async def test_the_operator_queue_and_the_money_in_reports_cent_for_cent(market: Market) -> None:
    """firm-a buys four leads at 41.50: two of acme-media (revshare 0.8: payout 33.20,
    chargeback: true), two of other-media (payout 20, no chargeback). Three are returned: one
    auto-approved (acme), one approved by the operator (other), one denied (acme)."""
    router, _ = await market(returns={**RULES, "max_pct": None})
    acme = await sell(router, 2)
    other = await sell(router, 2, key=OTHER_KEY, first=10)
    await bought(router, KEY_A, 4)

    async def claim(lead_id: str, reason: str) -> dict[str, Any]:
        status, body = await call(
            router, "POST", f"/v1/buyer/leads/{lead_id}/return", KEY_A, {"reason": reason}
        )
        assert status == 201, body
        return dict(body)

    assert (await claim(acme[0], "bad_phone"))["status"] == "approved"
    queued = [await claim(other[0], "fraud"), await claim(acme[1], "duplicate")]
    _, pending = await call(router, "GET", "/admin/returns?status=pending", None)
    assert [r["id"] for r in pending["returns"]] == [r["id"] for r in queued][::-1]  # newest first
    viewer = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    async with router.session.post(
        router.url(f"/admin/returns/{queued[0]['id']}/approve"), headers=viewer
    ) as r:
        assert r.status == 403
    assert (await call(router, "POST", f"/admin/returns/{queued[0]['id']}/approve", None))[0] == 200
    assert (await call(router, "POST", f"/admin/returns/{queued[1]['id']}/deny", None))[0] == 200
    twice = await call(router, "POST", f"/admin/returns/{queued[1]['id']}/approve", None)
    assert (twice[0], twice[1]["error"]) == (409, "return_decided")
    assert (await call(router, "GET", "/admin/returns?status=pending", None))[1]["returns"] == []
    async with router.session.get(router.url("/metrics")) as r:
        metrics = await r.text()
    for status, count in (("filed", 3), ("approved", 2), ("denied", 1)):
        assert f'pingtree_returns_total{{buyer="firm-a",status="{status}"}} {count}.0' in metrics

    by_buyer = (await call(router, "GET", "/admin/reports?by=buyer", None))[1]["rows"]
    (firm_a,) = [row for row in by_buyer if row["key"] == "firm-a"]
    assert (firm_a["wins"], firm_a["revenue"], firm_a["payout"]) == (
        4,
        Decimal("166.00"),
        Decimal("106.40"),
    )
    assert (firm_a["returns"], firm_a["returns_amount"]) == (2, Decimal("83.00"))
    assert (firm_a["net_revenue"], firm_a["chargebacks_amount"]) == (
        Decimal("83.00"),
        Decimal("33.20"),
    )
    assert firm_a["return_rate"] == Decimal("0.5")
    by_seller = {
        row["key"]: row
        for row in (await call(router, "GET", "/admin/reports?by=seller", None))[1]["rows"]
    }
    returned = {
        seller: (row["returns"], row["returns_amount"], row["chargebacks_amount"])
        for seller, row in by_seller.items()
    }
    assert returned == {
        "acme-media": (1, Decimal("41.50"), Decimal("33.20")),  # 0.8 x 41.50, charged back
        "other-media": (1, Decimal("41.50"), Decimal("0.00")),  # no chargeback: payout kept
    }
    stats = (await call(router, "GET", "/v1/buyer/stats", KEY_A))[1]
    assert (stats["sold"], stats["spent"], stats["refunded"]) == (
        4,
        Decimal("166.00"),
        Decimal("83.00"),
    )
    assert stats["returns"] == {"pending": 0, "approved": 2, "denied": 1}

    async with asyncio.timeout(10):  # the decisions are audited, by operator
        while True:
            entries = (await call(router, "GET", "/admin/audit?action=return_approve", None))[1][
                "entries"
            ]
            if entries:
                break
            await asyncio.sleep(0.05)
    assert [(e["operator"], e["target"]) for e in entries] == [("admin", queued[0]["id"])]


async def test_cli_lists_approves_and_denies_returns(
    market: Market, capsys: pytest.CaptureFixture[str]
) -> None:
    router, _ = await market(returns={**RULES, "max_pct": None})
    ids = await sell(router, 2)
    await bought(router, KEY_A, 2)
    queued = []
    for lead_id in ids:
        body = {"reason": "fraud"}
        status, filed = await call(router, "POST", f"/v1/buyer/leads/{lead_id}/return", KEY_A, body)
        assert status == 201, filed
        queued.append(filed["id"])
    options = ["--url", router.url("/").rstrip("/"), "--token", ADMIN_TOKEN]
    assert await asyncio.to_thread(main, ["returns", "list", "--status", "pending", *options]) == 0
    out = capsys.readouterr().out
    assert all(return_id in out for return_id in queued) and "2 returns" in out
    assert await asyncio.to_thread(main, ["returns", "approve", queued[0], *options]) == 0
    assert await asyncio.to_thread(main, ["returns", "deny", queued[1], *options]) == 0
    assert "denied" in capsys.readouterr().out.splitlines()[-1]
    assert await asyncio.to_thread(main, ["returns", "deny", queued[1], *options]) == 1  # 409
    statuses = (await call(router, "GET", "/admin/returns", None))[1]["returns"]
    assert [r["status"] for r in statuses] == ["denied", "approved"]


async def test_a_return_note_is_masked_for_a_viewer_and_forgotten_with_the_consumer(
    market: Market,
) -> None:
    router, _ = await market()
    (lead_id,) = await sell(router, 1, first=60)
    await bought(router, KEY_A, 1)
    note = {"reason": "fraud", "note": "Jane at +1 305 555 1060 never asked"}
    assert (await call(router, "POST", f"/v1/buyer/leads/{lead_id}/return", KEY_A, note))[0] == 201
    viewer = {"Authorization": f"Bearer {VIEWER_TOKEN}"}
    async with router.session.get(router.url("/admin/returns"), headers=viewer) as response:
        (seen,) = (await response.json())["returns"]
    assert seen["note"] == "(hidden from viewers)"
    assert (await call(router, "GET", "/admin/returns", None))[1]["returns"][0]["note"] == note[
        "note"
    ]

    forgot = await call(router, "POST", "/admin/forget", None, {"phone": "+13055551060"})
    assert forgot[0] == 200, forgot
    (kept,) = (await call(router, "GET", "/admin/returns", None))[1]["returns"]
    assert (kept["note"], kept["reason"], kept["status"]) == (None, "fraud", "pending")
    lead = (await call(router, "GET", f"/v1/buyer/leads/{lead_id}", KEY_A))[1]
    assert lead["lead"]["phone"] is None and lead["pii_erased_at"] is not None


async def test_feedback_stats_and_self_pause(market: Market, buyers: BuyerServer) -> None:
    router, _ = await market({"firm-a": {"caps": {"daily": 1}}})
    (mine,) = await sell(router, 1)
    await bought(router, KEY_A, 1)
    for event, value in (("contacted", None), ("converted", 1250.5), ("converted", 100)):
        status, saved = await call(router, "POST", f"/v1/buyer/leads/{mine}/feedback", KEY_A,
                                   {"event": event, "value": value})  # fmt: skip
        assert (status, saved["event"]) == (201, event)
    bad = await call(router, "POST", f"/v1/buyer/leads/{mine}/feedback", KEY_A, {"event": "sold"})
    assert bad[0] == 400
    stats = (await call(router, "GET", "/v1/buyer/stats", KEY_A))[1]
    assert stats["feedback"] == {"contacted": 1, "converted": 2}  # every fact, as told
    by_buyer = (await call(router, "GET", "/admin/reports?by=buyer", None))[1]["rows"]
    (firm_a,) = [row for row in by_buyer if row["key"] == "firm-a"]
    figures = ("wins", "contacted", "converted", "conversion_rate", "conversion_value")
    # A lead converts once, whatever the buyer says twice; both its values count.
    assert [firm_a[name] for name in figures] == [1, 1, 1, Decimal("1"), Decimal("1350.50")]
    assert_documented("/v1/buyer/stats", "get", 200, "application/json", _plain(stats))

    assert (await call(router, "POST", "/v1/buyer/pause", KEY_A))[0] == 403  # self_pause: false
    status, switch = await call(router, "POST", "/v1/buyer/pause", KEY_B, {"reason": "phones full"})
    assert (status, switch["enabled"], switch["paused"]["by"]) == (200, False, "buyer:firm-b")
    admin_view = await router.admin((await router.send(consumer(51)))[1]["id"])
    assert any(
        e["buyer_id"] == "firm-b" and e.get("reason") == "paused" for e in admin_view["trace"]
    )
    status, switch = await call(router, "POST", "/v1/buyer/resume", KEY_B)
    assert (status, switch["enabled"]) == (200, True)
    async with asyncio.timeout(10):  # audited as the buyer, as an operator's pause is
        while True:
            entries = (await call(router, "GET", "/admin/audit?target=firm-b", None))[1]["entries"]
            if len(entries) == 2:
                break
            await asyncio.sleep(0.05)
    done = [(e["operator"], e["action"], e["detail"]) for e in reversed(entries)]
    assert done == [
        ("buyer:firm-b", "pause", {"reason": "phones full"}),
        ("buyer:firm-b", "resume", {"was_paused": True}),
    ]
