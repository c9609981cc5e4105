"""Durable deliveries through the real router (issue 7): sales made by `create_app` or by
`pingtree serve` processes reach a CRM that refuses, fails and comes back, once per webhook-id,
on the retry schedule, signed (verified at the receiver with `standardwebhooks`); a delivery buyer
gets its leads by assignment; failover, dead letters and `pingtree deliveries replay`; SIGKILL with
deliveries pending, on the state file and on Redis; SIGKILL of the embedded router after sales
(caps, dedup and answers survive); two routers on one Redis sharing the work; the CSV mirror and
the export read from another router. Every schedule is shortened to tenths of a second."""

from __future__ import annotations

import asyncio
import base64
import csv
import functools
import io
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from pingtree.config import parse_config
from pingtree.web.app import create_app
from tests.buyers import BuyerServer
from tests.conftest import ADMIN_TOKEN, SELLER_KEY, ServeApp, config_dict, make_buyer
from tests.e2e.router_processes import (
    Answer,
    Seller,
    Served,
    consumer,
    seller,
    wait_healthy,
)
from tests.redis_server import free_port

SECRET = "whsec_" + base64.b64encode(b"durable-crm-secret-" * 2).decode()
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SELLER = {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8, "reveal": ["buyer", "price"]}
# The sales ledger behind the CSV export is opt-in (router.deliveries.ledger_days).
FAST = {"poll_ms": 20, "concurrency": 4, "ledger_days": 30}


# a CRM on loopback -------------------------------------------------------------------------------


@dataclass
class Hit:
    path: str
    webhook_id: str
    status: int
    started: float  # monotonic
    body: dict[str, Any]
    signed_ok: bool | None  # None: unsigned


@dataclass
class Crm:
    """A CRM and webhook receiver: each path answers its scripted statuses in turn, then 200;
    every request recorded, its signature verified, and how many requests of one webhook-id were
    in progress at once counted. Not listening until `start()` (connection refused)."""

    port: int = field(default_factory=free_port)
    script: dict[str, list[int]] = field(default_factory=dict)
    delay_s: float = 0.0
    hits: list[Hit] = field(default_factory=list)
    open_now: Counter[str] = field(default_factory=Counter)
    most_at_once: int = 0
    server: TestServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        path, body = request.match_info["path"], await request.read()
        headers = {name.lower(): value for name, value in request.headers.items()}
        signed_ok = None
        if "webhook-signature" in headers:
            try:
                Webhook(SECRET).verify(body, headers)
                signed_ok = True
            except WebhookVerificationError:
                signed_ok = False
        webhook_id = headers["webhook-id"]
        self.open_now[webhook_id] += 1
        self.most_at_once = max(self.most_at_once, self.open_now[webhook_id])
        started = time.monotonic()
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.open_now[webhook_id] -= 1
        queued = self.script.get(path)
        status = queued.pop(0) if queued else 200
        self.hits.append(Hit(path, webhook_id, status, started, orjson.loads(body), signed_ok))
        return web.Response(status=status, text="ok" if status < 300 else "no")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path}", self._handle)
        self.server = TestServer(app, host="127.0.0.1", port=self.port)
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    def at(self, path: str, status: int | None = None) -> list[Hit]:
        return [h for h in self.hits if h.path == path and status in (None, h.status)]

    def delivered(self, path: str) -> set[str]:
        return {h.webhook_id for h in self.at(path, 200)}

    def ids_by_sale(self, path: str) -> dict[str, set[str]]:
        """Each sale's (pingtree lead id's) webhook-ids at `path`."""
        found: dict[str, set[str]] = {}
        for hit in self.at(path):
            sale = hit.body["data"]["id"] if path == "postback" else hit.body["id"]
            found.setdefault(sale, set()).add(hit.webhook_id)
        return found


@pytest.fixture
async def crm() -> AsyncIterator[Crm]:
    made = Crm()
    yield made
    await made.close()


def destination(crm: Crm, name: str = "crm", **fields: Any) -> dict[str, Any]:
    entry = {"id": name, "url": crm.url(name), "retry_s": [0, 0.2, 0.4, 0.8, 0.8, 0.8, 0.8]}
    entry.update(jitter=0, timeout_ms=2000, sign={"secret": SECRET})
    return {**entry, **fields}


async def until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def one_id_per_sale(crm: Crm, path: str, sold: list[str], owner: str) -> None:
    """Every sale reached `path` under one webhook-id, its own; and the last answer was a 200."""
    assert crm.ids_by_sale(path) == {lead: {f"{lead}.{owner}.{path}"} for lead in sold}
    assert crm.delivered(path) == {f"{lead}.{owner}.{path}" for lead in sold}
    assert all(hit.signed_ok is not False for hit in crm.at(path))


# in one process: create_app -----------------------------------------------------------------------


async def admin_get(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url, headers=ADMIN) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_a_crm_down_then_failing_then_back_gets_every_sale_once_on_schedule(
    serve_app: ServeApp, buyers: BuyerServer, crm: Crm
) -> None:
    buyers.set("firm", bid=40)
    # The seller's postback: the long form, for a schedule as short as the CRM's.
    postback = {**SELLER, "postback": destination(crm, "postback")}
    config = parse_config(
        config_dict(
            [make_buyer("firm", buyers, deliveries=[destination(crm)])],
            router={"deliveries": FAST},
            sellers=[postback],
        ),
        env={},
    )
    server, session = await serve_app(create_app(config))
    router = Seller(session)
    base = str(server.make_url("")).rstrip("/")
    async with asyncio.timeout(12):
        answers = [await router.send(base, consumer(n)) for n in range(5)]
        sold = [a.body["id"] for a in answers if a.body["status"] == "sold"]
        assert len(sold) == 5
        await asyncio.sleep(0.3)  # the CRM refuses connections: every job retried at least once
        crm.script["crm"] = [500, 500, 500]  # back, failing at first
        await crm.start()
        await until(lambda: len(crm.delivered("crm")) == 5, 8, "every sale at the CRM")
        await until(lambda: len(crm.delivered("postback")) == 5, 2, "every postback")

        one_id_per_sale(crm, "crm", sold, "buyer:firm")
        assert all(hit.signed_ok for hit in crm.at("crm"))  # signed, verified by standardwebhooks
        one_id_per_sale(crm, "postback", sold, "seller:acme-media")
        event = crm.at("postback")[0].body
        assert event["type"] == "lead.sold" and event["data"]["status"] == "sold"
        assert event["data"]["buyer_id"] == "firm"  # this seller's `reveal` shows the buyer
        assert "phone" not in event["data"]  # the seller's view: no PII

        # Attempts on the schedule: attempt n+1 went out retry_s[n+1] after attempt n ended.
        schedule = destination(crm)["retry_s"]
        for lead in sold:
            job = await admin_get(session, f"{base}/admin/deliveries/{lead}.buyer:firm.crm")
            assert job["state"] == "delivered"
            times = [datetime.fromisoformat(line.split()[0]) for line in job["history"]]
            assert 2 <= len(times) <= len(schedule), job["history"]
            for n, (before, after) in enumerate(itertools.pairwise(times)):
                gap = (after - before).total_seconds()
                assert schedule[n + 1] - 0.005 <= gap <= schedule[n + 1] + 0.6, (n, gap, job)


async def test_a_delivery_buyer_buys_by_assignment_and_its_crm_gets_the_lead(
    serve_app: ServeApp, crm: Crm
) -> None:
    await crm.start()
    assigned = {
        "id": "dialer-co",
        "pricing": "fixed",
        "price": 30,
        "deliveries": [destination(crm, "dialer")],
    }
    config = parse_config(
        config_dict([assigned], router={"deliveries": FAST}, sellers=[SELLER]), env={}
    )
    server, session = await serve_app(create_app(config))
    base = str(server.make_url("")).rstrip("/")
    async with asyncio.timeout(8):
        answer = await Seller(session).send(base, consumer(7))
        assert (answer.body["status"], answer.body["buyer_id"]) == ("sold", "dialer-co")
        await until(lambda: len(crm.delivered("dialer")) == 1, 4, "the dialer's lead")
    one_id_per_sale(crm, "dialer", [answer.body["id"]], "buyer:dialer-co")
    (hit,) = crm.at("dialer")
    assert (hit.body["phone"], hit.body["lead_id"], hit.body["price"]) == (
        consumer(7)["phone"],
        "lead-7",
        30,
    )


async def test_a_csv_mirror_that_cannot_be_written_loses_no_delivery(
    serve_app: ServeApp, crm: Crm, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """exports_dir is a file, not a folder: the mirror's line fails; the sale's job, queued
    before it, goes out at once (a 10 s poll: the worker was woken) and the log blames the
    mirror, naming the lead and the file, not the deliveries."""
    await crm.start()
    exports = tmp_path / "exports"
    exports.write_text("not a folder")
    assigned = {"id": "dialer-co", "pricing": "fixed", "price": 30}
    assigned["deliveries"] = [destination(crm, "dialer")]
    router = {"deliveries": {**FAST, "poll_ms": 10_000}, "exports_dir": str(exports)}
    config = parse_config(config_dict([assigned], router=router, sellers=[SELLER]), env={})
    server, session = await serve_app(create_app(config))
    base = str(server.make_url("")).rstrip("/")
    await asyncio.sleep(0.3)  # the worker has looked for jobs, found none: asleep for 10 s
    async with asyncio.timeout(8):
        answer = await Seller(session).send(base, consumer(7))
        assert answer.body["status"] == "sold"
        await until(lambda: len(crm.delivered("dialer")) == 1, 3, "the dialer's lead")
    lead = answer.body["id"]
    one_id_per_sale(crm, "dialer", [lead], "buyer:dialer-co")
    (missed,) = [r for r in caplog.records if "CSV mirror" in r.getMessage()]
    assert missed.levelname == "ERROR" and lead in missed.getMessage()
    assert str(exports / "dialer-co") in missed.getMessage()
    assert "not queued" not in caplog.text
    assert consumer(7)["phone"] not in caplog.text and "c7@example.com" not in caplog.text


async def test_failover_then_a_dead_letter_replayed_with_the_cli(
    serve_app: ServeApp, buyers: BuyerServer, crm: Crm
) -> None:
    await crm.start()
    crm.script["primary"] = [500] * 3  # every attempt on the primary URL fails
    crm.script["strict"] = [400]  # refuses the request: a dead letter, not retried
    failing = destination(crm, "primary", retry_s=[0, 0.1, 0.1], failover_url=crm.url("backup"))
    buyers.set("firm", bid=40)
    config = parse_config(
        config_dict(
            [make_buyer("firm", buyers, deliveries=[failing, destination(crm, "strict")])],
            router={"deliveries": FAST},
            sellers=[SELLER],
        ),
        env={},
    )
    server, session = await serve_app(create_app(config))
    base = str(server.make_url("")).rstrip("/")
    async with asyncio.timeout(15):
        answer = await Seller(session).send(base, consumer(3))
        lead = answer.body["id"]
        primary, strict = f"{lead}.buyer:firm.primary", f"{lead}.buyer:firm.strict"
        await until(lambda: crm.delivered("backup") == {primary}, 4, "the failover")
        assert [h.status for h in crm.at("primary")] == [500, 500, 500]
        job = await admin_get(session, f"{base}/admin/deliveries/{primary}")
        assert (job["state"], job["target"]) == ("delivered", "failover")

        dead = await admin_get(session, f"{base}/admin/deliveries?state=dead")
        assert [job["id"] for job in dead["deliveries"]] == [strict]
        assert dead["deliveries"][0]["last_error"] == "HTTP 400: refused, not retried"
        # The destination is fixed (it answers 200 now): the operator replays the dead letter.
        replay = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "pingtree", "deliveries", "replay", strict),
            *("--url", base, "--token", ADMIN_TOKEN),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await replay.communicate()
        assert replay.returncode == 0, err.decode()
        assert out.decode().startswith(f"{strict}: replayed from attempt 1")
        await until(lambda: crm.delivered("strict") == {strict}, 4, "the replayed dead letter")
        job = await admin_get(session, f"{base}/admin/deliveries/{strict}")
        assert job["state"] == "delivered" and len(job["history"]) == 2
    assert [h.webhook_id for h in crm.at("strict")] == [strict, strict]


# as processes: pingtree serve -------------------------------------------------------------------


class Processes:
    """`pingtree serve` processes on loopback, each with its own log; every one still running
    is stopped when the test ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[Served] = []

    async def serve(
        self, config: dict[str, Any], *, state: Path | None = None, redis_url: str | None = None
    ) -> Served:
        number = len(self.started)
        path = self.folder / f"buyers-{number}.yaml"
        path.write_text(yaml.safe_dump(config))
        port = free_port()
        command = [sys.executable, "-m", "pingtree", "serve", "--config", str(path)]
        command += ["--port", str(port)]
        command += ["--state", str(state)] if state is not None else []
        command += ["--redis-url", redis_url] if redis_url is not None else []
        log = self.folder / f"serve-{number}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(  # noqa: ASYNC220
                command, env=dict(os.environ), stdout=output, stderr=subprocess.STDOUT
            )
        served = Served(process, f"http://127.0.0.1:{port}", log)
        self.started.append(served)
        await wait_healthy(served)
        return served

    @staticmethod
    def kill(served: Served) -> None:
        served.process.send_signal(signal.SIGKILL)
        served.process.wait(5)

    def stop_all(self) -> None:
        running = [s for s in self.started if s.process.poll() is None]
        for served in running:
            served.process.send_signal(signal.SIGTERM)
        for served in running:
            try:
                served.process.wait(10)
            except subprocess.TimeoutExpired:
                served.process.kill()
                served.process.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Any:
    made = Processes(tmp_path)
    yield made
    made.stop_all()


async def deliveries_of(client: Seller, base: str, destination_key: str) -> list[dict[str, Any]]:
    url = f"{base}/admin/deliveries?destination={destination_key}&limit=500"
    async with client.session.get(url, headers=ADMIN) as response:
        assert response.status == 200, await response.text()
        return list((await response.json())["deliveries"])


async def sell(client: Seller, bases: list[str], leads: list[dict[str, Any]]) -> list[Answer]:
    """Each lead to the next router in turn, one after the other; all must be sold."""
    answers = [await client.send(bases[n % len(bases)], lead) for n, lead in enumerate(leads)]
    assert [(a.status, a.body["status"]) for a in answers] == [(200, "sold")] * len(leads)
    return answers


@pytest.mark.parametrize("kind", ["state", "redis"])
async def test_deliveries_pending_at_a_sigkill_all_complete_after_a_restart(
    kind: str,
    processes: Processes,
    buyers: BuyerServer,
    crm: Crm,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    where: dict[str, Any] = (
        {"state": tmp_path / "state.db"}
        if kind == "state"
        else {"redis_url": request.getfixturevalue("redis_url")}
    )
    buyers.set("firm", bid=40)
    # A second between attempts: the kill comes while every job waits for its next one.
    slow = destination(crm, retry_s=[0, 1, 1, 1, 1, 1, 1, 1])
    config = config_dict(
        [make_buyer("firm", buyers, deliveries=[slow])],
        router={"deliveries": FAST},
        sellers=[SELLER],
    )
    first = await processes.serve(config, **where)
    async with asyncio.timeout(25), seller() as client:
        sold = [
            a.body["id"] for a in await sell(client, [first.base], [consumer(n) for n in range(4)])
        ]

        async def all_tried_once() -> bool:
            jobs = await deliveries_of(client, first.base, "buyer:firm/crm")
            return len(jobs) == 4 and all(
                (j["state"], j["attempt"] >= 1) == ("waiting", True) for j in jobs
            )

        while not await all_tried_once():  # noqa: ASYNC110 (the CRM refuses connections)
            await asyncio.sleep(0.02)
        processes.kill(first)
        await crm.start()
        second = await processes.serve(config, **where)
        await until(lambda: len(crm.delivered("crm")) == 4, 8, "every delivery after the restart")
        jobs = await deliveries_of(client, second.base, "buyer:firm/crm")
        assert sorted(j["state"] for j in jobs) == ["delivered"] * 4
    one_id_per_sale(crm, "crm", sold, "buyer:firm")


async def test_an_attempt_cut_off_by_a_sigkill_goes_out_within_seconds_of_a_restart(
    processes: Processes, buyers: BuyerServer, crm: Crm, tmp_path: Path
) -> None:
    """The CRM holds the attempt open; the router is SIGKILLed during it and restarted on the same
    state file. The file's lock proves the killed process is gone, so its lease (90 s) is not
    waited out: the delivery goes out again, with the same webhook-id, within seconds."""
    await crm.start()
    crm.delay_s = 60.0  # hangs: the attempt is in flight when the router dies
    buyers.set("firm", bid=40)
    patient = destination(crm, timeout_ms=60_000)
    config = config_dict(
        [make_buyer("firm", buyers, deliveries=[patient])],
        router={"deliveries": FAST},
        sellers=[SELLER],
    )
    state = tmp_path / "state.db"
    first = await processes.serve(config, state=state)
    async with asyncio.timeout(40), seller() as client:
        (answer,) = await sell(client, [first.base], [consumer(1)])
        webhook_id = f"{answer.body['id']}.buyer:firm.crm"
        await until(lambda: crm.open_now[webhook_id] == 1, 5, "the attempt at the CRM")
        processes.kill(first)
        crm.delay_s = 0.0  # the CRM answers at once from now on
        restarted = time.monotonic()
        second = await processes.serve(config, state=state)
        await until(lambda: crm.delivered("crm") == {webhook_id}, 15, "the delivery, again")
        assert time.monotonic() - restarted < 15  # far below the dead process's 90 s lease
        (job,) = await deliveries_of(client, second.base, "buyer:firm/crm")
        assert (job["state"], len(job["history"])) == ("delivered", 1), job
    assert [hit.webhook_id for hit in crm.at("crm")] == [webhook_id]  # the cut-off one never ended
    assert "1 attempt(s) cut off" in second.output()


async def test_a_killed_embedded_router_keeps_caps_dedup_and_answers(
    processes: Processes, buyers: BuyerServer, tmp_path: Path
) -> None:
    buyers.set("capped", bid=50)
    buyers.set("open", bid=10)
    config = config_dict(
        [
            make_buyer("capped", buyers, caps={"daily": 3}, dedup_days=30),
            make_buyer("open", buyers),
        ],
        router={"dedup_secret": "durable-dedup-secret"},
        sellers=[SELLER],
    )
    state = tmp_path / "state.db"
    first = await processes.serve(config, state=state)
    async with asyncio.timeout(20), seller() as client:
        before = await sell(client, [first.base], [consumer(1), consumer(2)])
        assert [a.body["buyer_id"] for a in before] == ["capped", "capped"]
        # A second process on the same file is refused at once, naming the first: it would
        # decide on caps and dedup the first one keeps in memory.
        command = [sys.executable, "-m", "pingtree", "serve", "--state", str(state)]
        command += ["--config", str(tmp_path / "buyers-0.yaml"), "--port", str(free_port())]
        run = functools.partial(subprocess.run, capture_output=True, text=True, timeout=30)
        refused = await asyncio.to_thread(run, command)
        assert refused.returncode == 1, refused.stderr
        assert f"in use by another process (pid {first.process.pid})" in refused.stderr
        processes.kill(first)  # its lock goes with it: the next process opens the file
        second = await processes.serve(config, state=state)

        # A resent lead is answered from its record: no second auction, no second sale.
        resent = await client.send(second.base, consumer(1))
        assert resent.body == before[0].body
        assert resent.headers.get("Idempotent-Replayed") == "true"
        # The same consumer as a new lead: `capped` has bought it (dedup), `open` gets it.
        again = await client.send(second.base, consumer(1, lead_id="lead-1-again"))
        assert again.body["buyer_id"] == "open"
        assert skip_reason(await client.admin(second.base, again.body["id"]), "capped") == "dedup"
        # The cap counts the sales made before the kill: one more fits, then it is full.
        third, fourth = await sell(client, [second.base], [consumer(3), consumer(4)])
        assert (third.body["buyer_id"], fourth.body["buyer_id"]) == ("capped", "open")
        view = await client.admin(second.base, fourth.body["id"])
        assert skip_reason(view, "capped") == "cap:daily"
    posted = Counter(post["lead_id"] for post in buyers.recorded("capped").posts)
    assert posted == {"lead-1": 1, "lead-2": 1, "lead-3": 1}


def skip_reason(view: tuple[int, dict[str, Any]], buyer_id: str) -> str | None:
    status, outcome = view
    assert status == 200, outcome
    return next((e.get("reason") for e in outcome["trace"] if e["buyer_id"] == buyer_id), None)


async def test_two_routers_on_one_redis_share_the_work_and_the_export(
    processes: Processes,
    buyers: BuyerServer,
    crm: Crm,
    tmp_path: Path,
    redis_url: str,
) -> None:
    await crm.start()
    crm.script["crm"] = [500, 500, 500]
    crm.delay_s = 0.03  # long enough for two routers sending one job at once to overlap
    buyers.set("firm", bid=40)

    def config(name: str) -> dict[str, Any]:
        router = {"deliveries": FAST, "exports_dir": str(tmp_path / f"exports-{name}")}
        return config_dict(
            [make_buyer("firm", buyers, deliveries=[destination(crm)])],
            router=router,
            sellers=[SELLER],
        )

    one = await processes.serve(config("one"), redis_url=redis_url)
    two = await processes.serve(config("two"), redis_url=redis_url)
    async with asyncio.timeout(20), seller() as client:
        answers = await sell(client, [one.base, two.base], [consumer(n) for n in range(10)])
        sold = [a.body["id"] for a in answers]
        await until(lambda: len(crm.delivered("crm")) == 10, 10, "every sale at the CRM")
        assert crm.most_at_once == 1  # no job sent by both routers at once
        jobs = await deliveries_of(client, two.base, "buyer:firm/crm")
        assert sorted(j["state"] for j in jobs) == ["delivered"] * 10
        split = [await delivered_count(client, router.base) for router in (one, two)]
        assert sum(split) == 10, split

        # Each router's CSV mirror has its own sales; the export, from either, has them all.
        for router, mine in ((one, sold[0::2]), (two, sold[1::2])):
            name = "one" if router is one else "two"
            files = list((tmp_path / f"exports-{name}" / "firm").glob("*.csv"))
            rows = [row for path in files for row in csv.DictReader(path.open())]
            assert sorted(row["id"] for row in rows) == sorted(mine)
        url = f"{two.base}/admin/exports/leads.csv?buyer=firm"
        async with client.session.get(url, headers=ADMIN) as response:
            assert response.status == 200
            exported = list(csv.DictReader(io.StringIO(await response.text())))
        assert sorted(row["id"] for row in exported) == sorted(sold)
        assert {row["phone"] for row in exported} == {consumer(n)["phone"] for n in range(10)}
    one_id_per_sale(crm, "crm", sold, "buyer:firm")
    print(f"deliveries by router: {split}")


async def delivered_count(client: Seller, base: str) -> int:
    _, text, _ = await client.get(f"{base}/metrics")
    for line in text.splitlines():
        if line.startswith('pingtree_delivery_successes_total{destination="buyer:firm/crm"}'):
            return int(float(line.split()[-1]))
    return 0


def test_serve_state_is_refused_with_redis_and_without_a_dedup_secret(tmp_path: Path) -> None:
    path = tmp_path / "buyers.yaml"
    path.write_text(yaml.safe_dump(config_dict([make_buyer("a", dedup_days=30)])))
    serve = [sys.executable, "-m", "pingtree", "serve", "--config", str(path)]
    state = ["--state", str(tmp_path / "state.db")]
    both = subprocess.run(
        [*serve, *state, "--redis-url", "redis://127.0.0.1:1/0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert both.returncode == 2 and "with --redis-url, state is in Redis" in both.stderr
    unkeyed = subprocess.run([*serve, *state], capture_output=True, text=True, timeout=30)
    assert unkeyed.returncode == 2 and "set router.dedup_secret" in unkeyed.stderr
    assert not (tmp_path / "state.db").exists()

    # A file that cannot be opened: one line saying why, no traceback.
    path.write_text(yaml.safe_dump(config_dict([make_buyer("a")])))
    nowhere = ["--state", str(tmp_path / "missing" / "state.db")]
    failed = subprocess.run([*serve, *nowhere], capture_output=True, text=True, timeout=30)
    assert failed.returncode == 1 and "cannot start: the state file failed" in failed.stderr
    assert "Traceback" not in failed.stderr
