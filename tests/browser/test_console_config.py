"""The console's Config page in a real Chromium against a real `pingtree serve` (DESIGN §13): the
running tree's summary with no secret in it; the router's buyers.yaml edited on disk during the
test, checked on the page (the diff names the change), reloaded by an admin and live at once
(GET /admin/buyers), the reload in the audit log with its diff; a broken file shows every error
with its path and changes nothing; a file changed again after its diff was shown is not
reloaded; a viewer sees no Reload button, and their forged POST is refused, 403."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import expect

from tests.browser.console import ConsoleRouter, Tab
from tests.conftest import ADMIN_TOKEN, SELLER_KEY
from tests.e2e.test_operators import ALICE, BOB

SESSION_COOKIE = "pingtree_console"


@pytest.fixture
def config_file(console: ConsoleRouter) -> Iterator[Path]:
    """The buyers.yaml the router was started with (its --config); put back as it was after
    the test, and reloaded if the test left the router on another."""
    args = [str(arg) for arg in console.served.process.args]  # routers() gave it a list
    path = Path(args[args.index("--config") + 1])
    original = path.read_text()
    yield path
    path.write_text(original)
    assert console.http("POST", "/admin/reload", token=ADMIN_TOKEN).status == 200


def edited(path: Path, change: Any) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document))


def buyer(document: dict[str, Any], buyer_id: str) -> dict[str, Any]:
    (found,) = [b for b in document["buyers"] if b["id"] == buyer_id]
    return found


def session_post(tab: Tab, path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The cookies and form fields of a reload POST by the tab's operator, made by hand: their
    session, its CSRF token and the digest of the file as it is."""
    token = tab.page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    cookies = {SESSION_COOKIE: tab.cookie(SESSION_COOKIE)["value"]}
    return cookies, {"csrf_token": token, "digest": hashlib.sha256(path.read_bytes()).hexdigest()}


def daily_cap(console: ConsoleRouter, buyer_id: str) -> Any:
    views = console.api("/admin/buyers", ADMIN_TOKEN)["buyers"]
    (found,) = [view for view in views if view["id"] == buyer_id]
    return found["caps"]["daily"]["cap"]


def test_the_summary_shows_the_tree_and_no_secret(console: ConsoleRouter, tab: Tab) -> None:
    tab.log_in(BOB, then="/console/config")
    firm = tab.page.locator('#tier-1 tr[data-buyer="firm"]')
    expect(firm.locator(".pricing")).to_have_text("bid")
    expect(firm).to_contain_text("states FL")
    expect(firm).to_contain_text(re.compile(r"native · 800 ms · http://127\.0\.0\.1:\d+/firm/ping"))
    expect(tab.page.locator('#sellers tr[data-seller="acme-media"]')).to_contain_text(
        "revshare 0.8"
    )
    expect(tab.page.locator("#operators")).to_contain_text("alice")
    html = tab.page.content()
    assert [secret for secret in (ALICE, BOB, ADMIN_TOKEN, SELLER_KEY) if secret in html] == []


def test_an_edited_file_is_diffed_then_reloaded_by_an_admin_and_audited(
    console: ConsoleRouter, tab: Tab, config_file: Path
) -> None:
    assert daily_cap(console, "firm") is None
    edited(config_file, lambda doc: buyer(doc, "firm").update(caps={"daily": 7}))
    tab.log_in(ALICE, then="/console/config")
    firm = tab.page.locator('#tier-1 tr[data-buyer="firm"]')
    expect(firm.locator(".caps")).to_have_text("")  # the running tree, not the file yet

    tab.page.get_by_role("link", name="Validate and reload…").click()
    expect(tab.page.get_by_role("heading", name=re.compile("is valid"))).to_be_visible()
    expect(tab.page.locator("#config-diff li")).to_have_text(["buyer firm changed: caps"])
    assert daily_cap(console, "firm") is None  # shown, not done

    tab.page.get_by_role("button", name="Reload").click()
    tab.page.wait_for_url(re.compile(r".*/console/config\?reloaded=\d+$"))
    expect(tab.page.get_by_role("status")).to_contain_text("Reloaded")
    expect(firm.locator(".caps")).to_have_text("daily 7")
    assert daily_cap(console, "firm") == 7  # live: the API reads the same tree

    console.caught_up()
    tab.goto("/console/config")
    newest = tab.page.locator("#audit tbody tr").first
    expect(newest).to_have_attribute("data-action", "reload")
    expect(newest).to_contain_text("alice")
    expect(newest.locator(".detail")).to_contain_text("buyer firm changed: caps")
    (entry, *_) = console.api("/admin/audit?action=reload", ADMIN_TOKEN)["entries"]
    assert entry["operator"] == "alice"
    assert entry["detail"]["buyers"]["changed"] == {"firm": ["caps"]}


def test_a_broken_file_shows_every_error_with_its_path_and_changes_nothing(
    console: ConsoleRouter, tab: Tab, config_file: Path
) -> None:
    def broken(document: dict[str, Any]) -> None:
        buyer(document, "firm").update(priority=0, caps={"daily": 3})
        buyer(document, "backup")["ping"]["timeout_ms"] = 5

    edited(config_file, broken)
    tab.log_in(ALICE, then="/console/config/check")
    expect(tab.page.get_by_role("heading", name=re.compile("2 error"))).to_be_visible()
    expect(tab.page.locator("#config-errors li")).to_have_text(
        [
            "buyers[0:firm].priority: Input should be greater than or equal to 1",
            "buyers[1:backup].ping.timeout_ms: Input should be greater than or equal to 10",
        ]
    )
    expect(tab.page.get_by_role("button", name="Reload")).to_have_count(0)
    # Posted anyway (the form of a page opened before the file broke): refused, nothing changed.
    cookies, data = session_post(tab, config_file)
    refused = console.http("POST", "/console/config/reload", cookies=cookies, data=data)
    assert refused.status == 422
    assert "buyers[0:firm].priority" in refused.text
    assert daily_cap(console, "firm") is None


def test_a_file_changed_after_its_diff_was_shown_is_not_reloaded(
    console: ConsoleRouter, tab: Tab, config_file: Path
) -> None:
    edited(config_file, lambda doc: buyer(doc, "firm").update(caps={"daily": 7}))
    tab.log_in(ALICE, then="/console/config/check")
    expect(tab.page.locator("#config-diff li")).to_have_text(["buyer firm changed: caps"])
    edited(config_file, lambda doc: buyer(doc, "backup").update(priority=2))
    with tab.page.expect_response(lambda r: r.request.method == "POST") as posted:
        tab.page.get_by_role("button", name="Reload").click()
    assert posted.value.status == 409
    expect(tab.page.get_by_role("alert")).to_contain_text("The file changed since you saw its diff")
    expect(tab.page.locator("#config-diff li")).to_have_text(
        ["buyer backup changed: priority", "buyer firm changed: caps"]
    )
    assert daily_cap(console, "firm") is None
    tab.page.get_by_role("button", name="Reload").click()  # the new diff, confirmed
    tab.page.wait_for_url(re.compile(r".*/console/config\?reloaded=\d+$"))
    assert daily_cap(console, "firm") == 7
    expect(tab.page.locator("#tier-2")).to_contain_text("backup")


def test_a_viewer_sees_no_reload_and_a_forged_one_is_refused(
    console: ConsoleRouter, tab: Tab, config_file: Path
) -> None:
    edited(config_file, lambda doc: buyer(doc, "firm").update(caps={"daily": 7}))
    tab.log_in(BOB, then="/console/config")
    expect(tab.page.get_by_role("link", name="Validate", exact=True)).to_be_visible()
    tab.page.get_by_role("link", name="Validate", exact=True).click()
    expect(tab.page.locator("#config-diff li")).to_have_text(["buyer firm changed: caps"])
    expect(tab.page.get_by_role("button", name="Reload")).to_have_count(0)
    expect(tab.page.locator("main form")).to_have_count(0)
    cookies, data = session_post(tab, config_file)
    forged = console.http("POST", "/console/config/reload", cookies=cookies, data=data)
    assert forged.status == 403, forged.text
    assert daily_cap(console, "firm") is None
    console.caught_up()
    assert console.api("/admin/audit?operator=bob", ADMIN_TOKEN)["entries"] == []
