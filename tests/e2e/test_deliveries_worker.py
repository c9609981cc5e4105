"""The delivery worker end to end: sales handed to `Deliveries.sold`, delivered through the real
HttpTransport to real local receivers that verify Standard Webhooks signatures with the
`standardwebhooks` package; the queue is the in-memory fake of the DeliveryQueue contract. The
retry schedules are shortened to tens of milliseconds."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from pingtree.config import Config
from pingtree.config.models import DeliverySettings
from pingtree.config.tree import Tree
from pingtree.core.lead import parse_lead
from pingtree.core.outcome import Outcome
from pingtree.core.ranking import Offer
from pingtree.deliveries.service import Deliveries
from pingtree.deliveries.worker import NOT_CONFIGURED, SET_ASIDE
from pingtree.metrics import Metrics
from pingtree.store.queue.base import Job
from pingtree.transport.client import HttpTransport
from tests.conftest import SELLER_KEY, make_buyer, make_config, sample
from tests.deliveries.test_deliveries_fake_queue import FakeQueue

SECRET = "whsec_" + base64.b64encode(b"receiver-secret-" * 2).decode()
FAST = [0, 0.05, 0.1]
OVER_THE_CAP = 300 * 1024  # router.max_response_kb is 256 by default


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    signed_ok: bool | None
    query: str = ""  # the URL's, as sent


@dataclass
class Receiver:
    """A CRM / webhook receiver on a loopback port: each path answers its scripted statuses in
    turn (then 200), records every request, and verifies signatures when it knows the secret."""

    port: int = field(default_factory=free_port)
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    delay_s: dict[str, float] = field(default_factory=dict)
    # path → "declared" | "chunked": a 200 whose body is over the router's size cap, its length
    # declared up front or sent chunked (a CRM that answers with a whole web page).
    oversize: dict[str, str] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    secret: str | None = SECRET
    server: TestServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def answer(self, path: str, *answers: int | tuple[int, dict[str, str]]) -> None:
        self.script[path] = [a if isinstance(a, tuple) else (a, {}) for a in answers]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        signed_ok = None
        if self.secret is not None and "webhook-signature" in headers:
            try:
                Webhook(self.secret).verify(body, headers, json_parse=False)
                signed_ok = True
            except WebhookVerificationError:
                signed_ok = False
        seen = Seen(path, headers, body, time.monotonic(), signed_ok, request.query_string)
        self.seen.append(seen)
        if self.delay_s.get(path):
            await asyncio.sleep(self.delay_s[path])
        if path in self.oversize:
            return await self._oversize(request, self.oversize[path])
        queued = self.script.get(path)
        status, extra = queued.pop(0) if queued else (200, {})
        return web.Response(status=status, headers=extra, text="ok" if status < 300 else "no")

    @staticmethod
    async def _oversize(request: web.Request, framing: str) -> web.StreamResponse:
        page = b"<html>" + b"x" * OVER_THE_CAP + b"</html>"
        if framing == "declared":
            return web.Response(body=page, content_type="text/html")
        answer = web.StreamResponse(headers={"Content-Type": "text/html"})
        answer.enable_chunked_encoding()
        await answer.prepare(request)
        with contextlib.suppress(ConnectionError):  # the router stops reading at its cap
            for start in range(0, len(page), 16 * 1024):
                await answer.write(page[start : start + 16 * 1024])
            await answer.write_eof()
        return answer

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{path}", self._handle)
        self.server = TestServer(app, host="127.0.0.1", port=self.port)
        await self.server.start_server()

    async def close(self) -> None:
        if self.server is not None:
            await self.server.close()

    def at(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def ids(self, path: str) -> list[str]:
        return [s.headers["webhook-id"] for s in self.at(path)]


class TreeHolder:
    """What the router's `tree` is: swapped on reload."""

    def __init__(self, config: Config) -> None:
        self.tree = Tree(config, fallback_secret=b"d" * 32)

    def reload(self, config: Config) -> None:
        self.tree = self.tree.rebuilt(config)


def destination(receiver: Receiver, path: str = "crm", **fields: Any) -> dict[str, Any]:
    entry = {"id": path, "url": receiver.url(path), "retry_s": FAST, "jitter": 0.1}
    entry.update(timeout_ms=2000, sign={"secret": SECRET})
    entry.update(fields)
    return entry


def config_with(deliveries: list[dict[str, Any]], postback: dict[str, Any] | None = None) -> Config:
    seller: dict[str, Any] = {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8}
    if postback is not None:
        seller["postback"] = postback
    return make_config([make_buyer("firm", deliveries=deliveries)], sellers=[seller])


@dataclass
class Rig:
    deliveries: Deliveries
    queue: FakeQueue
    holder: TreeHolder
    metrics: Metrics
    sold: list[str] = field(default_factory=list)

    async def sell(self, count: int = 1, *, test: bool = False) -> list[str]:
        made = []
        for _ in range(count):
            lead_id = f"ld_{len(self.sold):04}"
            outcome = Outcome(
                id=lead_id,
                seller_id="acme-media",
                status="sold",
                received_at="2026-02-26T14:04:12.000Z",
                auction_ms=90,
                lead_id=f"seller-{lead_id}",
                buyer_id="firm",
                price=Decimal("42.50"),
                payout=Decimal("34.00"),
                test=test,
            )
            lead = parse_lead({**sample("mva-legal"), "test": test})
            won = Offer(
                buyer_id="firm",
                price=Decimal(42),
                priority=1,
                answered_ms=0,
                order=0,
                ping_id="pg_1",
                bid_id="b_1",
            )
            await self.deliveries.sold(self.holder.tree, outcome, lead, won)
            self.sold.append(lead_id)
            made.append(lead_id)
        return made

    def jobs(self, state: str | None = None) -> list[Job]:
        return [j for j in self.queue.by_id.values() if state is None or j.state == state]

    async def settled(self, count: int, timeout_s: float = 5.0) -> None:
        """Wait until `count` jobs are finished (delivered, dead or disabled)."""
        await wait_for(
            lambda: len([j for j in self.jobs() if j.state not in ("waiting", "leased")]) >= count,
            timeout_s,
        )

    def metric(self, name: str, key: str = "buyer:firm/crm") -> float:
        value = self.metrics.registry.get_sample_value(name, {"destination": key})
        return value or 0.0


async def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)


MakeRig = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver()
    yield made
    await made.close()


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[MakeRig]:
    started: list[tuple[Deliveries, HttpTransport]] = []

    async def make(
        config: Config, *, start: bool = True, queue: FakeQueue | None = None, **options: Any
    ) -> Rig:
        queue, holder, metrics = queue or FakeQueue(), TreeHolder(config), Metrics()
        transport = HttpTransport()
        await transport.start()
        settings = DeliverySettings(concurrency=4, poll_ms=20, keep_days=1, ledger_days=30)
        deliveries = Deliveries(
            queue,
            transport,
            metrics,
            lambda: holder.tree,
            settings,
            exports_dir=tmp_path / "exports",
            consumer="test-router",
            **options,
        )
        started.append((deliveries, transport))
        if start:
            await deliveries.start()
        return Rig(deliveries, queue, holder, metrics)

    yield make
    for deliveries, transport in started:
        await deliveries.stop()
        await transport.close()


async def test_a_crm_down_then_back_gets_every_lead_once_per_webhook_id(
    receiver: Receiver, make_rig: MakeRig
) -> None:
    schedule = [0, 0.05, 0.05, 0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.3, 0.3]
    rig = await make_rig(config_with([destination(receiver, retry_s=schedule)]))
    sold = await rig.sell(5)
    await asyncio.sleep(0.2)  # nobody listens: connection refused, retried
    assert rig.metric("pingtree_delivery_retries_total") >= 3
    assert receiver.seen == []
    receiver.answer("crm", 500, 500, 500)  # back, but failing at first
    await receiver.start()
    await rig.settled(5)
    assert {j.state for j in rig.jobs()} == {"delivered"}
    expected = {f"{lead}.buyer:firm.crm" for lead in sold}
    assert set(receiver.ids("crm")) == expected  # one webhook-id per sale and destination
    assert all(seen.signed_ok for seen in receiver.seen)  # every attempt signed, verified
    bodies: dict[str, set[bytes]] = {}
    numbers: dict[str, list[int]] = {}
    for seen in receiver.seen:
        body = orjson.loads(seen.body)
        number = body.pop("delivery_attempt")
        assert seen.headers["webhook-attempt"] == str(number)
        numbers.setdefault(seen.headers["webhook-id"], []).append(number)
        bodies.setdefault(seen.headers["webhook-id"], set()).add(orjson.dumps(body))
    # A repeat is the same request but for the attempt's number, counting the refused ones.
    assert all(len(sent) == 1 for sent in bodies.values())
    for job in rig.jobs():
        assert numbers[job.id] == sorted(set(numbers[job.id])), numbers[job.id]
        assert numbers[job.id][-1] == len(job.history)
    assert rig.metric("pingtree_delivery_successes_total") == 5
    # Every attempt ends one way: taken, or to be tried again (refused connections included).
    attempts = rig.metric("pingtree_delivery_attempts_total")
    assert attempts == 5 + rig.metric("pingtree_delivery_retries_total")
    assert attempts > len(receiver.seen)
    count = rig.metrics.registry.get_sample_value(
        "pingtree_delivery_latency_seconds_count", {"destination": "buyer:firm/crm"}
    )
    assert count == 5


async def test_deliveries_go_out_in_order_of_sale_per_destination(
    receiver: Receiver, make_rig: MakeRig
) -> None:
    await receiver.start()
    rig = await make_rig(
        config_with([destination(receiver), destination(receiver, "dialer", sign=None)])
    )
    sold = await rig.sell(8)
    await rig.settled(16)
    assert receiver.ids("crm") == [f"{lead}.buyer:firm.crm" for lead in sold]
    assert receiver.ids("dialer") == [f"{lead}.buyer:firm.dialer" for lead in sold]
    # Unsigned, but with its webhook-id and timestamp so the receiver can still drop repeats.
    first = receiver.at("dialer")[0].headers
    assert "webhook-signature" not in first and first["webhook-timestamp"].isdigit()
    assert orjson.loads(receiver.at("crm")[0].body)["phone"] == "+13055551234"


async def test_a_410_disables_the_destination_until_the_config_is_reloaded(
    receiver: Receiver, make_rig: MakeRig
) -> None:
    await receiver.start()
    config = config_with([destination(receiver)])
    rig = await make_rig(config)
    receiver.answer("crm", 410)
    await rig.sell(1)
    await rig.settled(1)
    await rig.sell(2)  # set aside without a call
    await rig.settled(3)
    assert len(receiver.at("crm")) == 1
    states = {j.id: (j.state, j.last_error) for j in rig.jobs()}
    assert states["ld_0000.buyer:firm.crm"] == ("disabled", "HTTP 410 Gone")
    assert states["ld_0002.buyer:firm.crm"] == ("disabled", SET_ASIDE)
    assert rig.metric("pingtree_delivery_disabled_total") == 3
    assert rig.metric("pingtree_delivery_attempts_total") == 1

    rig.holder.reload(config)  # the operator reloads: the destination is tried again
    await rig.sell(1)
    await rig.settled(4)
    assert rig.queue.by_id["ld_0003.buyer:firm.crm"].state == "delivered"
    # And a disabled one replayed goes out again, with the same webhook-id.
    assert await rig.deliveries.replay("ld_0001.buyer:firm.crm")
    await wait_for(lambda: rig.queue.by_id["ld_0001.buyer:firm.crm"].state == "delivered")
    assert receiver.ids("crm")[-1] == "ld_0001.buyer:firm.crm"


async def test_429_with_retry_after_is_honoured(receiver: Receiver, make_rig: MakeRig) -> None:
    await receiver.start()
    receiver.answer("crm", (429, {"Retry-After": "1"}))
    rig = await make_rig(config_with([destination(receiver, retry_s=[0, 0.01, 0.01])]))
    await rig.sell(1)
    await rig.settled(1, timeout_s=5)
    first, second = receiver.at("crm")
    assert second.at - first.at >= 0.95  # not the schedule's 10 ms
    job = rig.queue.by_id["ld_0000.buyer:firm.crm"]
    assert job.state == "delivered" and "Retry-After 1 s" in job.history[0]


async def test_503_with_an_http_date_is_honoured(receiver: Receiver, make_rig: MakeRig) -> None:
    await receiver.start()
    from email.utils import formatdate

    receiver.answer("crm", (503, {"Retry-After": formatdate(time.time() + 2, usegmt=True)}))
    rig = await make_rig(config_with([destination(receiver, retry_s=[0, 0.01])]))
    await rig.sell(1)
    await rig.settled(1, timeout_s=5)
    first, second = receiver.at("crm")
    assert second.at - first.at >= 0.9  # an HTTP-date has whole seconds


@pytest.mark.parametrize("framing", ["declared", "chunked"])
async def test_a_2xx_with_a_body_over_the_size_cap_is_delivered_once(
    receiver: Receiver, make_rig: MakeRig, framing: str
) -> None:
    """The status decides: a CRM that answers 200 with a page over max_response_kb has the lead,
    whether the page's length is declared up front (the router stops at the head) or it comes
    chunked (the router stops at the cap). Nothing is retried."""
    await receiver.start()
    receiver.oversize["crm"] = framing
    rig = await make_rig(config_with([destination(receiver)]))
    await rig.sell(1)
    await rig.settled(1)
    await asyncio.sleep(0.3)  # FAST's retries would all have gone out by now
    job = rig.queue.by_id["ld_0000.buyer:firm.crm"]
    assert job.state == "delivered", job.history
    assert len(job.history) == 1 and "HTTP 200" in job.history[0]
    assert receiver.ids("crm") == ["ld_0000.buyer:firm.crm"]
    assert rig.metric("pingtree_delivery_retries_total") == 0


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_a_4xx_is_dead_lettered_at_once(
    receiver: Receiver, make_rig: MakeRig, status: int
) -> None:
    await receiver.start()
    receiver.answer("crm", status)
    rig = await make_rig(config_with([destination(receiver)]))
    await rig.sell(1)
    await rig.settled(1)
    await asyncio.sleep(0.2)  # nothing more goes out
    assert len(receiver.at("crm")) == 1
    job = rig.queue.by_id["ld_0000.buyer:firm.crm"]
    assert (job.state, job.last_error) == ("dead", f"HTTP {status}: refused, not retried")
    assert rig.metric("pingtree_delivery_dead_letters_total") == 1


async def test_failover_then_dead_letter_then_replay(receiver: Receiver, make_rig: MakeRig) -> None:
    await receiver.start()
    receiver.answer("crm", 500, 502, 503)
    receiver.answer("backup", 500, 500, 500)
    crm = destination(receiver, retry_s=[0, 0.02, 0.02], failover_url=receiver.url("backup"))
    rig = await make_rig(config_with([crm]))
    await rig.sell(1)
    await rig.settled(1)
    job = rig.queue.by_id["ld_0000.buyer:firm.crm"]
    assert (len(receiver.at("crm")), len(receiver.at("backup"))) == (3, 3)
    assert job.state == "dead" and "on the failover" in (job.last_error or "")
    assert len(set(receiver.ids("crm") + receiver.ids("backup"))) == 1  # one webhook-id
    assert all(seen.signed_ok for seen in receiver.seen)

    assert await rig.deliveries.replay(job.id)  # the CRM answers 200 again by now
    await wait_for(lambda: rig.queue.by_id[job.id].state == "delivered")
    assert receiver.ids("crm")[-1] == job.id and len(receiver.at("crm")) == 4


async def test_the_failover_takes_it_when_the_primary_stays_down(
    receiver: Receiver, make_rig: MakeRig
) -> None:
    await receiver.start()
    crm = destination(receiver, url="http://127.0.0.1:9/crm", retry_s=[0, 0.01], timeout_ms=500)
    crm["failover_url"] = receiver.url("backup")
    rig = await make_rig(config_with([crm]))
    await rig.sell(1)
    await rig.settled(1)
    job = rig.queue.by_id["ld_0000.buyer:firm.crm"]
    assert job.state == "delivered" and job.target == "failover"
    assert receiver.ids("backup") == [job.id]


async def test_the_failover_gets_the_query_the_primary_would_have(
    receiver: Receiver, make_rig: MakeRig
) -> None:
    """A GET destination sends the lead as its query (and `query:` adds fixed values): the bare
    failover_url went out without them, an empty lead for the backup CRM."""
    await receiver.start()
    crm = destination(receiver, url="http://127.0.0.1:9/crm", retry_s=[0, 0.01], timeout_ms=500)
    crm.update(
        method="GET",
        failover_url=receiver.url("backup") + "?list=7",
        query={"campaign": "mva-7"},
        fields=[{"to": "phone", "from": "phone"}, {"to": "state", "from": "state"}],
    )
    rig = await make_rig(config_with([crm]))
    await rig.sell(1)
    await rig.settled(1)
    job = rig.queue.by_id["ld_0000.buyer:firm.crm"]
    assert job.state == "delivered" and job.target == "failover"
    [seen] = receiver.at("backup")
    query = dict(parse_qsl(seen.query))
    assert query["list"] == "7" and query["campaign"] == "mva-7"
    assert (query["phone"], query["state"]) == ("+13055551234", "FL"), query


async def test_the_sellers_postback_is_signed_and_told_of_the_sale(
    receiver: Receiver, make_rig: MakeRig
) -> None:
    await receiver.start()
    postback = {"url": receiver.url("postback"), "sign": {"secret": SECRET}, "retry_s": FAST}
    rig = await make_rig(config_with([], postback=postback))
    await rig.sell(1)
    await rig.settled(1)
    (seen,) = receiver.at("postback")
    assert seen.signed_ok and seen.headers["webhook-id"] == "ld_0000.seller:acme-media.postback"
    event = orjson.loads(seen.body)
    assert event["type"] == "lead.sold" and event["data"]["id"] == "ld_0000"
    assert b"3055551234" not in seen.body


async def test_test_leads_go_to_the_sandbox(receiver: Receiver, make_rig: MakeRig) -> None:
    await receiver.start()
    rig = await make_rig(config_with([destination(receiver, sandbox_url=receiver.url("sandbox"))]))
    await rig.sell(1, test=True)
    await rig.settled(1)
    assert receiver.at("crm") == [] and len(receiver.at("sandbox")) == 1


async def test_a_destination_removed_from_the_config_is_dead_lettered_unsent(
    receiver: Receiver, make_rig: MakeRig
) -> None:
    await receiver.start()
    rig = await make_rig(config_with([destination(receiver)]), start=False)
    await rig.sell(1)
    rig.holder.reload(config_with([]))
    await rig.deliveries.start()
    await rig.settled(1)
    job = rig.queue.by_id["ld_0000.buyer:firm.crm"]
    assert (job.state, job.last_error) == ("dead", NOT_CONFIGURED)
    assert receiver.seen == []


async def test_a_rotated_secret_signs_jobs_already_queued(
    receiver: Receiver, make_rig: MakeRig
) -> None:
    await receiver.start()
    rig = await make_rig(config_with([destination(receiver)]), start=False)
    await rig.sell(1)
    rotated = "whsec_" + base64.b64encode(b"the-rotated-key!" * 2).decode()
    rig.holder.reload(config_with([destination(receiver, sign={"secret": rotated})]))
    receiver.secret = rotated
    await rig.deliveries.start()
    await rig.settled(1)
    assert [seen.signed_ok for seen in receiver.seen] == [True]


async def test_the_worker_survives_a_queue_that_fails(
    receiver: Receiver, make_rig: MakeRig, caplog: pytest.LogCaptureFixture
) -> None:
    await receiver.start()
    rig = await make_rig(config_with([destination(receiver)]), start=False)
    await rig.sell(2)
    rig.queue.fail_next = ConnectionError("queue down")
    await rig.deliveries.start()
    await rig.settled(2)
    assert "the queue failed (ConnectionError)" in caplog.text


async def test_a_request_that_cannot_be_made_ends_as_a_dead_letter(
    receiver: Receiver, make_rig: MakeRig
) -> None:
    rig = await make_rig(config_with([destination(receiver)]), start=False)
    await rig.sell(1)
    job = rig.queue.by_id["ld_0000.buyer:firm.crm"]
    rig.queue.by_id[job.id] = replace(job, url="http://[::1/crm")  # urlsplit refuses it
    await rig.deliveries.start()
    await rig.settled(1)
    dead = rig.queue.by_id[job.id]
    assert dead.state == "dead" and "request not sent" in (dead.last_error or "")
    assert len(dead.history) == len(FAST)


async def test_a_lost_settlement_is_sent_again_after_its_lease(
    receiver: Receiver, make_rig: MakeRig
) -> None:
    """At least once: the receiver got it, the settlement failed; the lease runs out and the
    same webhook-id goes out again (the receiver drops the repeat)."""
    await receiver.start()
    rig = await make_rig(config_with([destination(receiver)]), start=False, lease_s=0.2)
    await rig.sell(1)
    original = rig.queue.settle

    async def settle_fails_once(*args: Any) -> None:
        rig.queue.settle = original  # type: ignore[method-assign]
        raise ConnectionError("store down")

    rig.queue.settle = settle_fails_once  # type: ignore[method-assign]
    await rig.deliveries.start()
    await rig.settled(1)
    assert receiver.ids("crm") == ["ld_0000.buyer:firm.crm"] * 2


async def test_stop_abandons_a_hung_attempt_and_its_lease_brings_it_back(
    receiver: Receiver, make_rig: MakeRig
) -> None:
    await receiver.start()
    receiver.delay_s["crm"] = 5.0
    config = config_with([destination(receiver)])
    first = await make_rig(config, lease_s=0.3, stop_grace_s=0.05)
    await first.sell(1)
    await wait_for(lambda: len(receiver.seen) == 1)
    started = time.monotonic()
    await first.deliveries.stop()
    assert time.monotonic() - started < 1.0
    assert first.queue.by_id["ld_0000.buyer:firm.crm"].state == "leased"

    receiver.delay_s["crm"] = 0.0
    await asyncio.sleep(0.3)  # the lease runs out
    await make_rig(config, queue=first.queue, lease_s=0.3)  # another router, the same store
    await wait_for(lambda: first.queue.by_id["ld_0000.buyer:firm.crm"].state == "delivered")
    assert receiver.ids("crm") == ["ld_0000.buyer:firm.crm"] * 2


async def test_finished_jobs_are_purged_after_keep_days(
    receiver: Receiver, make_rig: MakeRig
) -> None:
    await receiver.start()
    clock = [time.time()]
    rig = await make_rig(config_with([destination(receiver)]), clock=lambda: clock[0])
    await rig.sell(1)
    await rig.settled(1)
    await rig.deliveries.stop()
    clock[0] += 86400 + 1  # a day later (keep_days: 1): the next start purges it
    await rig.deliveries.start()
    await wait_for(lambda: rig.queue.by_id == {})


async def test_sold_writes_the_ledger_and_the_csv_mirror(
    receiver: Receiver, make_rig: MakeRig, tmp_path: Path
) -> None:
    await receiver.start()
    rig = await make_rig(config_with([destination(receiver)]))
    await rig.sell(2)
    assert [row.lead_id for row in rig.queue.rows] == ["ld_0000", "ld_0001"]
    (csv_file,) = (tmp_path / "exports" / "firm").glob("*.csv")
    lines = csv_file.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("id,sold_at,") and [line[:7] for line in lines[1:]] == [
        "ld_0000",
        "ld_0001",
    ]


async def test_sold_fails_loudly_when_the_queue_cannot_take_it(make_rig: MakeRig) -> None:
    rig = await make_rig(config_with([destination(Receiver())]), start=False)
    rig.queue.fail_next = ConnectionError("queue down")
    with pytest.raises(ConnectionError):
        await rig.sell(1)
