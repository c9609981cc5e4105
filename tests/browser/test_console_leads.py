"""The console's Leads in a real Chromium (DESIGN §13): an admin finds a lead sold during the test
by its phone typed in another format, opens its trace and sees each buyer on the timeline, its
PII masked until they reveal it, which the audit then shows (GET /admin/audit); a viewer sees the
lead masked as the API masks it, with no reveal button, and a reveal they forge is refused 403;
the list pages by its cursor and a bad filter is said, the form kept."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.console import ConsoleRouter, Tab
from tests.browser.test_console_live import lead, pii_of
from tests.e2e.test_operators import ALICE, BOB


def test_an_admin_finds_a_sold_lead_by_phone_opens_its_trace_and_reveals_its_pii(
    console: ConsoleRouter, tab: Tab
) -> None:
    sent = lead(11)  # phone +13055551011
    sold = console.send(sent)
    assert (sold["status"], sold["payout"]) == ("sold", 33.08)
    console.filed(sold["id"])

    tab.log_in(ALICE, then="/console/leads")
    tab.page.get_by_label("Id, seller's lead_id, phone or email").fill("(305) 555-1011")
    tab.page.get_by_role("button", name="Search").click()
    rows = tab.page.locator("#leads tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", sold["id"])
    assert "q=%28305%29+555-1011" in tab.page.url  # the search is a link: the API's parameters

    rows.first.get_by_role("link", name=sold["id"]).click()
    tab.page.wait_for_url(tab.router.url(f"/console/leads/{sold['id']}"))
    timeline = tab.page.locator("svg.timeline-svg")
    firm, backup = (
        timeline.locator('[data-buyer="firm"]'),
        timeline.locator('[data-buyer="backup"]'),
    )
    expect(firm.locator('[data-step="ping"][data-result="bid"]')).to_have_count(1)
    expect(firm.locator('[data-step="post"][data-result="accepted"]')).to_have_count(1)
    expect(backup.locator('[data-step="ping"][data-result="bid"]')).to_have_count(1)
    expect(backup.locator('[data-step="post"]')).to_have_count(0)  # outbid: never posted
    expect(firm).to_contain_text("bid 41.35")
    expect(tab.page.locator("#trace tbody tr")).to_have_count(3)

    fields = tab.page.locator("#lead-fields")
    expect(fields.locator("tr", has_text="phone")).to_contain_text("+1******1011")
    expect(fields.locator("tr", has_text="email")).to_contain_text("c***@e***.com")
    html = tab.page.content()
    assert [value for value in pii_of(sent) if value in html] == []

    tab.page.get_by_role("button", name="Reveal PII").click()
    expect(tab.page.get_by_role("status")).to_contain_text("PII shown to alice")
    expect(fields.locator("tr", has_text="phone")).to_contain_text("+13055551011")
    expect(fields.locator("tr", has_text="last_name")).to_contain_text("Quixote11")
    expect(tab.page.get_by_role("button", name="Reveal PII")).to_have_count(0)

    # The audit's entry goes through the ledger's outbox too.
    entries = console.eventually(
        lambda: console.api("/admin/audit?action=reveal", ALICE)["entries"]
    )
    assert [(e["operator"], e["action"], e["target"]) for e in entries] == [
        ("alice", "reveal", sold["id"])
    ]
    assert {"phone", "email", "first_name", "last_name"} <= set(entries[0]["detail"]["fields"])
    assert "+13055551011" not in str(entries[0])  # the audit names fields, never their values

    # Opened again, the page is masked again: a reveal is for the page it answered.
    tab.goto(f"/console/leads/{sold['id']}")
    expect(fields.locator("tr", has_text="phone")).to_contain_text("+1******1011")


def test_a_viewer_sees_the_lead_masked_with_no_reveal_and_a_forged_reveal_is_refused(
    console: ConsoleRouter, tab: Tab
) -> None:
    sent = lead(12)
    sold = console.send(sent)
    console.filed(sold["id"])
    tab.log_in(BOB, then=f"/console/leads/{sold['id']}")
    fields = tab.page.locator("#lead-fields")
    masked_by_api = console.api(f"/admin/leads/{sold['id']}", BOB)["lead"]
    for name in ("phone", "email", "first_name", "last_name"):
        expect(fields.locator("tr", has_text=name).locator("td")).to_have_text(masked_by_api[name])
    expect(tab.page.get_by_role("button", name="Reveal PII")).to_have_count(0)
    html = tab.page.content()
    assert [value for value in pii_of(sent) if value in html] == []

    # bob forges the reveal with his own session and its CSRF token: refused as a viewer.
    token = tab.page.locator('meta[name="csrf-token"]').get_attribute("content")
    cookie = {"pingtree_console": tab.cookie("pingtree_console")["value"]}
    forged = console.http(
        "POST", f"/console/leads/{sold['id']}/reveal", cookies=cookie, data={"csrf_token": token}
    )
    assert forged.status == 403
    assert "viewer" in forged.text
    assert [value for value in pii_of(sent) if value in forged.text] == []
    console.caught_up()  # had it been audited, the entry would be filed by now
    assert console.api("/admin/audit?operator=bob", ALICE)["entries"] == []


def test_the_list_pages_by_cursor_and_a_bad_filter_is_said(
    console: ConsoleRouter, tab: Tab
) -> None:
    answers = [console.send(lead(n, sub_id="pages")) for n in (21, 22, 23)]
    console.filed(*(answer["id"] for answer in answers))
    tab.log_in(BOB, then="/console/leads?sub_id=pages&limit=2")
    ids = tab.page.locator("#leads tbody tr")
    expect(ids).to_have_count(2)
    newest = [answer["id"] for answer in reversed(answers)]
    assert [ids.nth(i).get_attribute("data-id") for i in range(2)] == newest[:2]
    tab.page.get_by_role("link", name="Older leads").click()
    expect(ids).to_have_count(1)
    expect(ids.first).to_have_attribute("data-id", newest[2])
    expect(tab.page.get_by_role("link", name="Older leads")).to_have_count(0)
    tab.page.get_by_role("link", name="Newest").click()
    expect(ids).to_have_count(2)

    status = tab.goto("/console/leads?state=Florida!&sub_id=pages")
    assert status == 400
    expect(tab.page.get_by_role("alert")).to_contain_text(re.compile(r"bad state.*state"))
    expect(tab.page.get_by_label("Sub id")).to_have_value("pages")
