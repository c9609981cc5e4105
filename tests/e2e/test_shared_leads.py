"""Shared leads end to end (DESIGN §14, docs/shared-leads.md): a real pingtree, real local buyer
servers (and a real local CRM for the deliveries). One lead sold to up to max_buyers buyers whose
config says `shared: true`; an exclusive bid takes it alone only strictly above the sum of the
best shared bids; each sale its own cap, dedup claim, post, delivery and ledger row; never two
sales to one buyer."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from pingtree.web.app import ServeOptions, create_app
from tests.buyers import BuyerServer
from tests.conftest import (
    ADMIN_TOKEN,
    SELLER_KEY,
    RouterClient,
    StartRouter,
    make_buyer,
    make_config,
)
from tests.e2e.test_auction import lead, sell, steps
from tests.e2e.test_deliveries_worker import Receiver, destination
from tests.web.test_console_sessions import log_in

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SHARED_SELLER = {
    "id": "acme-media",
    "api_key": SELLER_KEY,
    "revshare": 0.8,
    "sell": "shared",
    "max_buyers": 3,
}
SHARED_BIDS = {"s1": 30, "s2": 25, "s3": 20, "s4": 15}  # the best three sum to 75


def market(buyers: BuyerServer, exclusive_bid: float | None = None, **per_buyer: Any) -> Any:
    """Four shared buyers (and, with a bid, one exclusive one) in one tier; `per_buyer`: extra
    buyers.yaml keys by buyer id."""
    entries = []
    for buyer_id, bid in SHARED_BIDS.items():
        buyers.set(buyer_id, bid=bid)
        entries.append(make_buyer(buyer_id, buyers, shared=True, **per_buyer.get(buyer_id, {})))
    if exclusive_bid is not None:
        buyers.set("x", bid=exclusive_bid)
        entries.append(make_buyer("x", buyers))
    return make_config(entries, sellers=[SHARED_SELLER], router={"dedup_secret": "shared-tests"})


def posts(buyers: BuyerServer, *names: str) -> list[int]:
    return [len(buyers.recorded(name).posts) for name in names]


def sold_to(view: dict[str, Any]) -> list[tuple[str, float]]:
    return [(sale["buyer_id"], sale["price"]) for sale in view["sales"]]


async def test_a_shared_lead_is_sold_to_exactly_max_buyers(buyers, start_router):
    router = await start_router(market(buyers, exclusive_bid=74))

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold"
    assert sold_to(view) == [("s1", 30), ("s2", 25), ("s3", 20)]
    # the seller is paid per sale, each rounded down on its own: 24 + 20 + 16
    assert answer["payout"] == 60 and answer["shared"] is True and len(answer["sales"]) == 3
    assert "buyer_id" not in str(answer["sales"])  # reveal: nothing, per sale too
    assert (view["buyer_id"], view["price"], view["payout"], view["margin"]) == ("s1", 75, 60, 15)
    assert [sale["payout"] for sale in view["sales"]] == [24, 20, 16]
    assert posts(buyers, "s1", "s2", "s3", "s4", "x") == [1, 1, 1, 0, 0]
    for name, bid in (("s1", 30), ("s2", 25), ("s3", 20)):  # each post at its own price
        assert buyers.recorded(name).posts[0]["price"] == bid
    assert steps(view, "s4") == [("ping", "bid", None)]
    # each buyer's revenue metric counts its own share, not the first buyer the whole lead
    async with router.session.get(router.url("/metrics")) as response:
        metrics = await response.text()
    for name, bid in (("s1", 30), ("s2", 25), ("s3", 20)):
        assert f'pingtree_revenue_total{{buyer="{name}"}} {bid}.0' in metrics
    # the console's lead page lists every sale
    operator = SimpleNamespace(session=router.session, base=router.url("").rstrip("/"))
    cookies, _ = await log_in(operator, ADMIN_TOKEN)  # type: ignore[arg-type]
    async with router.session.get(
        router.url(f"/console/leads/{answer['id']}"), headers=cookies
    ) as page:
        html = await page.text()
    sales_table = html[html.index('<table id="sales">') :]
    sales_table = sales_table[: sales_table.index("</table>")]
    assert [name for name in ("s1", "s2", "s3", "s4") if f"<td>{name}</td>" in sales_table] == [
        "s1",
        "s2",
        "s3",
    ]
    # the seller's view of it, read back
    async with router.session.get(
        router.url(f"/v1/leads/{answer['id']}"), headers={"X-API-Key": SELLER_KEY}
    ) as response:
        assert (await response.json())["payout"] == 60


@pytest.mark.parametrize(
    ("exclusive_bid", "winner"),
    [(75.01, "exclusive"), (75, "shared"), (74.99, "shared")],
)
async def test_an_exclusive_bid_wins_only_strictly_above_the_shared_sum(
    buyers, start_router, exclusive_bid, winner
):
    router = await start_router(market(buyers, exclusive_bid=exclusive_bid))

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold"
    if winner == "exclusive":
        assert view["buyer_id"] == "x" and view["price"] == exclusive_bid
        assert view["shared"] is False and sold_to(view) == [("x", exclusive_bid)]
        assert "sales" not in answer
        assert posts(buyers, "s1", "s2", "s3", "s4", "x") == [0, 0, 0, 0, 1]
    else:
        assert sold_to(view) == [("s1", 30), ("s2", 25), ("s3", 20)]
        assert posts(buyers, "s1", "s2", "s3", "s4", "x") == [1, 1, 1, 0, 0]


async def test_the_exclusive_winner_rejecting_leaves_the_lead_to_the_shared_buyers(
    buyers, start_router
):
    router = await start_router(market(buyers, exclusive_bid=90))
    buyers.set("x", bid=90, accept_post=False)

    _, view = await sell(router, lead())

    assert sold_to(view) == [("s1", 30), ("s2", 25), ("s3", 20)]
    assert steps(view, "x")[-1] == ("post", "rejected", "post_rejected")


async def test_a_shared_buyer_rejecting_its_post_frees_its_place_for_the_next(buyers, start_router):
    router = await start_router(market(buyers))
    buyers.set("s2", bid=25, accept_post=False)

    answer, view = await sell(router, lead())

    assert sold_to(view) == [("s1", 30), ("s3", 20), ("s4", 15)]
    assert answer["payout"] == 24 + 16 + 12
    assert posts(buyers, "s1", "s2", "s3", "s4") == [1, 1, 1, 1]  # s2 once, never again


async def test_places_left_go_down_the_tiers(buyers, start_router):
    buyers.set("s1", bid=30)
    buyers.set("x", bid=500)  # after a share is sold, an exclusive bid cannot take the lead
    buyers.set("s2", bid=10)
    config = make_config(
        [
            make_buyer("s1", buyers, shared=True),
            make_buyer("x", buyers, priority=2),
            make_buyer("s2", buyers, shared=True, priority=2),
        ],
        sellers=[SHARED_SELLER],
    )
    router = await start_router(config)

    _, view = await sell(router, lead())

    assert sold_to(view) == [("s1", 30), ("s2", 10)]
    assert posts(buyers, "s1", "x", "s2") == [1, 0, 1]


async def test_an_ambiguous_shared_post_keeps_its_claim_and_adds_no_buyer(buyers, start_router):
    router = await start_router(
        market(buyers, s2={"post": {"timeout_ms": 150}, "caps": {"daily": 1}})
    )
    buyers.set("s2", bid=25, post_delay_s=0.5)  # times out: it may have taken the lead

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold" and sold_to(view) == [("s1", 30)]
    assert steps(view, "s2")[-1][:2] == ("post", "unknown")
    assert posts(buyers, "s3", "s4") == [0, 0]
    buyers.set("s2", bid=25)
    _, second = await sell(router, lead(phone="+13055550199"))
    assert ("skip", "skipped", "cap:daily") in steps(second, "s2")  # its claim was kept


async def test_caps_and_dedup_are_per_sale(buyers, start_router):
    router = await start_router(market(buyers, s1={"caps": {"daily": 1}}, s2={"dedup_days": 30}))

    _, first = await sell(router, lead())
    _, second = await sell(router, lead(phone="+13055550100", email="other@example.com"))
    _, again = await sell(router, lead())  # the first consumer once more

    assert sold_to(first) == [("s1", 30), ("s2", 25), ("s3", 20)]
    assert ("skip", "skipped", "cap:daily") in steps(second, "s1")
    assert sold_to(second) == [("s2", 25), ("s3", 20), ("s4", 15)]
    assert ("skip", "skipped", "dedup") in steps(again, "s2")
    assert sold_to(again) == [("s3", 20), ("s4", 15)]


async def test_two_routers_on_redis_keep_each_shares_cap_and_dedup(buyers, serve_app, redis_url):
    config = market(buyers, s1={"caps": {"daily": 1}}, s2={"dedup_days": 30})
    routers = [
        RouterClient(*await serve_app(create_app(config, ServeOptions(redis_url=redis_url))))
        for _ in range(2)
    ]

    _, first = await sell(routers[0], lead())
    _, second = await sell(routers[1], lead(phone="+13055550100", email="other@example.com"))
    _, again = await sell(routers[1], lead())  # the first consumer, at the other router

    assert sold_to(first) == [("s1", 30), ("s2", 25), ("s3", 20)]
    assert ("skip", "skipped", "cap:daily") in steps(second, "s1")  # the cap is Redis's
    assert sold_to(second) == [("s2", 25), ("s3", 20), ("s4", 15)]
    assert ("skip", "skipped", "dedup") in steps(again, "s2")  # and the dedup claim
    assert sold_to(again) == [("s3", 20), ("s4", 15)]


# the ledger, the reports and the deliveries ---------------------------------------------------


async def get(router: RouterClient, path: str) -> Any:
    async with router.session.get(router.url(path), headers=ADMIN) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def filed(router: RouterClient, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(10):
        while len(leads := (await get(router, "/admin/leads?limit=500"))["leads"]) < count:  # noqa: ASYNC110 (polling the router over HTTP)
            await asyncio.sleep(0.05)
    return list(leads)


async def test_the_ledger_and_reports_count_every_sale_and_each_lead_once(buyers, start_router):
    router = await start_router(market(buyers, exclusive_bid=80, s4={"caps": {"daily": 1}}))
    buyers.set("s2", bid=25, accept_post=False)
    views = [(await sell(router, lead()))[1]]  # x alone, exclusive: 80 > 30 + 20 + 15
    buyers.set("x", bid=None)
    views += [(await sell(router, lead(phone=f"+1305555020{n}")))[1] for n in range(2)]

    # by hand: lead 1 x 80; lead 2 s1 30, s3 20, s4 15; lead 3 (s4 at its cap) s1 30, s3 20
    assert [sold_to(v) for v in views] == [
        [("x", 80)],
        [("s1", 30), ("s3", 20), ("s4", 15)],
        [("s1", 30), ("s3", 20)],
    ]
    listed = await filed(router, 3)
    assert sorted(len(item["sales"]) for item in listed) == [1, 2, 3]
    report = await get(router, "/admin/reports?by=buyer")
    rows = {row["key"]: row for row in report["rows"]}
    money = {k: (r["revenue"], r["payout"], r["wins"]) for k, r in rows.items() if r["wins"]}
    assert money == {
        "x": (80, 64, 1),
        "s1": (60, 48, 2),
        "s3": (40, 32, 2),
        "s4": (15, 12, 1),
    }
    totals = report["totals"]
    assert (totals["leads"], totals["sold"], totals["wins"]) == (3, 3, 6)
    assert (Decimal(str(totals["revenue"])), Decimal(str(totals["payout"]))) == (195, 156)
    by_seller = (await get(router, "/admin/reports?by=seller"))["rows"]
    assert [(r["sold"], r["revenue"], r["payout"]) for r in by_seller] == [(3, 195, 156)]
    # the ledger's sales, as the export reads them: a row per sale, each its own price
    async with router.session.get(router.url("/admin/exports/leads.csv"), headers=ADMIN) as got:
        exported = list(csv.DictReader(io.StringIO(await got.text())))
    assert sorted((row["buyer_id"], row["price"], row["payout"]) for row in exported) == [
        ("s1", "30.00", "24.00"),
        ("s1", "30.00", "24.00"),
        ("s3", "20.00", "16.00"),
        ("s3", "20.00", "16.00"),
        ("s4", "15.00", "12.00"),
        ("x", "80.00", "64.00"),
    ]
    async with router.session.get(
        router.url("/admin/exports/leads.csv?buyer=s3"), headers=ADMIN
    ) as got:
        assert len(list(csv.DictReader(io.StringIO(await got.text())))) == 2


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver()
    await made.start()
    yield made
    await made.close()


async def test_each_sale_has_its_own_deliveries_and_the_seller_one_postback(
    buyers, start_router: StartRouter, receiver: Receiver
):
    seller = {**SHARED_SELLER, "postback": destination(receiver, "postback")}
    for buyer_id, bid in SHARED_BIDS.items():
        buyers.set(buyer_id, bid=bid)
    config = make_config(
        [
            make_buyer(b, buyers, shared=True, deliveries=[destination(receiver, f"crm-{b}")])
            for b in SHARED_BIDS
        ],
        sellers=[seller],
        router={"deliveries": {"poll_ms": 20, "concurrency": 4}},
    )
    router = await start_router(config)

    answer, _ = await sell(router, lead())

    async with asyncio.timeout(5):
        while len(receiver.seen) < 4:  # noqa: ASYNC110 (waiting on a real server)
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # nothing more comes
    paths = sorted(seen.path for seen in receiver.seen)
    assert paths == ["crm-s1", "crm-s2", "crm-s3", "postback"]
    assert all(seen.signed_ok for seen in receiver.seen)
    bodies = {seen.path: orjson.loads(seen.body) for seen in receiver.seen}
    assert [bodies[f"crm-{b}"]["price"] for b in ("s1", "s2", "s3")] == [30, 25, 20]
    postback = bodies["postback"]["data"]
    assert postback["id"] == answer["id"] and postback["payout"] == 60
    assert len(postback["sales"]) == 3
