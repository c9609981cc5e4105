"""The console's Reports page in a real Chromium (DESIGN §13): leads sent as a seller sends them,
then the page grouped by buyer shows the figures GET /admin/reports gives, with its totals; its
chart draws the lines chosen over time; "Download CSV" downloads, with the session's cookie, the
very bytes the API's `format=csv` answers an admin's token; a bad parameter is said on the page."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from pingtree.web.console.reports import COLUMNS
from tests.browser.console import ConsoleRouter, Tab
from tests.conftest import ADMIN_TOKEN
from tests.e2e.router_processes import consumer
from tests.e2e.test_operators import ALICE, BOB


@pytest.fixture(scope="module")
def sent(console: ConsoleRouter) -> list[dict[str, Any]]:
    """Three leads firm buys, one backup buys (firm declines it), one nobody buys (Texas)."""
    answers = [console.send(consumer(n)) for n in range(1, 4)]
    console.buyers.set("firm", bid=None)
    answers.append(console.send(consumer(4)))
    console.buyers.set("firm", bid=41.35)
    answers.append(console.send(consumer(5, state="TX")))
    assert [answer["status"] for answer in answers] == ["sold"] * 4 + ["unsold"]
    console.caught_up()
    return answers


def shown(value: Any, kind: str) -> str:
    """A figure of the API's JSON as the page's table shows it."""
    if value is None:
        return ""
    if kind == "money":
        return f"{Decimal(str(value)):.2f}"
    if kind == "rate":
        return f"{Decimal(str(value)) * 100:.1f}"
    return str(value)


def test_a_report_by_buyer_shows_the_apis_figures_and_its_csv_downloads(
    console: ConsoleRouter, tab: Tab, sent: list[dict[str, Any]], tmp_path: Path
) -> None:
    tab.log_in(ALICE, then="/console/reports")
    tab.page.get_by_label("Group by").select_option("buyer")
    tab.page.get_by_role("button", name="Show").click()
    tab.page.wait_for_url("**/console/reports?by=buyer*")

    report = console.api("/admin/reports?by=buyer", ALICE)
    assert {row["key"]: row["sold"] for row in report["rows"]} == {"backup": 1, "firm": 3}
    assert report["totals"]["leads"] == 5
    for row in [*report["rows"], report["totals"]]:
        key = "total" if row is report["totals"] else row["key"]
        shown_row = tab.page.locator(f'#report-table tr[data-key="{key}"]')
        for name, _, kind in COLUMNS:
            cell = shown_row.locator(f'td[data-column="{name}"]')
            expect(cell).to_have_text(shown(row[name], kind))
    firm = tab.page.locator('#report-table tr[data-key="firm"]').get_by_role("link", name="firm")
    expect(firm).to_have_attribute("href", "/console/leads?buyer=firm")
    expect(tab.page.locator("#report-chart canvas")).to_have_count(1)

    api_csv = console.http("GET", "/admin/reports?by=buyer&format=csv", token=ADMIN_TOKEN)
    assert api_csv.status == 200
    with tab.page.expect_download() as download:
        tab.page.get_by_role("link", name="Download CSV").click()
    saved = tmp_path / "report.csv"
    download.value.save_as(saved)
    assert saved.read_bytes() == api_csv.text.encode()
    assert len(api_csv.text.splitlines()) == 1 + 2 + 1  # header, firm and backup, the totals
    disposition = api_csv.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="{download.value.suggested_filename}"'


def test_the_chart_draws_the_lines_chosen_by_hour(
    console: ConsoleRouter, tab: Tab, sent: list[dict[str, Any]]
) -> None:
    tab.log_in(BOB, then="/console/reports?by=seller&grain=hour&measure=leads&measure=revenue")
    report = console.api("/admin/reports?by=hour", BOB)
    # Every hour of the 7 days (UTC has no daylight saving), an hour without leads at zero.
    series = tab.page.locator("#report-series tbody tr")
    expect(series).to_have_count(7 * 24)
    assert report["rows"] and sum(row["leads"] for row in report["rows"]) == 5
    for row in report["rows"]:
        point = tab.page.locator(f'#report-series tr[data-key="{row["key"]}"] td')
        expect(point.nth(1)).to_have_text(str(row["leads"]))
    expect(tab.page.locator("#report-series td").nth(1)).to_have_text("0")
    legend = tab.page.locator("#report-chart .u-legend .u-series")
    expect(legend).to_have_count(3)  # the time, then leads and revenue
    expect(legend.nth(2)).to_contain_text("Revenue")
    # A line added by its checkbox is drawn at once, without a reload.
    tab.page.get_by_label("Sold", exact=True).check()
    expect(legend).to_have_count(4)
    seller_row = tab.page.locator('#report-table tr[data-key="acme-media"]')
    expect(seller_row.locator('td[data-column="leads"]')).to_have_text("5")


def test_a_bad_parameter_is_said_on_the_page_and_the_csv_needs_a_session(
    console: ConsoleRouter, tab: Tab
) -> None:
    tab.log_in(BOB, then="/console/reports")
    assert tab.goto("/console/reports?by=planet&from=2026-02-01&to=2026-01-01") == 400
    expect(tab.page.get_by_role("alert")).to_contain_text("bad by")
    expect(tab.page.get_by_label("From (date or time)")).to_have_value("2026-02-01")
    answer = console.http("GET", "/console/reports.csv?by=buyer")
    assert answer.status == 303
    assert answer.headers["Location"].startswith("/console/login?next=/console/reports.csv")
