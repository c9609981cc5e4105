"""Operators and roles (DESIGN §13), through HTTP against a real router: every /admin route takes
an operator's token, a viewer reads everything and changes nothing (403), an admin acts, and each
action that changes state is audited with who, what and on what. The router's AuditLog is the
seam the ledger plugs into (keys.AUDIT); here a list stands in for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
import yaml
from aiohttp import web

from pingtree.config import load_config
from pingtree.core.record import AuditEntry
from pingtree.web.app import ServeOptions, create_app
from pingtree.web.keys import AUDIT
from pingtree.web.openapi import openapi_document
from tests.buyers import BuyerServer
from tests.conftest import ADMIN_TOKEN, SELLER_KEY, ServeApp, config_dict, make_buyer, sample
from tests.e2e.test_deliveries_worker import Receiver, destination

ALICE = "alice-admin-token-0001"  # an admin
BOB = "bob-viewer-token-00002"  # a viewer
CAROL = "carol-viewer-token-003"
OPERATORS = [
    {"name": "alice", "token": ALICE, "role": "admin"},
    {"name": "bob", "token": BOB, "role": "viewer"},
]


class ListedAudit:
    """The AuditLog protocol (ledger/base.py) on a list: what the router hands the ledger."""

    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    def said(self) -> list[tuple[str, str, str | None]]:
        return [(e.operator, e.action, e.target) for e in self.entries]


@dataclass
class Operated:
    """A router served from a file, an audit list in its app, and an HTTP client for it."""

    base: str
    session: aiohttp.ClientSession
    path: Path
    audit: ListedAudit

    async def call(
        self, method: str, route: str, token: str | None, body: Any = None
    ) -> tuple[int, Any]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with self.session.request(method, self.base + route, headers=headers, json=body) as r:
            if r.content_type == "application/json":
                return r.status, await r.json()
            return r.status, await r.text()

    async def send(self, lead: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(
            self.base + "/v1/leads", json=lead, headers={"X-API-Key": SELLER_KEY}
        ) as r:
            assert r.status == 200, await r.text()
            return dict(await r.json())

    def write(self, raw: dict[str, Any] | str) -> None:
        write(self.path, raw)


def write(path: Path, raw: dict[str, Any] | str) -> None:
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw))


async def serve_file(
    serve_app: ServeApp, path: Path, raw: dict[str, Any], **options: Any
) -> Operated:
    """`pingtree serve --config path`, in process, with a list for its audit."""
    write(path, raw)
    app = create_app(load_config(path), ServeOptions(config_path=path, **options))
    audit = ListedAudit()

    async def the_tests_audit(app: web.Application) -> AsyncIterator[None]:
        # Once the app's own parts have started, so it stands in for whatever they wired.
        app[AUDIT] = audit
        yield

    app.cleanup_ctx.append(the_tests_audit)
    server, session = await serve_app(app)
    return Operated(str(server.make_url("")).rstrip("/"), session, path, audit)


def schema(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}", "components": openapi_document()["components"]}


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    crm = Receiver()
    await crm.start()
    yield crm
    await crm.close()


def firm_with_deliveries(buyers: BuyerServer, receiver: Receiver) -> dict[str, Any]:
    """A buyer whose sale goes to a CRM that refuses it (dead at once) and to a dialer that
    fails (waiting ten minutes for its next attempt): one job for replay, one for retry."""
    receiver.answer("crm", 422)
    receiver.answer("dialer", 500)
    deliveries = [destination(receiver, "crm"), destination(receiver, "dialer", retry_s=[0, 600])]
    return make_buyer("firm", buyers, deliveries=deliveries)


async def test_a_viewer_reads_everything_and_changes_nothing_and_an_admin_is_audited(
    buyers: BuyerServer, receiver: Receiver, serve_app: ServeApp, tmp_path: Path
) -> None:
    buyers.set("firm", bid=25)
    raw = config_dict([firm_with_deliveries(buyers, receiver)], operators=OPERATORS)
    router = await serve_file(serve_app, tmp_path / "buyers.yaml", raw)
    sold = await router.send(sample("mva-legal"))
    assert sold["status"] == "sold"
    dead, waiting = f"{sold['id']}.buyer:firm.crm", f"{sold['id']}.buyer:firm.dialer"

    async def settled() -> bool:
        states = [
            (await router.call("GET", f"/admin/deliveries/{j}", BOB))[1] for j in (dead, waiting)
        ]
        return [s["state"] for s in states] == ["dead", "waiting"]

    await until(settled)

    # A viewer reads every view.
    for route in (f"/admin/leads/{sold['id']}", "/admin/buyers", "/admin/deliveries"):
        status, _ = await router.call("GET", route, BOB)
        assert status == 200, route
    # And changes nothing: 403 before anything is done, and nothing audited.
    changes = [
        ("POST", "/admin/reload"),
        ("POST", f"/admin/deliveries/{waiting}/retry"),
        ("POST", f"/admin/deliveries/{dead}/replay"),
        ("POST", "/admin/buyers/firm/pause"),
        ("POST", "/admin/buyers/firm/resume"),
        ("GET", "/admin/exports/leads.csv"),  # the sales ledger's rows hold the leads' PII
    ]
    for method, route in changes:
        status, error = await router.call(method, route, BOB)
        assert status == 403, route
        assert error["error"] == "forbidden"
        jsonschema.validate(error, schema("Error"))
        assert (await router.call(method, route, None))[0] == 401
    assert router.audit.entries == []
    assert (await router.call("GET", f"/admin/deliveries/{dead}", BOB))[1]["state"] == "dead"

    # An admin acts, and is named in the audit: who, what, on what.
    assert (await router.call("POST", f"/admin/deliveries/{waiting}/retry", ALICE))[0] == 200
    assert (await router.call("POST", f"/admin/deliveries/{dead}/replay", ADMIN_TOKEN))[0] == 200
    status, _ = await router.call("POST", "/admin/buyers/firm/pause", ALICE, {"reason": "audit"})
    assert status == 200
    assert (await router.call("POST", "/admin/buyers/firm/resume", ADMIN_TOKEN))[0] == 200
    assert router.audit.said() == [
        ("alice", "retry", waiting),
        ("admin", "replay", dead),
        ("alice", "pause", "firm"),
        ("admin", "resume", "firm"),
    ]
    retry, replay, pause, resume = router.audit.entries
    assert retry.detail == {"lead_id": sold["id"], "destination": "dialer", "was": "waiting"}
    assert replay.detail == {"lead_id": sold["id"], "destination": "crm", "was": "dead"}
    assert pause.detail == {"reason": "audit"}
    assert resume.detail == {"was_paused": True}
    for entry in router.audit.entries:
        assert entry.id.startswith("au_") and entry.at.endswith("Z") and len(entry.at) == 24
    lead = sample("mva-legal")
    assert not any(lead[k] in str(router.audit.entries) for k in ("phone", "email", "last_name"))


async def test_a_reload_is_audited_with_what_changed_and_its_operators_apply(
    buyers: BuyerServer, serve_app: ServeApp, tmp_path: Path
) -> None:
    first = config_dict([make_buyer("a", buyers), make_buyer("b", buyers)], operators=OPERATORS)
    router = await serve_file(serve_app, tmp_path / "buyers.yaml", first)
    operators = [OPERATORS[0], {"name": "carol", "token": CAROL, "role": "viewer"}]
    second = config_dict(
        [make_buyer("a", buyers, priority=2), make_buyer("c", buyers)],
        router={"budget_ms": 2500},
        operators=operators,
    )
    router.write(second)
    status, answer = await router.call("POST", "/admin/reload", ALICE)
    assert status == 200, answer
    (entry,) = router.audit.entries
    assert (entry.operator, entry.action, entry.target) == ("alice", "reload", None)
    assert entry.detail == {
        "generation": 2,
        "buyers": {"added": ["c"], "removed": ["b"], "changed": {"a": ["priority"]}},
        "sellers": {"added": [], "removed": [], "changed": {}},
        "operators": {"added": ["carol"], "removed": ["bob"], "changed": {}},
        "router": ["budget_ms"],
        "other": [],
    }
    assert CAROL not in str(entry) and "127.0.0.1" not in str(entry)
    # The new file's operators: bob is gone, carol reads.
    assert (await router.call("GET", "/admin/buyers", BOB))[0] == 401
    assert (await router.call("GET", "/admin/buyers", CAROL))[0] == 200
    assert (await router.call("POST", "/admin/reload", CAROL))[0] == 403
    # A refused file is no reload: nothing audited.
    router.write("router: {budget_ms: 1}\n")
    assert (await router.call("POST", "/admin/reload", ALICE))[0] == 422
    assert len(router.audit.entries) == 1


async def test_the_operator_api_is_off_without_a_token_or_operators(
    buyers: BuyerServer, serve_app: ServeApp, tmp_path: Path
) -> None:
    off = config_dict([make_buyer("a", buyers)], router={"admin_token": None})
    router = await serve_file(serve_app, tmp_path / "off.yaml", off)
    for token in (None, ADMIN_TOKEN, "", "anything"):
        status, error = await router.call("GET", "/admin/buyers", token)
        assert status == 401
        assert error["detail"] == (
            "the operator API is disabled: set router.admin_token or operators"
        )
    only_operators = {**off, "operators": OPERATORS}
    router = await serve_file(serve_app, tmp_path / "on.yaml", only_operators)
    assert (await router.call("GET", "/admin/buyers", BOB))[0] == 200
    status, error = await router.call("GET", "/admin/buyers", ADMIN_TOKEN)
    assert (status, error["detail"]) == (
        401,
        "an operator token is required (Authorization: Bearer)",
    )
