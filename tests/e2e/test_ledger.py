"""The ledger through the operator API and the CLI, on the embedded ledger (SQLite in memory, as
`pingtree serve` without a state file runs it): every answered lead on record, the lead list
and its search, one lead with its PII (masked for a viewer), reports equal to what the buyers
were sold, forgetting a consumer, the audit. PostgreSQL, kills and outages are
test_ledger_durable.py's."""

from __future__ import annotations

import asyncio
import csv
import io
from decimal import Decimal
from typing import Any

import pytest

from pingtree.cli.main import main
from pingtree.store.outbox.base import Entry
from pingtree.web.keys import LEDGER_WRITER, OUTBOX
from tests.buyers import BuyerServer
from tests.conftest import ADMIN_TOKEN, RouterClient, StartRouter, make_buyer, make_config, sample

VIEWER_TOKEN = "viewer-token-for-tests"
MVA = sample("mva-legal")["vertical"]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
VIEWER = {"Authorization": f"Bearer {VIEWER_TOKEN}"}


def consumer(n: int, **fields: Any) -> dict[str, Any]:
    lead = sample("mva-legal")
    lead.update(lead_id=f"lead-{n}", phone=f"+1305555{1000 + n:04d}", email=f"c{n}@example.com")
    lead.update(fields)
    return lead


async def get(router: RouterClient, path: str, headers: dict[str, str] = ADMIN) -> Any:
    async with router.session.get(router.url(path), headers=headers) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def filed(router: RouterClient, count: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
    """The lead list once it holds `count` leads (the writer files them within moments)."""
    async with asyncio.timeout(timeout_s):
        while True:
            leads = (await get(router, "/admin/leads?limit=500"))["leads"]
            if len(leads) >= count:
                return list(leads)
            await asyncio.sleep(0.05)


@pytest.fixture
async def market(buyers: BuyerServer, start_router: StartRouter) -> RouterClient:
    buyers.set("firm-a", bid=41.5)
    buyers.set("firm-b", bid=22.25)
    config = make_config(
        [
            make_buyer("firm-a", buyers, caps={"daily": 3}, verticals=[MVA]),
            make_buyer("firm-b", buyers, verticals=[MVA]),
        ],
        router={"dedup_secret": "ledger-tests-dedup-secret"},
        operators=[{"name": "vic", "token": VIEWER_TOKEN, "role": "viewer"}],
    )
    return await start_router(config)


async def test_every_answered_lead_is_listed_newest_first_paged_and_searchable(
    market: RouterClient,
) -> None:
    answers = [await market.send(consumer(n)) for n in range(7)]
    rejected = await market.send(consumer(99, vertical="nobody-buys-this"))
    ids = [body["id"] for _, body, _ in [*answers, rejected]]
    listed = await filed(market, 8)
    assert [lead["id"] for lead in listed] == ids[::-1]  # newest first
    assert [lead["status"] for lead in listed][:1] == ["rejected"]
    first = listed[-1]
    assert (first["buyer_id"], first["price"], first["state"]) == ("firm-a", 41.5, "FL")
    assert "phone" not in first and "email" not in first  # a list carries no PII

    # Pages of 3: every lead once, in order, and the last page says it is the last.
    seen: list[str] = []
    cursor = ""
    for _ in range(4):
        page = await get(market, f"/admin/leads?limit=3&cursor={cursor}")
        seen += [lead["id"] for lead in page["leads"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]

    # Filters, and `q`: an id, a seller's lead_id, a phone in another spelling, an email.
    sold_b = await get(market, "/admin/leads?status=sold&buyer=firm-b")
    assert len(sold_b["leads"]) == 4  # firm-a's daily cap of 3, then firm-b
    for q, expected in [
        (ids[2], ids[2]),
        ("lead-4", ids[4]),
        ("(305) 555-1005", ids[5]),
        ("C6@Example.com", ids[6]),
    ]:
        found = await get(market, f"/admin/leads?q={q}")
        assert [lead["id"] for lead in found["leads"]] == [expected], q


async def test_one_lead_shows_its_pii_to_an_admin_masked_to_a_viewer(market: RouterClient) -> None:
    _, answer, _ = await market.send(consumer(1, first_name="Maria"))
    await filed(market, 1)
    full = await get(market, f"/admin/leads/{answer['id']}")
    assert full["lead"]["phone"] == "+13055551001"
    assert full["lead"]["email"] == "c1@example.com"
    assert full["lead"]["first_name"] == "Maria"
    assert full["trace"] and full["buyer_id"] == "firm-a"
    masked = await get(market, f"/admin/leads/{answer['id']}", VIEWER)
    assert masked["lead"]["phone"] != "+13055551001" and masked["lead"]["phone"].endswith("01")
    assert "c1@example.com" not in str(masked) and "Maria" not in str(masked)
    assert masked["trace"] == full["trace"]


async def test_a_report_by_buyer_equals_what_the_buyers_were_sold(market: RouterClient) -> None:
    answers = [(await market.send(consumer(n)))[1] for n in range(9)]
    await filed(market, 9)
    expected: dict[str, dict[str, Decimal]] = {}
    for body in answers:
        view = await market.admin(body["id"])
        row = expected.setdefault(view["buyer_id"], {"revenue": Decimal(0), "payout": Decimal(0)})
        row["revenue"] += Decimal(str(view["price"]))
        row["payout"] += Decimal(str(view["payout"]))
    report = await get(market, "/admin/reports?by=buyer")
    rows = {row["key"]: row for row in report["rows"]}
    assert set(rows) == set(expected) == {"firm-a", "firm-b"}
    for buyer, money in expected.items():
        assert Decimal(str(rows[buyer]["revenue"])) == money["revenue"]
        assert Decimal(str(rows[buyer]["payout"])) == money["payout"]
        assert Decimal(str(rows[buyer]["margin"])) == money["revenue"] - money["payout"]
    assert (rows["firm-a"]["wins"], rows["firm-b"]["wins"]) == (3, 6)
    totals = report["totals"]
    assert (totals["leads"], totals["sold"]) == (9, 9)
    assert Decimal(str(totals["revenue"])) == sum(m["revenue"] for m in expected.values())


async def test_report_csv_and_bad_parameters(market: RouterClient) -> None:
    await market.send(consumer(1))
    await filed(market, 1)
    async with market.session.get(
        market.url("/admin/reports?by=day&format=csv&tz=America/New_York"), headers=ADMIN
    ) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/csv")
        lines = (await response.text()).splitlines()
    assert lines[0].startswith("key,leads,sold,sold_pct,revenue")
    assert lines[-1].startswith("total,1,1,")
    for query, field in [
        ("by=week", "by"),
        ("by=day&tz=Mars/Olympus", "tz"),
        ("by=day&from=yesterday", "from"),
        ("by=day&from=2026-12-02&to=2026-12-01", "to"),
        ("by=day&format=xml", "format"),
        ("by=day&status=sold", "status"),
    ]:
        async with market.session.get(
            market.url(f"/admin/reports?{query}"), headers=ADMIN
        ) as response:
            assert response.status == 400, query
            assert field in (await response.json())["fields"], query


async def test_forget_erases_a_consumer_everywhere_and_the_audit_keeps_only_a_hash(
    market: RouterClient, capsys: pytest.CaptureFixture[str]
) -> None:
    _, kept, _ = await market.send(consumer(1))
    _, gone, _ = await market.send(consumer(2))
    _, gone_again, _ = await market.send(consumer(3, phone="+13055551002", lead_id="again"))
    await filed(market, 3)
    base = market.url("/").rstrip("/")
    viewer = ["--url", base, "--token", VIEWER_TOKEN]
    assert await asyncio.to_thread(main, ["forget", "--phone", "305-555-1002", *viewer]) == 2
    assert "HTTP 403" in capsys.readouterr().err  # a viewer may not
    admin = ["--url", base, "--token", ADMIN_TOKEN]
    assert await asyncio.to_thread(main, ["forget", "--phone", "305-555-1002", *admin]) == 0
    assert "erased: 2 leads" in capsys.readouterr().out

    for lead_id in (gone["id"], gone_again["id"]):
        view = await get(market, f"/admin/leads/{lead_id}")
        assert view["lead"]["phone"] is None and view["lead"]["email"] is None
        assert view["pii_erased_at"] is not None
        assert view["status"] == "sold"  # the facts stay
    assert (await get(market, f"/admin/leads/{kept['id']}"))["lead"]["phone"] == "+13055551001"

    async with asyncio.timeout(5):
        while not (entries := (await get(market, "/admin/audit?action=forget"))["entries"]):  # noqa: ASYNC110 (polling the router over HTTP)
            await asyncio.sleep(0.05)
    (entry,) = entries
    assert (entry["operator"], entry["detail"]["leads"]) == ("admin", 2)
    assert "1002" not in str(entry)


async def test_cli_leads_and_report(
    market: RouterClient, capsys: pytest.CaptureFixture[str]
) -> None:
    _, answer, _ = await market.send(consumer(1))
    await filed(market, 1)
    base = market.url("/").rstrip("/")
    options = ["--url", base, "--token", ADMIN_TOKEN]
    assert await asyncio.to_thread(main, ["leads", "+1 305 555 1001", *options]) == 0
    assert answer["id"] in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["report", "--by", "buyer", "--csv", *options]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("key,leads") and out[1].startswith("firm-a,")


async def test_healthz_says_how_far_behind_the_ledger_is(market: RouterClient) -> None:
    await market.send(consumer(1))
    await filed(market, 1)
    async with asyncio.timeout(5):  # the figures are read every second
        while True:
            async with market.session.get(market.url("/healthz")) as response:
                health = await response.json()
            assert response.status == 200 and health["ledger"]["up"] is True
            if health["ledger"]["backlog"] == 0:
                break
            await asyncio.sleep(0.1)
    assert health["ledger"]["lag_s"] == 0.0


async def test_the_csv_export_comes_from_the_ledger_and_forgets_with_it(
    market: RouterClient,
) -> None:
    _, sold, _ = await market.send(consumer(1, first_name="=HYPERLINK(1)"))
    await filed(market, 1)

    async def export() -> list[dict[str, str]]:
        async with market.session.get(
            market.url("/admin/exports/leads.csv?buyer=firm-a"), headers=ADMIN
        ) as response:
            assert response.status == 200, await response.text()
            return list(csv.DictReader(io.StringIO(await response.text())))

    (row,) = await export()
    assert next(iter(row)) == "id" and row["id"] == sold["id"]
    assert (row["buyer_id"], row["price"], row["lead_id"]) == ("firm-a", "41.50", "lead-1")
    assert (row["phone"], row["email"]) == ("+13055551001", "c1@example.com")
    assert row["first_name"] == "'=HYPERLINK(1)"  # a would-be formula, written as text
    async with market.session.get(
        market.url("/admin/exports/leads.csv"), headers=VIEWER
    ) as response:
        assert response.status == 403  # the rows carry PII
    async with market.session.post(
        market.url("/admin/forget"), json={"email": "c1@example.com"}, headers=ADMIN
    ) as response:
        assert response.status == 200, await response.text()
    (row,) = await export()
    assert (row["phone"], row["email"], row["first_name"]) == ("", "", "")
    assert (row["id"], row["price"]) == (sold["id"], "41.50")


async def test_an_outbox_entry_that_does_not_decode_is_dropped_counted_and_the_rest_filed(
    market: RouterClient,
) -> None:
    # As a newer pingtree's record would be to this one: the writer cannot read it.
    newer = Entry("lead", "ld_from_a_newer_pingtree", b'{"format": 99}')
    await market.app[OUTBOX].put([newer])
    _, answer, _ = await market.send(consumer(1))
    assert [lead["id"] for lead in await filed(market, 1)] == [answer["id"]]
    assert await market.app[LEDGER_WRITER].drain()  # the entry left the outbox too
    async with market.session.get(market.url("/metrics")) as response:
        metrics = await response.text()
    assert "pingtree_ledger_unreadable_total 1.0" in metrics
    assert 'pingtree_ledger_filed_total{kind="lead"} 1.0' in metrics
