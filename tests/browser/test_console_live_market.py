"""The console's Live page in a real Chromium, for the leads sold the newer ways (DESIGN §14): a
lead sold shared names every buyer with its price in its row, not only the first; a lead posted
to its ping's quote (exchange mode) is tagged with the quote."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from pingtree.core import jsonenc
from pingtree.core.lead import PII_FIELDS
from tests.browser.console import ConsoleRouter, Tab
from tests.buyers import BuyerServer
from tests.conftest import OTHER_KEY, SELLER_KEY, config_dict, make_buyer
from tests.e2e.router_processes import consumer
from tests.e2e.test_operators import BOB, OPERATORS


@pytest.fixture(scope="module")
def console_config(console_buyers: BuyerServer) -> dict[str, Any]:
    console_buyers.set("firm", bid=41.35)
    console_buyers.set("backup", bid=17.85)
    florida = {"states": ["FL"]}
    sellers = [
        {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8},
        {"id": "other-media", "api_key": OTHER_KEY, "payout": 20},
    ]
    sellers[0].update(sell="shared", max_buyers=2)
    return config_dict(
        [
            make_buyer("firm", console_buyers, filters=florida, shared=True),
            make_buyer("backup", console_buyers, filters=florida, shared=True),
        ],
        sellers=sellers,
        operators=OPERATORS,
    )


def as_other_seller(console: ConsoleRouter, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = console.http("POST", path, headers={"X-API-Key": OTHER_KEY}, json=body)
    assert answer.status == 200, answer.text
    return dict(jsonenc.loads(answer.text))


def test_live_names_every_buyer_of_a_shared_lead_and_tags_a_quoted_post(
    console: ConsoleRouter, tab: Tab
) -> None:
    tab.log_in(BOB)
    expect(tab.page.locator("#stream-state")).to_have_attribute("data-state", "open")
    shared = console.send(consumer(1))
    assert shared["status"] == "sold"
    row = tab.page.locator(f'#live-leads tr[data-id="{shared["id"]}"]')
    expect(row.locator(".buyer")).to_have_text("firm 41.35, backup 17.85")
    expect(row.locator(".quoted")).to_have_count(0)

    whole = consumer(2)
    pinged = {k: v for k, v in whole.items() if k not in PII_FIELDS}
    quoted = as_other_seller(console, "/v1/ping", pinged)
    assert quoted["accepted"] is True
    posted = as_other_seller(console, "/v1/post", {**whole, "ping_id": quoted["ping_id"]})
    assert posted["status"] == "sold"
    row = tab.page.locator(f'#live-leads tr[data-id="{posted["id"]}"]')
    expect(row.locator(".quoted")).to_have_text("quoted 20.00")
    expect(row.locator(".buyer")).to_have_text("firm")
