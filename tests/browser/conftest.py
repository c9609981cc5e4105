"""The console's browser tests' fixtures. A test module gets ONE router and its buyers
(`console`, module-scoped: started once, shared by the module's tests), ONE Chromium (`browser`,
module-scoped too), and each test a fresh browser context (`tab`: no cookie, so logged out)
whose page must meet no Content-Security-Policy violation and no script error, checked when the
test ends.

A module chooses its market by overriding `console_config(console_buyers)`: a buyers.yaml as a
dict (tests/conftest.py's config_dict and make_buyer; `operators=OPERATORS` gives it alice, an
admin, and bob, a viewer). The default: two buyers who bid on every lead from Florida, `firm`
41.35 and `backup` 17.85, and take every post (a lead from elsewhere is unsold).

    def test_something(console: ConsoleRouter, tab: Tab) -> None:
        tab.log_in(ALICE, then="/console/leads")
        sold = console.send(consumer(1))
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.console import Background, ConsoleRouter, RouterProcesses, Tab, launch_chromium
from tests.buyers import BuyerServer
from tests.conftest import config_dict, make_buyer
from tests.e2e.test_operators import OPERATORS


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Per module, not per session: while Playwright's sync API is open, its event loop counts as
    running in the main thread, and the async tests of the modules after this one could not run
    theirs (`Runner.run() cannot be called from a running event loop`)."""
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def background() -> Iterator[Background]:
    loop = Background()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def console_buyers(background: Background) -> Iterator[BuyerServer]:
    server = BuyerServer()
    background.run(server.start())
    yield server
    background.run(server.close())


@pytest.fixture(scope="module")
def console_config(console_buyers: BuyerServer) -> dict[str, Any]:
    console_buyers.set("firm", bid=41.35)
    console_buyers.set("backup", bid=17.85)
    florida = {"states": ["FL"]}
    return config_dict(
        [
            make_buyer("firm", console_buyers, filters=florida),
            make_buyer("backup", console_buyers, filters=florida),
        ],
        operators=OPERATORS,
    )


@pytest.fixture(scope="module")
def console(
    background: Background,
    console_buyers: BuyerServer,
    console_config: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ConsoleRouter]:
    """`pingtree serve` on a free loopback port, its ledger in memory."""
    processes = RouterProcesses(background, tmp_path_factory.mktemp("console"))
    served, client = processes.start(console_config)
    yield ConsoleRouter(served, console_buyers, background, client)
    processes.stop()


@pytest.fixture
def tab(browser: Browser, console: ConsoleRouter) -> Iterator[Tab]:
    context = browser.new_context()
    opened = Tab(context.new_page(), console)
    yield opened
    context.close()
    assert opened.problems == [], "the page broke its Content-Security-Policy or a script failed"


__all__: list[str] = []
