"""The console's Sellers page in a real Chromium (DESIGN §13): each seller's volume and payouts
over a range are the figures GET /admin/reports?by=seller gives, beside its terms in the config
(its payout rule; never its API key), and link to its leads."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from pingtree.web.console.sellers import COLUMNS
from tests.browser.console import ConsoleRouter, Tab
from tests.browser.test_console_reports import shown
from tests.conftest import OTHER_KEY, SELLER_KEY
from tests.e2e.router_processes import consumer
from tests.e2e.test_operators import BOB


@pytest.fixture(scope="module")
def sent(console: ConsoleRouter) -> list[dict[str, Any]]:
    """acme-media (revshare 0.8): two leads sold, one unsold; other-media (payout 20): one sold."""
    answers = [
        console.send(consumer(n, state=state)) for n, state in ((1, "FL"), (2, "FL"), (3, "TX"))
    ]
    other = console.background.run(
        console.seller.send(console.base, consumer(4), {"X-API-Key": OTHER_KEY})
    )
    assert other.status == 200
    answers.append(other.body)
    assert [answer["status"] for answer in answers] == ["sold", "sold", "unsold", "sold"]
    console.caught_up()
    return answers


def test_each_sellers_volume_and_payouts_are_the_reports_beside_its_terms(
    console: ConsoleRouter, tab: Tab, sent: list[dict[str, Any]]
) -> None:
    tab.log_in(BOB, then="/console/sellers")
    report = console.api("/admin/reports?by=seller", BOB)
    assert {row["key"]: row["leads"] for row in report["rows"]} == {
        "acme-media": 3,
        "other-media": 1,
    }
    for row in [*report["rows"], report["totals"]]:
        key = "total" if row is report["totals"] else row["key"]
        seller = tab.page.locator(f'#sellers tr[data-id="{key}"]')
        for name, _, kind in COLUMNS:
            expect(seller.locator(f'td[data-column="{name}"]')).to_have_text(shown(row[name], kind))
    acme = tab.page.locator('#sellers tr[data-id="acme-media"]')
    expect(acme).to_contain_text("revshare 80% of the price")
    other = tab.page.locator('#sellers tr[data-id="other-media"]')
    expect(other).to_contain_text("payout 20.00 a lead sold")
    expect(other.locator('td[data-column="payout"]')).to_have_text("20.00")
    link = acme.get_by_role("link", name="acme-media's leads")
    expect(link).to_have_attribute("href", "/console/leads?seller=acme-media")
    html = tab.page.content()
    assert SELLER_KEY not in html and OTHER_KEY not in html

    # Another range: the same sellers, with nothing in it.
    tab.page.get_by_label("From (date or time)").fill("2020-01-01")
    tab.page.get_by_label("To (excluded)").fill("2020-01-08")
    tab.page.get_by_role("button", name="Show").click()
    tab.page.wait_for_url("**/console/sellers?from=2020-01-01&to=2020-01-08*")
    expect(acme.locator('td[data-column="leads"]')).to_have_text("0")
    expect(other.locator('td[data-column="revenue"]')).to_have_text("0.00")
    expect(acme.get_by_role("link", name="acme-media's leads")).to_have_attribute(
        "href", "/console/leads?from=2020-01-01&to=2020-01-08&seller=acme-media"
    )


def test_a_bad_range_is_said_on_the_page(console: ConsoleRouter, tab: Tab) -> None:
    tab.log_in(BOB, then="/console/sellers")
    assert tab.goto("/console/sellers?from=2026-02-01&to=2026-01-01") == 400
    expect(tab.page.get_by_role("alert")).to_contain_text("must be after from")
