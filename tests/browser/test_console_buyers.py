"""The console's Buyers page in a real Chromium (DESIGN §13): an admin pauses a buyer from the
page, and the next lead skips it with reason `paused` (its trace says so) until it is resumed
from the page, both audited in their name; a viewer sees the state and no button, and a POST of
theirs with their own session's CSRF token is refused, 403, pausing nothing; "Try" shows the
ping and the post a buyer would be sent for a sample lead, the ping without its PII, sending
nothing."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.console import ConsoleRouter, Tab
from tests.e2e.router_processes import consumer
from tests.e2e.test_operators import ALICE, BOB

SESSION_COOKIE = "pingtree_console"


def firm_trace(console: ConsoleRouter, n: int) -> tuple[str | None, list[tuple[str, str, Any]]]:
    """Send consumer n's lead; (the buyer it sold to, firm's steps in its trace)."""
    answer = console.send(consumer(n))
    lead = console.api(f"/admin/leads/{answer['id']}", BOB)
    steps = [(e["step"], e["result"], e.get("reason")) for e in lead["trace"]]
    firms = [
        step
        for step, event in zip(steps, lead["trace"], strict=True)
        if event["buyer_id"] == "firm"
    ]
    return lead["buyer_id"], firms


def switch(console: ConsoleRouter, buyer_id: str) -> dict[str, Any]:
    buyers = console.api("/admin/buyers", BOB)["buyers"]
    found: dict[str, Any] = next(b for b in buyers if b["id"] == buyer_id)
    return found


def test_a_buyer_paused_from_the_page_is_skipped_until_resumed_from_it(
    console: ConsoleRouter, tab: Tab
) -> None:
    assert firm_trace(console, 1)[0] == "firm"
    tab.log_in(ALICE, then="/console/buyers")
    row = tab.page.locator("#buyer-firm")
    expect(row.locator(".switch")).to_have_text("enabled")
    expect(row.locator('td[data-kind="pings"]')).to_have_text("1")
    row.get_by_label("Reason for pausing firm").fill("QA from the console")
    row.get_by_role("button", name="Pause").click()
    tab.page.wait_for_url("**/console/buyers?did=paused&buyer=firm")
    expect(tab.page.get_by_role("status")).to_contain_text("firm paused")
    expect(row).to_have_attribute("data-enabled", "false")
    expect(row.locator(".switch")).to_contain_text("paused by alice")
    expect(row.locator(".switch")).to_contain_text("QA from the console")
    paused = switch(console, "firm")["paused"]
    assert (paused["by"], paused["reason"]) == ("alice", "QA from the console")

    pings = len(console.buyers.recorded("firm").pings)
    assert firm_trace(console, 2) == ("backup", [("skip", "skipped", "paused")])
    assert len(console.buyers.recorded("firm").pings) == pings  # no ping went out to it

    row.get_by_role("button", name="Resume").click()
    tab.page.wait_for_url("**/console/buyers?did=resumed&buyer=firm")
    expect(row).to_have_attribute("data-enabled", "true")
    assert switch(console, "firm")["enabled"] is True
    buyer, steps = firm_trace(console, 3)
    assert buyer == "firm" and steps[0] == ("ping", "bid", None)

    console.caught_up()
    audit = console.api("/admin/audit?target=firm", BOB)["entries"]
    done = [(e["operator"], e["action"], e["detail"]) for e in reversed(audit)]
    assert done == [
        ("alice", "pause", {"reason": "QA from the console"}),
        ("alice", "resume", {"was_paused": True}),
    ]


def test_a_viewer_sees_the_state_and_no_button_and_cannot_pause(
    console: ConsoleRouter, tab: Tab
) -> None:
    tab.log_in(BOB, then="/console/buyers")
    expect(tab.page.locator("#buyers tbody tr")).to_have_count(2)
    expect(tab.page.locator("#buyer-backup .switch")).to_have_text("enabled")
    expect(tab.page.get_by_role("button", name="Pause")).to_have_count(0)
    expect(tab.page.get_by_role("button", name="Resume")).to_have_count(0)
    expect(tab.page.locator("#buyer-backup").get_by_role("link", name="Try")).to_be_visible()

    # Bob forges the admin's form: his own session, his own valid CSRF token. Refused.
    cookies = {SESSION_COOKIE: tab.cookie(SESSION_COOKIE)["value"]}
    token = tab.page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    for action in ("pause", "resume"):
        forged = console.http(
            "POST",
            f"/console/buyers/backup/{action}",
            cookies=cookies,
            data={"csrf_token": token, "reason": "bob was here"},
        )
        assert forged.status == 403, forged.text
        assert "bob is a viewer" in forged.text
    assert switch(console, "backup")["enabled"] is True
    audit = console.api("/admin/audit?target=backup", BOB)["entries"]
    assert audit == []


def test_try_this_buyer_shows_its_ping_without_pii_and_sends_nothing(
    console: ConsoleRouter, tab: Tab
) -> None:
    pings = len(console.buyers.recorded("firm").pings)
    tab.log_in(BOB, then="/console/buyers")  # changes nothing: a viewer may try too
    tab.page.locator("#buyer-firm").get_by_role("link", name="Try").click()
    tab.page.wait_for_url("**/console/buyers/firm/try")
    lead = tab.page.get_by_label("Sample lead (JSON)")
    expect(lead).to_contain_text('"state": "FL"')
    tab.page.get_by_role("button", name="Show the ping and the post").click()
    output = tab.page.locator("#try-output")
    expect(output).to_contain_text("--- ping to firm: POST ")
    text = output.inner_text()
    ping, _, post = text.partition("--- post to firm")
    pii = [
        "Sample",
        "Person",
        "+13055550100",
        "3055550100",
        "sample.person@example.com",
        "198.51.100.7",
        "0000000000000000",
    ]
    assert post and [value for value in pii if value in ping] == []
    assert "sample.person@example.com" in post  # the post carries the lead sold
    assert len(console.buyers.recorded("firm").pings) == pings  # nothing was sent

    lead.fill('{"vertical": "mva", "state": "FL"')
    tab.page.get_by_role("button", name="Show the ping and the post").click()
    expect(tab.page.get_by_role("alert")).to_contain_text("the lead is not JSON")
    expect(output).to_have_count(0)
