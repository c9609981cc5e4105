"""The console's Deliveries page in a real Chromium against a real `pingtree serve` whose buyer's
sales go to a real local CRM (test_deliveries_worker.py's Receiver) that is down: a sold lead's
delivery ends as a dead letter on the page; once the CRM is back, an admin's Replay sends it
again, the CRM gets it and the job is delivered, audited in the admin's name. A waiting job's
Retry now skips its backoff. A viewer sees the jobs and no button, and their forged POST (the
session's cookie and CSRF token, posted by hand) is refused, 403, with nothing done."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.console import Background, ConsoleRouter, Tab
from tests.buyers import BuyerServer
from tests.conftest import config_dict, make_buyer
from tests.e2e.router_processes import consumer
from tests.e2e.test_deliveries_worker import Receiver, destination
from tests.e2e.test_operators import ALICE, BOB, OPERATORS

DOWN = 500  # what the CRM answers while it is down: retried on its schedule, then dead


@pytest.fixture(scope="module")
def crm(background: Background) -> Iterator[Receiver]:
    receiver = Receiver()
    background.run(receiver.start())
    yield receiver
    background.run(receiver.close())


@pytest.fixture(scope="module")
def console_config(console_buyers: BuyerServer, crm: Receiver) -> dict[str, Any]:
    """`firm` buys every Florida lead at 41.35; each sale goes to its CRM (two quick attempts,
    then a dead letter) and to its dialer (a second attempt ten minutes after a failed first)."""
    console_buyers.set("firm", bid=41.35)
    deliveries = [
        destination(crm, "crm", retry_s=[0, 0.05]),
        destination(crm, "dialer", retry_s=[0, 600]),
    ]
    firm = make_buyer("firm", console_buyers, filters={"states": ["FL"]}, deliveries=deliveries)
    return config_dict([firm], router={"deliveries": {"poll_ms": 20}}, operators=OPERATORS)


def crm_down(crm: Receiver) -> None:
    crm.answer("crm", *[DOWN] * 1000)
    crm.answer("dialer", *[DOWN] * 1000)


def crm_back(crm: Receiver) -> None:
    crm.answer("crm")
    crm.answer("dialer")


def job_state(console: ConsoleRouter, job_id: str) -> str:
    return str(console.api(f"/admin/deliveries/{job_id}", ALICE)["state"])


def wait_for_state(console: ConsoleRouter, job_id: str, state: str, timeout_s: float = 5) -> None:
    deadline = time.monotonic() + timeout_s
    while (found := job_state(console, job_id)) != state:
        assert time.monotonic() < deadline, f"{job_id} is {found}, not {state}"
        time.sleep(0.02)


def sold_with_dead_crm(console: ConsoleRouter, crm: Receiver, n: int) -> tuple[str, str, str]:
    """A lead sold while the CRM is down: (its id, its CRM job (dead), its dialer job (waiting))."""
    crm_down(crm)
    answer = console.send(consumer(n))
    assert answer["status"] == "sold"
    dead, waiting = f"{answer['id']}.buyer:firm.crm", f"{answer['id']}.buyer:firm.dialer"
    wait_for_state(console, dead, "dead")
    assert job_state(console, waiting) == "waiting"
    return answer["id"], dead, waiting


def test_a_dead_letter_is_replayed_by_an_admin_once_the_crm_is_back(
    console: ConsoleRouter, crm: Receiver, tab: Tab
) -> None:
    lead_id, dead, waiting = sold_with_dead_crm(console, crm, 1)
    tab.log_in(ALICE, then="/console/deliveries")
    row = tab.page.locator(f'#dead tr[data-job="{dead}"]')
    expect(row).to_be_visible()
    expect(row.locator(".job-state")).to_have_text("dead")
    expect(row.get_by_role("link", name=lead_id)).to_have_attribute(
        "href", f"/console/leads/{lead_id}"
    )
    expect(row).to_contain_text(f"HTTP {DOWN}")
    expect(tab.page.locator(f'#waiting tr[data-job="{waiting}"]')).to_be_visible()
    sent_before = len(crm.at("crm"))

    crm_back(crm)
    row.get_by_role("button", name="Replay").click()
    done = f"/console/deliveries?done=replay&job={dead.replace(':', '%3A')}"
    tab.page.wait_for_url(tab.router.url(done))
    expect(tab.page.get_by_role("status")).to_contain_text("Replay asked")
    wait_for_state(console, dead, "delivered")
    received = crm.at("crm")[sent_before:]
    assert [seen.headers["webhook-id"] for seen in received] == [dead]
    assert received[0].signed_ok is True
    tab.goto("/console/deliveries")
    expect(tab.page.locator(f'#delivered tr[data-job="{dead}"]')).to_be_visible()
    expect(tab.page.locator(f'#dead tr[data-job="{dead}"]')).to_have_count(0)

    # The waiting dialer job: Retry now, without its ten minutes' backoff.
    waiting_row = tab.page.locator(f'#waiting tr[data-job="{waiting}"]')
    waiting_row.get_by_role("button", name="Retry now").click()
    expect(tab.page.get_by_role("status")).to_contain_text("Retry asked")
    wait_for_state(console, waiting, "delivered")

    console.caught_up()
    entries = console.api("/admin/audit?operator=alice", ALICE)["entries"]
    said = [(e["action"], e["target"], e["detail"]) for e in entries]
    assert said[:2] == [
        ("retry", waiting, {"lead_id": lead_id, "destination": "dialer", "was": "waiting"}),
        ("replay", dead, {"lead_id": lead_id, "destination": "crm", "was": "dead"}),
    ]


def test_a_viewer_sees_the_dead_letters_and_no_button_and_cannot_forge_one(
    console: ConsoleRouter, crm: Receiver, tab: Tab
) -> None:
    _, dead, waiting = sold_with_dead_crm(console, crm, 2)
    tab.log_in(BOB, then="/console/deliveries")
    expect(tab.page.locator(f'#dead tr[data-job="{dead}"]')).to_be_visible()
    expect(tab.page.locator(f'#waiting tr[data-job="{waiting}"]')).to_be_visible()
    expect(tab.page.get_by_role("button", name="Replay")).to_have_count(0)
    expect(tab.page.get_by_role("button", name="Retry now")).to_have_count(0)
    expect(tab.page.locator("main form[method=post]")).to_have_count(0)

    crm_back(crm)
    cookies = {"pingtree_console": tab.cookie("pingtree_console")["value"]}
    token = tab.page.locator('meta[name="csrf-token"]').get_attribute("content")
    assert token
    for job_id, what in ((dead, "replay"), (waiting, "retry")):
        path = f"/console/deliveries/{job_id}/{what}"
        forged = console.http("POST", path, cookies=cookies, data={"csrf_token": token})
        assert forged.status == 403, forged.text
        assert "admin" in forged.text
    time.sleep(0.2)  # had a replay been done, the CRM (now back) would have the job by now
    assert (job_state(console, dead), job_state(console, waiting)) == ("dead", "waiting")
    console.caught_up()
    assert console.api("/admin/audit?operator=bob", ALICE)["entries"] == []


def test_replaying_a_job_that_is_not_dead_is_refused_with_the_reason(
    console: ConsoleRouter, crm: Receiver, tab: Tab
) -> None:
    """A page left open while another admin replayed the job: the second press says why."""
    _, dead, _ = sold_with_dead_crm(console, crm, 3)
    crm_back(crm)
    tab.log_in(ALICE, then="/console/deliveries")
    button = tab.page.locator(f'#dead tr[data-job="{dead}"]').get_by_role("button", name="Replay")
    assert console.http("POST", f"/admin/deliveries/{dead}/replay", token=ALICE).status == 200
    wait_for_state(console, dead, "delivered")
    with tab.page.expect_response(lambda r: r.request.method == "POST") as posted:
        button.click()
    assert posted.value.status == 409
    expect(tab.page.get_by_role("heading", level=1)).to_contain_text(
        "this delivery is delivered: replay applies to dead or disabled ones"
    )
