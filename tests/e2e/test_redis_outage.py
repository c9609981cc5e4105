"""A Redis outage under a running router: redis-server crashes (SIGKILL) mid-run and comes back
on the same port and folder (append-only file, synced at each write). Every new lead meanwhile is
a 503 with Retry-After within 100 ms, /healthz says degraded, nothing is a 500; once Redis is
back the router sells again by itself, with no restart, and every lead it answered `sold` before,
during or after is readable, sold once. And a Redis that loses everything (restarted without
persistence, or flushed) while a sale's answer is on its way: the resent lead is that answer."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.buyers import BuyerServer
from tests.conftest import SELLER_KEY, config_dict, make_buyer
from tests.e2e.router_processes import Answer, Seller, StartRouters, consumer, seller
from tests.redis_server import RedisProcess

FAST_503_S = 0.100
REVEALING = [
    {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8, "reveal": ["buyer", "price"]}
]


@asynccontextmanager
async def redis_of_our_own(tmp_path: Path, *, durable: bool) -> AsyncIterator[RedisProcess]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisProcess(folder, durable=durable)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    """A redis-server of this test's own, to crash and start again."""
    async with redis_of_our_own(tmp_path, durable=True) as server:
        yield server


@pytest.fixture
async def forgetful_redis(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    """A redis-server that keeps nothing on disk: started again, it is empty."""
    async with redis_of_our_own(tmp_path, durable=False) as server:
        yield server


async def health(client: Seller, base: str) -> tuple[int, str, str | None]:
    status, text, headers = await client.get(f"{base}/healthz")
    return status, text, headers.get("Retry-After")


async def test_a_redis_outage_is_503s_at_once_and_sales_resume_by_themselves(
    start: StartRouters, buyers: BuyerServer, own_redis: RedisProcess
) -> None:
    buyers.set("capped", bid=50)
    buyers.set("open", bid=10, post_delay_s=0.01)
    config = config_dict(
        [make_buyer("capped", buyers, caps={"daily": 1000}), make_buyer("open", buyers)],
        router={"budget_ms": 3000, "post_reserve_ms": 500},
        sellers=REVEALING,
    )
    (router,) = await start(config, own_redis.url)
    answers: list[Answer] = []
    numbers = iter(range(100_000))
    running = True

    async def keep_selling(client: Seller) -> None:
        while running:
            answers.append(await client.send(router.base, consumer(next(numbers))))
            await asyncio.sleep(0.005)

    async with asyncio.timeout(60), seller() as client:
        assert await health(client, router.base) == (200, '{"status":"ok"}', None)
        senders = [asyncio.create_task(keep_selling(client)) for _ in range(4)]
        await asyncio.sleep(0.5)

        own_redis.kill()
        killed_at = time.monotonic()
        await asyncio.sleep(1.5)
        during = await health(client, router.base)
        restarted_at = time.monotonic()
        # In a thread: start() waits for Redis to serve, and on this loop that wait would hold
        # back the answers of the leads already sent, timing the test's stall as pingtree's.
        await asyncio.to_thread(own_redis.start)
        started_at = time.monotonic()
        while True:
            if (await health(client, router.base))[0] == 200:
                healthy_at = time.monotonic()
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.7)
        running = False
        await asyncio.gather(*senders)

        # No 500, ever: 200 or 503.
        assert Counter(a.status for a in answers).keys() <= {200, 503}
        assert all(a.body["status"] != "rejected" for a in answers if a.status == 200)
        # Before the crash: sold.
        before = [a for a in answers if a.started + a.seconds < killed_at]
        assert before and all(a.status == 200 for a in before)
        # Every lead sent while Redis was down: a 503 with Retry-After, at once. The ones already
        # under way at the crash find it out, and may take a little longer (or still sell: their
        # outcome is written once Redis is back); we allow them 1 s.
        down = [a for a in answers if killed_at + 0.05 < a.started < restarted_at]
        assert len(down) >= 20
        assert all(a.status == 503 for a in down)
        assert all(a.headers.get("Retry-After") == "1" for a in down)
        assert all(a.body["error"] == "unavailable" for a in down)
        slowest = max(a.seconds for a in down)
        assert slowest < FAST_503_S, sorted(a.seconds for a in down)[-5:]
        straddling = [a for a in answers if a.started <= killed_at + 0.05 < a.started + a.seconds]
        assert all(a.seconds < 1.0 for a in straddling), [a.seconds for a in straddling]
        assert during == (503, '{"status":"degraded","store":"unavailable"}', "1")
        # Back by itself within the probe's period (plus Redis's own start).
        assert healthy_at - started_at < 1.5
        after = [a for a in answers if a.started > healthy_at]
        assert len(after) >= 10 and all(a.status == 200 for a in after)
        assert {a.body["status"] for a in after} == {"sold"}

        # Every `sold`, whenever it was answered, is in Redis now, as answered; nothing sold twice.
        sold = [a.body for a in answers if a.status == 200 and a.body["status"] == "sold"]
        for body in sold:
            status, view = await client.admin(router.base, body["id"])
            assert (status, view["status"], view["buyer_id"]) == (200, "sold", body["buyer_id"])
        posted = Counter(
            post["lead_id"] for name in ("capped", "open") for post in buyers.recorded(name).posts
        )
        assert max(posted.values()) == 1
        assert len(posted) == len(sold) + sum(
            1 for a in answers if a.status == 200 and a.body["status"] == "pending"
        )
        _, metrics, _ = await client.get(f"{router.base}/metrics")

    statuses = {
        sample.labels["status"]
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "pingtree_http_responses_total"
    }
    assert statuses <= {"200", "503"}, statuses
    log = router.output()
    assert "store unavailable" in log and "store back after" in log
    assert "Traceback" not in log
    print(
        f"{len(answers)} leads: {len(before)} before the crash, {len(down)} while Redis was down "
        f"(503 in {1000 * statistics.median(a.seconds for a in down):.1f} ms median, "
        f"{1000 * slowest:.1f} ms max), {len(straddling)} under way at the crash "
        f"({[round(1000 * a.seconds, 1) for a in straddling]} ms: "
        f"{[a.status for a in straddling]}), {len(after)} after; back "
        f"{1000 * (healthy_at - started_at):.0f} ms after Redis started"
    )


@pytest.mark.parametrize("loss", ["restarted empty", "flushed"])
async def test_a_sale_answered_while_redis_lost_everything_is_replayed_not_sold_again(
    start: StartRouters, buyers: BuyerServer, forgetful_redis: RedisProcess, loss: str
) -> None:
    """The claim is lost while the post is out: with Redis restarted empty, the answer waits
    for it (deferred) and is written once it is back; with Redis flushed, it is written at once.
    Either way the key is answered `sold`, so the resend replays it and no second post goes out."""
    buyers.set("only", bid=30, post_delay_s=0.6)
    config = config_dict(
        [make_buyer("only", buyers, post={"timeout_ms": 2500})],
        router={"budget_ms": 3000},
        sellers=REVEALING,
    )
    (router,) = await start(config, forgetful_redis.url)
    lead = consumer(1)
    async with asyncio.timeout(30), seller() as client:
        sending = asyncio.create_task(client.send(router.base, lead))
        while True:  # until the post is out
            if buyers.recorded("only").posts:
                break
            await asyncio.sleep(0.01)
        if loss == "flushed":
            with redis.Redis.from_url(forgetful_redis.url) as raw:
                raw.flushall()
        else:
            forgetful_redis.kill()
        first = await sending
        assert (first.status, first.body["status"]) == (200, "sold"), first.body
        if loss == "restarted empty":
            forgetful_redis.start()
            while True:  # until the guard's probe has flushed what waited and marked it up
                if (await health(client, router.base))[0] == 200:
                    break
                await asyncio.sleep(0.02)

        again = await client.send(router.base, lead)
        assert again.status == 200 and again.body == first.body
        assert again.headers.get("Idempotent-Replayed") == "true"
    assert len(buyers.recorded("only").posts) == 1
    assert len(buyers.recorded("only").pings) == 1
    log = router.output()
    assert "could not land" not in log and "Traceback" not in log
    if loss == "restarted empty":
        assert "1 deferred write(s) flushed, accepting" in log


async def test_an_answer_that_cannot_land_is_logged_so(
    start: StartRouters, buyers: BuyerServer, redis_url: str
) -> None:
    """Redis loses the claim while the post is out, and before the answer comes back another
    router takes the same key for another lead: the first router's answer must not replace that
    claim, and its log says the answer could not land (and why), not that it was written."""
    buyers.set("only", bid=30, post_delay_s=0.6)
    config = config_dict(
        [make_buyer("only", buyers, post={"timeout_ms": 2500})],
        router={"budget_ms": 3000},
        sellers=REVEALING,
    )
    first, second = await start(config, redis_url, count=2)
    async with asyncio.timeout(30), seller() as client:
        sending = asyncio.create_task(client.send(first.base, consumer(1)))
        while True:  # until the post is out
            if buyers.recorded("only").posts:
                break
            await asyncio.sleep(0.01)
        with redis.Redis.from_url(redis_url) as raw:
            raw.flushall()
        other = consumer(2, lead_id="lead-1")  # the same key, another lead
        other_answer = asyncio.create_task(client.send(second.base, other))
        sold = await sending
        assert (sold.status, sold.body["status"]) == (200, "sold")
        assert (await other_answer).status == 200
        again = await client.send(second.base, other)  # the key is the second lead's
        assert again.body["id"] == (await other_answer).body["id"]
    log = first.output()
    assert "could not land: the key now names another lead" in log, log[-2000:]
