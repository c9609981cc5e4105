"""The operator's delivery routes and `pingtree deliveries …`, against a real app (create_app,
which mounts them with add_routes) on a loopback port; the queue is the fake."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp import web
from openapi_spec_validator import validate

from pingtree.cli.deliveries import TOKEN_ENV, add_commands
from pingtree.config.models import DeliverySettings
from pingtree.deliveries.exports import HEADER
from pingtree.deliveries.service import Deliveries
from pingtree.metrics import Metrics
from pingtree.store.queue.base import DeadLetter, Delivered, RetryAt, SaleRow
from pingtree.transport.client import HttpTransport
from pingtree.web.app import ServeOptions, create_app
from pingtree.web.deliveries_admin import add_routes, export_range
from pingtree.web.deliveries_openapi import openapi_paths, openapi_schemas
from pingtree.web.keys import DELIVERIES
from pingtree.web.openapi import openapi_document
from tests.conftest import ADMIN_TOKEN, ServeApp, make_buyer, make_config
from tests.deliveries.test_deliveries_fake_queue import FakeQueue, make_job
from tests.e2e.test_deliveries_worker import (
    Receiver,
    TreeHolder,
    config_with,
    destination,
    wait_for,
)

NOW = 1_772_114_652.0  # 2026-02-26T14:04:12Z
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SECRET_HEADERS = (
    ("Content-Type", "application/json"),
    ("Authorization", "Bearer crm-token"),
    ("X-Api-Key", "k-123"),
    ("X-Source", "pingtree"),
)


@dataclass
class Admin:
    base: str
    session: aiohttp.ClientSession
    queue: FakeQueue
    deliveries: Deliveries

    async def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        async with self.session.get(
            self.base + path, headers=AUTH if headers is None else headers
        ) as r:
            body = await r.json() if r.content_type == "application/json" else await r.text()
            return r.status, body

    async def post(self, path: str) -> tuple[int, Any]:
        async with self.session.post(self.base + path, headers=AUTH) as r:
            return r.status, await r.json()


async def seed(queue: FakeQueue) -> None:
    """Jobs in every state an operator meets."""
    jobs = [
        make_job("ld_1.buyer:firm.crm", created_at=NOW - 50, headers=SECRET_HEADERS,
                 url="http://127.0.0.1:9/crm?key=s3cret", failover_url="http://u:p@127.0.0.1:9/b"),
        make_job("ld_2.buyer:firm.crm", created_at=NOW - 40),
        make_job("ld_3.buyer:firm.dialer", created_at=NOW - 30),
        make_job("ld_4.seller:acme-media.postback", created_at=NOW - 20),
        make_job("ld_5.buyer:firm.crm", created_at=NOW - 10),
    ]  # fmt: skip
    await queue.enqueue(jobs)
    for job, result in (
        (jobs[0], Delivered("HTTP 200 in 12 ms")),
        (jobs[1], DeadLetter("HTTP 422: refused, not retried")),
        (jobs[2], RetryAt(NOW + 600, "primary", 2, "HTTP 500 in 3 ms; attempt 3/5 in 600 s")),
    ):
        await queue.settle(queue.lease_now(job.id), result, NOW - 5)


@pytest.fixture
async def admin(serve_app: ServeApp) -> AsyncIterator[Admin]:
    receiver = Receiver()
    await receiver.start()
    config = config_with([destination(receiver), destination(receiver, "dialer")])
    # No ledger: the export reads the deliveries' own sale rows (a router without a ledger).
    app = create_app(config, ServeOptions(ledger=False))
    queue, holder = FakeQueue(), TreeHolder(config)
    transport = HttpTransport()
    deliveries = Deliveries(
        queue,
        transport,
        Metrics(),
        lambda: holder.tree,
        DeliverySettings(poll_ms=20, ledger_days=30),
        exports_dir=None,
        consumer="admin-test",
        clock=lambda: NOW,
    )

    async def the_tests_deliveries(app: web.Application) -> AsyncIterator[None]:
        # Once the app's own parts have started: its routes read this one, on the fake queue.
        app[DELIVERIES] = deliveries
        yield

    app.cleanup_ctx.append(the_tests_deliveries)
    add_routes(app)
    server, session = await serve_app(app)
    await seed(queue)
    yield Admin(str(server.make_url("")).rstrip("/"), session, queue, deliveries)
    await deliveries.stop()
    await transport.close()
    await receiver.close()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/deliveries",
        "/admin/deliveries/ld_1.buyer:firm.crm",
        "/admin/exports/leads.csv",
    ],
)
@pytest.mark.parametrize("token", [None, "wrong"])
async def test_every_route_needs_the_admin_token(
    admin: Admin, path: str, token: str | None
) -> None:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    status, body = await admin.get(path, headers)
    assert status == 401 and body["error"] == "unauthorized"
    async with admin.session.post(admin.base + "/admin/deliveries/x/replay", headers=headers) as r:
        assert r.status == 401


async def test_list_newest_first_and_filtered(admin: Admin) -> None:
    status, body = await admin.get("/admin/deliveries")
    assert status == 200
    assert [j["id"].split(".")[0] for j in body["deliveries"]] == [
        "ld_5", "ld_4", "ld_3", "ld_2", "ld_1",
    ]  # fmt: skip
    _, dead = await admin.get("/admin/deliveries?state=dead")
    assert [j["id"] for j in dead["deliveries"]] == ["ld_2.buyer:firm.crm"]
    assert dead["deliveries"][0]["last_error"] == "HTTP 422: refused, not retried"
    _, crm = await admin.get("/admin/deliveries?destination=buyer:firm/crm&limit=2")
    assert [j["id"] for j in crm["deliveries"]] == ["ld_5.buyer:firm.crm", "ld_2.buyer:firm.crm"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("state=gone", "state"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=5000", "limit"),
    ],
)
async def test_bad_list_queries_are_400s_naming_the_field(
    admin: Admin, query: str, field: str
) -> None:
    status, body = await admin.get("/admin/deliveries?" + query)
    assert status == 400 and field in body["fields"]


async def test_show_has_no_body_no_secrets(admin: Admin) -> None:
    status, job = await admin.get("/admin/deliveries/ld_1.buyer:firm.crm")
    assert status == 200
    assert job["url"] == "http://127.0.0.1:9/crm?***"
    assert job["failover_url"] == "http://***@127.0.0.1:9/b"
    assert job["headers"] == [
        ["Content-Type", "application/json"],
        ["Authorization", "***"],
        ["X-Api-Key", "***"],
        ["X-Source", "pingtree"],
    ]
    assert "body" not in job and job["body_bytes"] == 2
    assert job["body_sha256"] == "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    assert job["state"] == "delivered" and job["history"][0].endswith("HTTP 200 in 12 ms")
    assert job["created_at"] == "2026-02-26T14:03:22.000Z"
    status, _ = await admin.get("/admin/deliveries/ld_404.buyer:firm.crm")
    assert status == 404


async def test_retry_makes_a_waiting_job_due_now(admin: Admin) -> None:
    status, job = await admin.post("/admin/deliveries/ld_3.buyer:firm.dialer/retry")
    assert status == 200 and job["due_at"] == "2026-02-26T14:04:12.000Z"
    status, body = await admin.post("/admin/deliveries/ld_2.buyer:firm.crm/retry")
    assert status == 409 and "dead" in body["detail"]
    status, _ = await admin.post("/admin/deliveries/nope/retry")
    assert status == 404


async def test_replay_sends_a_dead_letter_again(admin: Admin) -> None:
    status, job = await admin.post("/admin/deliveries/ld_2.buyer:firm.crm/replay")
    assert status == 200
    assert (job["state"], job["attempt"], job["target"]) == ("waiting", 0, "primary")
    status, body = await admin.post("/admin/deliveries/ld_1.buyer:firm.crm/replay")
    assert status == 409 and "delivered" in body["detail"]
    status, _ = await admin.post("/admin/deliveries/nope/replay")
    assert status == 404


async def test_a_replayed_dead_letter_is_delivered_by_the_worker(admin: Admin) -> None:
    job = admin.queue.by_id["ld_2.buyer:firm.crm"]
    # The seeded job points at a closed port: aim it at the receiver of this config.
    crm = admin.deliveries.worker._tree().buyers["firm"].deliveries[0]
    admin.queue.by_id[job.id] = replace(job, url=crm.url)
    await admin.deliveries.start()
    status, _ = await admin.post(f"/admin/deliveries/{job.id}/replay")
    assert status == 200
    await wait_for(lambda: admin.queue.by_id[job.id].state == "delivered")


def _sale(lead_id: str, buyer: str, sold_at: float, phone: str = "+13055551234") -> SaleRow:
    return SaleRow(lead_id, buyer, sold_at, (("sold_at", str(sold_at)), ("phone", phone)))


async def test_export_streams_the_ledger_as_csv(admin: Admin) -> None:
    day = 86400
    admin.queue.rows += [
        _sale("ld_a", "firm", NOW - day),  # yesterday
        _sale("ld_b", "firm", NOW - 60),
        _sale("ld_c", "other", NOW - 30),
        _sale("ld_d", "firm", NOW - 10, phone="=cmd"),
    ]
    async with admin.session.get(
        admin.base + "/admin/exports/leads.csv?buyer=firm&from=2026-02-26&to=2026-02-26",
        headers=AUTH,
    ) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert "leads-firm-2026-02-26_2026-02-27.csv" in r.headers["Content-Disposition"]
        lines = list(csv.reader(io.StringIO(await r.text())))
    assert lines[0] == list(HEADER)
    assert [line[0] for line in lines[1:]] == ["ld_b", "ld_d"]
    assert lines[2][HEADER.index("phone")] == "'=cmd"
    _, every = await admin.get("/admin/exports/leads.csv?from=2026-02-25T00:00:00Z")
    assert [line[0] for line in csv.reader(io.StringIO(every))][1:] == [
        "ld_a", "ld_b", "ld_c", "ld_d",
    ]  # fmt: skip
    _, today = await admin.get("/admin/exports/leads.csv")  # default: today so far
    assert [line[0] for line in csv.reader(io.StringIO(today))][1:] == ["ld_b", "ld_c", "ld_d"]


@pytest.mark.parametrize(
    "query",
    ["from=yesterday", "to=2026-13-01", "from=2026-02-27&to=2026-02-26", "buyer=a/b",
     "from=2020-01-01&to=2026-01-01"],
)  # fmt: skip
async def test_bad_export_queries_are_400s(admin: Admin, query: str) -> None:
    status, body = await admin.get("/admin/exports/leads.csv?" + query)
    assert status == 400 and body["fields"]


@pytest.mark.parametrize(
    ("query", "start", "end"),
    [
        ({}, "2026-02-26T00:00:00", "2026-02-26T14:04:12"),
        ({"from": "2026-02-01", "to": "2026-02-02"}, "2026-02-01T00:00:00", "2026-02-03T00:00:00"),
        ({"from": "2026-02-01T10:00:00+02:00"}, "2026-02-01T08:00:00", "2026-02-26T14:04:12"),
        ({"from": "2026-02-01T10:00", "to": "2026-02-01T11:00Z"}, "2026-02-01T10:00:00",
         "2026-02-01T11:00:00"),
    ],
)  # fmt: skip
def test_export_ranges(query: dict[str, str], start: str, end: str) -> None:
    def iso(ts: float) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))

    got = export_range(query, NOW)
    assert (iso(got[0]), iso(got[1])) == (start, end)


# OpenAPI ------------------------------------------------------------------------------------------


def _document() -> dict[str, Any]:
    document = openapi_document()
    return {
        **document,
        "paths": {**document["paths"], **openapi_paths()},
        "components": {
            **document["components"],
            "schemas": {**document["components"]["schemas"], **openapi_schemas()},
        },
    }


def test_the_merged_document_is_valid_openapi() -> None:
    validate(_document())


def test_every_route_is_documented() -> None:
    from aiohttp import web

    app = web.Application()
    add_routes(app)
    served = {
        (resource.canonical, route.method.lower())
        for resource in app.router.resources()
        for route in resource
        if route.method != "HEAD"
    }
    documented = {(path, method) for path, item in openapi_paths().items() for method in item}
    assert served == documented


async def test_answers_match_their_schemas(admin: Admin) -> None:
    def schema(name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}", "components": _document()["components"]}

    _, listing = await admin.get("/admin/deliveries")
    jsonschema.validate(listing, schema("DeliveryList"))
    _, shown = await admin.get("/admin/deliveries/ld_3.buyer:firm.dialer")
    jsonschema.validate(shown, schema("Delivery"))
    _, error = await admin.post("/admin/deliveries/nope/replay")
    jsonschema.validate(error, schema("Error"))


# the command line --------------------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pingtree")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.run(args))


async def cli(admin: Admin, *argv: str, token: str | None = ADMIN_TOKEN) -> int:
    extra = ["--url", admin.base] + (["--token", token] if token else [])
    return await asyncio.to_thread(run_cli, ["deliveries", *argv, *extra])


async def test_cli_list_and_show(admin: Admin, capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli(admin, "list") == 0
    out = capsys.readouterr().out
    assert "ld_5.buyer:firm.crm" in out and "buyer:firm/dialer" in out and "5 deliveries" in out
    assert await cli(admin, "list", "--state", "dead") == 0
    out = capsys.readouterr().out
    assert "ld_2.buyer:firm.crm" in out and "ld_5" not in out and "1 deliveries" in out
    assert await cli(admin, "show", "ld_1.buyer:firm.crm") == 0
    out = capsys.readouterr().out
    assert "Authorization" in out and "crm-token" not in out and "k-123" not in out
    assert "s3cret" not in out and "HTTP 200 in 12 ms" in out and "2 bytes" in out


async def test_cli_retry_and_replay(admin: Admin, capsys: pytest.CaptureFixture[str]) -> None:
    assert await cli(admin, "retry", "ld_3.buyer:firm.dialer") == 0
    assert "ld_3.buyer:firm.dialer: due now" in capsys.readouterr().out
    assert await cli(admin, "replay", "ld_2.buyer:firm.crm") == 0
    assert "replayed" in capsys.readouterr().out
    assert admin.queue.by_id["ld_2.buyer:firm.crm"].state == "waiting"
    assert await cli(admin, "replay", "ld_1.buyer:firm.crm") == 1  # delivered: nothing to replay
    assert "HTTP 409" in capsys.readouterr().err
    assert await cli(admin, "show", "nope") == 1


async def test_cli_token_from_the_environment_and_failures(
    admin: Admin, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert await cli(admin, "list", token=None) == 2
    assert TOKEN_ENV in capsys.readouterr().err
    monkeypatch.setenv(TOKEN_ENV, ADMIN_TOKEN)
    assert await cli(admin, "list", token=None) == 0
    assert await cli(admin, "list", token="wrong") == 2
    assert "HTTP 401" in capsys.readouterr().err
    unreachable = await asyncio.to_thread(
        run_cli, ["deliveries", "list", "--url", "http://127.0.0.1:9", "--token", "x"]
    )
    assert unreachable == 2


async def test_the_export_says_when_there_is_no_ledger_nor_sale_rows(
    serve_app: ServeApp,
) -> None:
    # A router without a ledger keeps sale rows only if router.deliveries.ledger_days says so.
    app = create_app(make_config([make_buyer("firm")]), ServeOptions(ledger=False))
    server, session = await serve_app(app)
    async with session.get(
        server.make_url("/admin/exports/leads.csv"),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ) as r:
        assert r.status == 409
        assert (await r.json())["error"] == "ledger_off"
