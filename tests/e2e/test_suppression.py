"""Suppression lists (DESIGN §16) through HTTP against a real router and real local buyers: a
consumer on a list of scope all is rejected (`suppressed`) before any ping, the trace naming the
list; one on a list scoped to buyers skips only them; a value added through the API or
`pingtree suppress add` is in force for the very next lead; a bad line of a list's file is
counted, not fatal; suppressed leads are found by GET /admin/leads?reason=suppressed; and no
phone or email reaches the audit, the log, the metrics or Redis in clear; three routers
sharing one Redis see a value added through any of them at once; a lead the lists cannot be
checked for (the store down) is refused with a 503, never sold unchecked."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from pingtree.config import parse_config
from pingtree.core.errors import StoreUnavailable
from pingtree.store.state.memory import MemoryStore
from pingtree.store.suppression.base import SuppressionEntries, Wanted
from pingtree.store.suppression.memory import MemorySuppression
from pingtree.web.app import create_app
from tests.buyers import BuyerServer
from tests.conftest import SELLER_KEY, ServeApp, config_dict, make_buyer, sample
from tests.e2e.router_processes import routers, seller
from tests.e2e.test_operators import ALICE, BOB, OPERATORS, Operated, serve_file, until
from tests.web.documented import assert_documented
from tests.web.test_console_sessions import log_in

# On the phone list's file, written as operators' exports are: a header, formats of all kinds.
LISTED_PHONE = "+13055550101"
LISTED_EMAIL = "Listed.Person@Example.com"
ADDED_PHONE = "+13055550177"
ADD_ROUTE, JSON = "/admin/suppression/{id}", "application/json"


def lists_files(tmp_path: Path) -> tuple[Path, Path]:
    dnc = tmp_path / "dnc.csv"
    dnc.write_text(
        "phone,source\n"
        "(305) 555-0101,litigator\n"  # LISTED_PHONE, the way a list spells it
        "not a number\n"  # line 3: bad, counted
        "+1 305 555 0102\n"
        "\n"
        "3055550103\n"
    )
    emails = tmp_path / "optouts.csv"
    emails.write_text('email\n"listed.person@example.com"\n')
    return dnc, emails


def market(buyers: BuyerServer, tmp_path: Path, **top: Any) -> dict[str, Any]:
    """a bids 30, b 20: a wins whenever it is asked. dnc (phones) keeps every buyer off;
    optouts (emails) keeps a off."""
    buyers.set("a", bid=30)
    buyers.set("b", bid=20)
    dnc, emails = lists_files(tmp_path)
    suppression = [
        {"id": "dnc", "file": str(dnc), "match": "phone", "scope": "all"},
        {"id": "optouts", "file": str(emails), "match": "email", "scope": ["a"]},
    ]
    return config_dict(
        [make_buyer("a", buyers), make_buyer("b", buyers)],
        router={"dedup_secret": "suppression-test-secret"},
        operators=OPERATORS,
        suppression=suppression,
        **top,
    )


def lead(n: int, **fields: Any) -> dict[str, Any]:
    return {**sample("mva-legal"), "lead_id": f"lead-{n}", "email": f"c{n}@example.com", **fields}


async def operator_view(router: Operated, answer: dict[str, Any]) -> dict[str, Any]:
    status, view = await router.call("GET", f"/admin/leads/{answer['id']}", BOB)
    assert status == 200, view
    return dict(view)


@pytest.fixture
async def router(buyers: BuyerServer, serve_app: ServeApp, tmp_path: Path) -> Operated:
    return await serve_file(serve_app, tmp_path / "buyers.yaml", market(buyers, tmp_path))


async def test_a_consumer_on_a_list_of_scope_all_is_rejected_before_any_ping(
    router: Operated, buyers: BuyerServer
) -> None:
    answer = await router.send(lead(1, phone="305.555.0101"))
    assert (answer["status"], answer["reason"]) == ("rejected", "suppressed")
    assert not buyers.recorded("a").pings and not buyers.recorded("b").pings
    view = await operator_view(router, answer)
    assert [(e["buyer_id"], e["step"], e["result"], e["reason"]) for e in view["trace"]] == [
        ("*", "skip", "rejected", "suppressed")
    ]
    assert "dnc" in view["trace"][0]["detail"]

    clean = await router.send(lead(2, phone="+13055550199"))
    assert (clean["status"], len(buyers.recorded("a").pings)) == ("sold", 1)


async def test_a_list_scoped_to_buyers_skips_only_them(
    router: Operated, buyers: BuyerServer
) -> None:
    answer = await router.send(lead(3, phone="+13055550198", email=LISTED_EMAIL))
    assert answer["status"] == "sold"
    view = await operator_view(router, answer)
    assert view["buyer_id"] == "b"
    skipped = [e for e in view["trace"] if e["buyer_id"] == "a"]
    assert [(e["step"], e["result"], e["reason"]) for e in skipped] == [
        ("skip", "skipped", "suppressed")
    ]
    assert skipped[0]["detail"] == "on suppression list optouts"
    assert not buyers.recorded("a").pings and len(buyers.recorded("b").pings) == 1


async def test_the_lists_say_their_sizes_and_a_bad_line_is_counted_not_fatal(
    router: Operated,
) -> None:
    status, answer = await router.call("GET", "/admin/suppression", BOB)
    assert status == 200
    assert_documented("/admin/suppression", "get", status, JSON, answer)
    dnc, optouts = answer["lists"]
    assert (dnc["id"], dnc["match"], dnc["scope"]) == ("dnc", "phone", "all")
    assert (dnc["file_entries"], dnc["file_bad_lines"], dnc["file_first_bad_lines"]) == (3, 1, [3])
    assert (optouts["scope"], optouts["file_entries"], optouts["file_bad_lines"]) == (["a"], 1, 0)
    assert dnc["added_entries"] == 0


async def test_values_added_through_the_api_are_in_force_for_the_next_lead(
    router: Operated, buyers: BuyerServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert (await router.send(lead(4, phone=ADDED_PHONE)))["status"] == "sold"

    values = ["305-555-0177", "not a phone", 42]
    status, answer = await router.call("POST", "/admin/suppression/dnc", ALICE, {"values": values})
    assert status == 200, answer
    assert_documented(ADD_ROUTE, "post", status, JSON, answer)
    assert answer == {"list": "dnc", "received": 3, "added": 1, "invalid": 2}
    again = await router.send(lead(5, phone=ADDED_PHONE))
    assert (again["status"], again["reason"]) == ("rejected", "suppressed")

    refusals = [
        (403, BOB, "dnc", {"values": values}),  # a viewer adds nothing
        (404, ALICE, "nope", {"values": []}),
        (400, ALICE, "dnc", {"value": "x"}),
    ]
    for expected, token, list_id, body in refusals:
        status, answer = await router.call("POST", f"/admin/suppression/{list_id}", token, body)
        assert status == expected
        assert_documented(ADD_ROUTE, "post", status, JSON, answer)

    (entry,) = [e for e in router.audit.entries if e.action == "suppression_add"]
    assert (entry.operator, entry.target) == ("alice", "dnc")
    assert entry.detail == {"received": 3, "added": 1, "invalid": 2}
    status, lists = await router.call("GET", "/admin/suppression", BOB)
    assert lists["lists"][0]["added_entries"] == 1
    _, metrics = await router.call("GET", "/metrics", None)
    for text in (caplog.text, str(router.audit.entries), metrics):
        # The numbers as 7 digits or more: shorter runs of digits turn up in metrics by chance.
        for value in ("5550177", "555-0177", "5550101", "555-0101", "listed.person"):
            assert value not in text.lower()


async def test_suppressed_leads_are_found_by_reason(router: Operated) -> None:
    rejected = await router.send(lead(6, phone=LISTED_PHONE))
    await router.send(lead(7, phone="+13055550197"))

    async def listed() -> list[str]:
        status, page = await router.call("GET", "/admin/leads?reason=suppressed", BOB)
        assert status == 200, page
        return [found["id"] for found in page["leads"]]

    await until(lambda: _equals(listed(), [rejected["id"]]))
    # The console's Leads page searches by reason too.
    cookies, _ = await log_in(router, BOB)
    console = router.base + "/console/leads?reason=suppressed"
    async with router.session.get(console, headers=cookies) as page:
        assert page.status == 200
        shown = await page.text()
    assert rejected["id"] in shown, shown
    assert 'name="reason" type="text" value="suppressed"' in shown
    assert shown.count("/console/leads/ld_") == 1  # the one lead, not the one sold
    command = [sys.executable, "-m", "pingtree", "leads", "--reason", "suppressed"]
    command += ["--url", router.base, "--token", BOB]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert rejected["id"] in done.stdout and "rejected (suppressed)" in done.stdout
    status, answer = await router.call("GET", "/admin/reports?reason=suppressed", BOB)
    assert (status, list(answer["fields"])) == (400, ["reason"])

    # The reports count them apart: one lead of two rejected, by a suppression list.
    async def totals_of_both() -> bool:
        status, report = await router.call("GET", "/admin/reports?by=seller", BOB)
        assert status == 200, report
        assert_documented("/admin/reports", "get", status, JSON, report)
        reported.update(report["totals"])
        return bool(reported["leads"] == 2)

    reported: dict[str, Any] = {}
    await until(totals_of_both)
    totals = reported
    assert (totals["leads"], totals["rejected"], totals["suppressed"]) == (2, 1, 1)
    assert (totals["consent_failed"], totals["check_failed"]) == (0, 0)


async def _equals(found: Any, expected: list[str]) -> bool:
    return bool(await found == expected)


async def test_pingtree_suppress_add_sends_a_file_to_a_running_router(
    router: Operated, tmp_path: Path
) -> None:
    added = tmp_path / "more.csv"
    added.write_text("phone\n3055550188\n3055550189\nbad line\n")
    assert (await router.send(lead(8, phone="+13055550188")))["status"] == "sold"
    command = [sys.executable, "-m", "pingtree", "suppress", "add", "dnc", str(added)]
    command += ["--url", router.base, "--token", ALICE]
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "dnc: 3 value(s) sent, 2 added, 1 not a valid phone or email"
    assert "5550188" not in done.stdout + done.stderr
    again = await router.send(lead(9, phone="+13055550188"))
    assert (again["status"], again["reason"]) == ("rejected", "suppressed")

    command[-1] = BOB  # a viewer: refused, exit 2
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True)
    assert done.returncode == 2 and "403" in done.stderr


async def test_routers_sharing_redis_see_a_value_added_through_any_of_them(
    buyers: BuyerServer, tmp_path: Path, redis_url: str
) -> None:
    async with routers(tmp_path) as start, seller() as client:
        served = await start(market(buyers, tmp_path), redis_url, count=3)
        bases = [one.base for one in served]
        for n, base in enumerate(bases):
            answer = await client.send(base, lead(20 + n, phone=ADDED_PHONE))
            assert answer.body["status"] == "sold", answer.body
            listed = await client.send(base, lead(30 + n, phone=LISTED_PHONE))
            assert listed.body["reason"] == "suppressed"  # each router's copy of the file

        body = {"values": [ADDED_PHONE, LISTED_EMAIL]}
        async with client.session.post(
            f"{bases[0]}/admin/suppression/dnc",
            json=body,
            headers={"Authorization": f"Bearer {ALICE}"},
        ) as response:
            assert response.status == 200
            assert (await response.json())["added"] == 1  # the email is no phone: invalid
        for n, base in enumerate(bases):
            answer = await client.send(base, lead(40 + n, phone=ADDED_PHONE))
            assert (answer.body["status"], answer.body["reason"]) == ("rejected", "suppressed")

        with redis.Redis.from_url(redis_url) as stored:
            keys = stored.keys("*")
            assert any(b"suppression:dnc" in key for key in keys)
            dumped = b"".join(key + (stored.dump(key) or b"") for key in keys)
        logs = "".join(one.output() for one in served)
        for text in (dumped.decode("latin-1"), logs):
            for value in ("5550177", "555-0177", "5550101", "listed.person"):
                assert value not in text.lower()


class _Unreadable(MemorySuppression):
    async def matching(self, wanted: Wanted) -> frozenset[str]:
        raise StoreUnavailable("the store is unavailable; retry after 1 s")


class _StoreThatCannotTell(MemoryStore):
    """A store whose added entries cannot be read (Redis down, as far as the gate can tell)."""

    def __init__(self) -> None:
        super().__init__()
        self._entries = _Unreadable()

    def suppression(self) -> SuppressionEntries:
        return self._entries


async def test_a_lead_the_lists_cannot_be_checked_for_is_refused_never_sold_unchecked(
    buyers: BuyerServer, serve_app: ServeApp, tmp_path: Path
) -> None:
    config = parse_config(market(buyers, tmp_path), env={})
    server, session = await serve_app(create_app(config, store=_StoreThatCannotTell()))
    async with session.post(
        str(server.make_url("/v1/leads")),
        json=lead(50, phone="+13055550196"),
        headers={"X-API-Key": SELLER_KEY},
    ) as response:
        assert response.status == 503
        assert (await response.json())["error"] == "unavailable"
    assert not buyers.recorded("a").pings and not buyers.recorded("b").pings


async def test_the_console_config_page_shows_the_lists_and_their_sizes(
    router: Operated, tmp_path: Path
) -> None:
    await router.call("POST", "/admin/suppression/dnc", ALICE, {"values": [ADDED_PHONE]})
    cookies, _ = await log_in(router, BOB)
    async with router.session.get(router.base + "/console/config", headers=cookies) as page:
        assert page.status == 200
        text = await page.text()
    row = re.search(r'<tr data-list="dnc">(.*?)</tr>', text, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", row[1])
    assert cells == ["dnc", "phone", "all", str(tmp_path / "dnc.csv"), "3", "1", "1"]
    assert "5550177" not in text and "5550101" not in text


async def test_a_reload_reads_a_changed_file_and_one_without_its_file_is_refused(
    router: Operated, buyers: BuyerServer, tmp_path: Path
) -> None:
    assert (await router.send(lead(60, phone="+13055550166")))["status"] == "sold"
    with (tmp_path / "dnc.csv").open("a") as dnc:
        dnc.write("305 555 0166\n")
    status, answer = await router.call("POST", "/admin/reload", ALICE)
    assert status == 200, answer
    again = await router.send(lead(61, phone="+13055550166"))
    assert (again["status"], again["reason"]) == ("rejected", "suppressed")

    (tmp_path / "optouts.csv").unlink()
    status, answer = await router.call("POST", "/admin/reload", ALICE)
    assert status != 200 and "suppression[1:optouts].file" in str(answer)
    kept = await router.send(lead(62, phone="+13055550165", email=LISTED_EMAIL))
    assert (await operator_view(router, kept))["buyer_id"] == "b"  # the old lists still hold
