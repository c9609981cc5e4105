"""The console's Live page in a real Chromium (DESIGN §13): leads sent to the router as a seller
sends them appear as their auctions finish (server-sent events, with the session's cookie), with
the sold %, revenue and answer time of the last minutes, and none of their PII; a page opened
later starts from the ledger's leads of the window, test leads too (as the stream tells them)."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.console import ConsoleRouter, Tab
from tests.e2e.router_processes import consumer
from tests.e2e.test_operators import BOB


def lead(n: int, **fields: Any) -> dict[str, Any]:
    """Consumer n, with a name of its own: each of its PII values is one nobody else has."""
    return consumer(n, first_name="Zebulon", last_name=f"Quixote{n}", **fields)


def pii_of(sent: dict[str, Any]) -> list[str]:
    phone = sent["phone"]
    return [
        sent["email"],
        sent["last_name"],
        sent["first_name"],
        phone,
        phone[2:],  # 3055551001
        f"{phone[2:5]}-{phone[5:8]}-{phone[8:]}",
        sent["ip_address"],
        sent["trustedform_url"],
    ]


def test_live_shows_auctions_as_they_finish_with_their_figures_and_no_pii(
    console: ConsoleRouter, tab: Tab
) -> None:
    tab.log_in(BOB)  # a viewer watches too
    expect(tab.page.locator("#stream-state")).to_have_attribute("data-state", "open")
    expect(tab.page.locator("#tile-leads")).to_have_text("0")
    sent = [lead(1), lead(2), lead(3, state="TX"), lead(4, test=True)]
    answers = [console.send(one) for one in sent]
    assert [answer["status"] for answer in answers] == ["sold", "sold", "unsold", "sold"]

    rows = tab.page.locator("#live-leads tbody tr")
    for answer in answers:
        row = tab.page.locator(f'#live-leads tr[data-id="{answer["id"]}"]')
        expect(row).to_be_visible()
        expect(row.get_by_role("link", name=answer["id"])).to_have_attribute(
            "href", f"/console/leads/{answer['id']}"
        )
    expect(rows.first).to_have_attribute("data-id", answers[-1]["id"])  # newest first
    expect(rows.first.locator(".tag")).to_have_text("test")  # shown, tagged, and counted
    expect(rows.nth(1).locator(".status")).to_have_text("unsold")
    expect(rows.nth(2).locator("td.num").first).to_have_text("41.35")
    figures = {"#tile-leads": "4", "#tile-sold": "75%", "#tile-revenue": "124.05"}
    for tile, text in figures.items():
        expect(tab.page.locator(tile)).to_have_text(text)
    expect(tab.page.locator("#tile-answer")).to_have_text(re.compile(r"^\d+ ms$"))
    expect(tab.page.locator(".chart canvas")).to_have_count(3)
    html = tab.page.content()
    assert [value for one in sent for value in pii_of(one) if value in html] == []

    # A page opened later starts from the ledger: the same leads, the same figures.
    console.filed(*(answer["id"] for answer in answers))
    tab.goto("/console")
    for answer in answers:
        expect(tab.page.locator(f'#live-leads tr[data-id="{answer["id"]}"]')).to_have_count(1)
    for tile, text in figures.items():
        expect(tab.page.locator(tile)).to_have_text(text)
    html = tab.page.content()
    assert [value for one in sent for value in pii_of(one) if value in html] == []


def test_the_live_stream_needs_a_session(console: ConsoleRouter) -> None:
    answer = console.http("GET", "/console/events")
    assert answer.status == 401
    assert answer.headers["Content-Type"].startswith("application/json")
