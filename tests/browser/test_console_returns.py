"""The console's Returns page and the buyer's own page in a real Chromium (DESIGN §13, §15): a
buyer returns two leads through its own API; an admin sees them queued and approves one and
denies the other from the page, which the reports and the audit then say in their name; a viewer
sees the queue and no button, and a POST of theirs with their own session's CSRF token is
refused, 403. A buyer logs into its page with its key and sees its leads and returns, and
downloads them as CSV, and nothing of another buyer's."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.console import ConsoleRouter, Tab
from tests.buyers import BuyerServer
from tests.conftest import SELLER_KEY, config_dict, make_buyer
from tests.e2e.router_processes import consumer
from tests.e2e.test_operators import ALICE, BOB, OPERATORS

SESSION_COOKIE = "pingtree_console"
FIRM_KEY = "firm-portal-key-0001"
RIVAL_KEY = "rival-portal-key-0002"


@pytest.fixture(scope="module")
def console_config(console_buyers: BuyerServer) -> dict[str, Any]:
    console_buyers.set("firm", bid=41.35)
    console_buyers.set("rival", bid=30)
    rival = {"api_key": RIVAL_KEY}
    return config_dict(
        [
            make_buyer(
                "firm", console_buyers, portal={"api_key": FIRM_KEY}, filters={"states": ["FL"]}
            ),
            make_buyer("rival", console_buyers, portal=rival, filters={"states": ["GA"]}),
        ],
        router={"returns": {"reasons": ["fraud", "duplicate"]}},
        sellers=[{"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8, "chargeback": True}],
        operators=OPERATORS,
    )


def returned(console: ConsoleRouter, n: int) -> dict[str, Any]:
    """Consumer n's lead, sold to firm and returned by it for fraud."""
    lead_id = console.send(consumer(n))["id"]
    console.filed(lead_id)
    answer = console.http(
        "POST",
        f"/v1/buyer/leads/{lead_id}/return",
        headers={"X-API-Key": FIRM_KEY},
        json={"reason": "fraud", "note": "a fax line"},
    )
    assert answer.status == 201, answer.text
    return dict(json.loads(answer.text))


def test_an_admin_approves_and_denies_returns_from_the_page(
    console: ConsoleRouter, tab: Tab
) -> None:
    first, second = returned(console, 1), returned(console, 2)
    tab.log_in(ALICE, then="/console/returns")
    rows = tab.page.locator("#returns tbody tr")
    expect(rows).to_have_count(2)
    one = tab.page.locator(f"#return-{first['id']}")
    expect(one).to_contain_text("fraud")
    expect(one).to_contain_text("a fax line")
    expect(one).to_contain_text("41.35")
    one.get_by_role("button", name="Approve").click()
    tab.page.wait_for_url(f"**/console/returns?did=approved&return={first['id']}")
    expect(tab.page.get_by_role("status")).to_contain_text(f"Return {first['id']} approved")
    expect(rows).to_have_count(1)  # the pending queue: the other one
    tab.page.locator(f"#return-{second['id']}").get_by_role("button", name="Deny").click()
    tab.page.wait_for_url(f"**/console/returns?did=denied&return={second['id']}")
    expect(tab.page.locator("#returns td.empty")).to_contain_text("No pending return")

    tab.page.get_by_role("link", name="all").click()
    expect(tab.page.locator(f"#return-{first['id']}")).to_have_attribute("data-status", "approved")
    expect(tab.page.locator(f"#return-{second['id']}")).to_contain_text("denied by alice")
    totals = console.api("/admin/reports?by=buyer", BOB)["totals"]
    assert (totals["returns"], totals["returns_amount"], totals["chargebacks_amount"]) == (
        1,
        41.35,
        33.08,  # 0.8 x 41.35, rounded down
    )
    console.caught_up()
    audit = console.api("/admin/audit?operator=alice", BOB)["entries"]
    assert [(e["action"], e["target"]) for e in reversed(audit)] == [
        ("return_approve", first["id"]),
        ("return_deny", second["id"]),
    ]


def test_a_viewer_sees_the_queue_and_no_button_and_cannot_decide(
    console: ConsoleRouter, tab: Tab
) -> None:
    pending = returned(console, 3)
    tab.log_in(BOB, then="/console/returns")
    expect(tab.page.locator(f"#return-{pending['id']}")).to_be_visible()
    expect(tab.page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(tab.page.get_by_role("button", name="Deny")).to_have_count(0)

    cookies = {SESSION_COOKIE: tab.cookie(SESSION_COOKIE)["value"]}
    token = tab.page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    for verb in ("approve", "deny"):
        forged = console.http(
            "POST",
            f"/console/returns/{pending['id']}/{verb}",
            cookies=cookies,
            data={"csrf_token": token},
        )
        assert forged.status == 403, forged.text
    queued = console.api("/admin/returns?status=pending", BOB)["returns"]
    assert [r["id"] for r in queued] == [pending["id"]]


def test_a_buyer_sees_its_own_leads_and_returns_on_its_page_and_downloads_them(
    console: ConsoleRouter, tab: Tab
) -> None:
    theirs = console.send(consumer(40, state="GA", zip="30301"))
    assert theirs["status"] == "sold"
    pending = returned(console, 41)
    console.filed(theirs["id"])
    tab.goto("/console/portal")
    tab.page.get_by_label("Buyer API key").fill("not-a-buyer-key")
    tab.page.get_by_role("button", name="Log in").click()
    expect(tab.page.get_by_role("alert")).to_contain_text("That key is not a buyer's")
    tab.page.get_by_label("Buyer API key").fill(FIRM_KEY)
    tab.page.get_by_role("button", name="Log in").click()
    expect(tab.page.get_by_role("heading", level=1)).to_have_text("firm's leads")
    expect(tab.page.locator(f"#lead-{pending['lead_id']}")).to_contain_text("pending (fraud)")
    expect(tab.page.locator(f"#return-{pending['id']}")).to_contain_text("41.35")
    expect(tab.page.locator(f"#lead-{theirs['id']}")).to_have_count(0)  # rival's, not firm's
    expect(tab.page.get_by_role("link", name="Returns")).to_have_count(0)  # no operator's nav

    with tab.page.expect_download() as download:
        tab.page.get_by_role("link", name="Download CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    mine = {row["id"]: row for row in rows}
    assert pending["lead_id"] in mine and theirs["id"] not in mine
    assert mine[pending["lead_id"]]["phone"] == "+13055551041"  # the lead in full, as posted
    assert mine[pending["lead_id"]]["return_status"] == "pending"

    tab.page.get_by_role("button", name="Log out").click()
    expect(tab.page.get_by_label("Buyer API key")).to_be_visible()
    assert console.http("GET", "/console/portal/leads.csv").status == 303  # no session: no CSV
