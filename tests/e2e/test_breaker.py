"""The circuit breaker end to end, in each `router.breaker.mode`, with a buyer that starts failing
and then recovers, beside an honest one.

- enforce (the default): four leads whose pings the flaky buyer answers with a 500 open its
  breaker (window 4, ratio 0.5); the next leads skip it (`breaker_open`, no ping goes out) while
  the honest buyer sells them. It recovers; it stays skipped until the cooldown has passed, then
  one lead probes it (half-open), it bids and wins, and the leads after ping it as before.
- shadow: the same story, but it is never skipped: the leads its open breaker would have skipped
  trace `skip` / `shadow` / `breaker_open` and then ping it anyway, and
  `pingtree_breaker_shadow_skips_total` counts them, not `pingtree_skips_total`. After the
  cooldown its probe closes the breaker and the shadow notes stop.
- off: no breaker at all: every lead pings it, nothing is traced or counted for the breaker.

And a buyer that answers at once, whose answers this router reads too late because its own event
loop stands still (an overload, a long pause): those timeouts are the router's, not the buyer's,
and do not open its breaker.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pingtree.web.keys import METRICS
from tests.buyers import BuyerServer
from tests.conftest import RouterClient, make_buyer, make_config, sample

COOLDOWN_S = 0.6
BREAKER = {"window": 4, "min_calls": 4, "failure_ratio": 0.5, "cooldown_s": COOLDOWN_S}


async def _router(buyers: BuyerServer, start_router: Any, mode: str) -> RouterClient:
    buyers.set("flaky", ping_status=500)
    buyers.set("honest", bid=20)
    config = make_config(
        [make_buyer("flaky", buyers), make_buyer("honest", buyers)],
        router={"breaker": {**BREAKER, "mode": mode}},
    )
    return await start_router(config)


async def _sell(router: RouterClient) -> tuple[str, list[tuple[str, str, str | None]]]:
    """(the buyer who bought, the flaky buyer's trace as (step, result, reason))."""
    status, answer, _ = await router.send({**sample("mva-legal"), "lead_id": uuid.uuid4().hex})
    assert (status, answer["status"]) == (200, "sold"), answer
    view = await router.admin(answer["id"])
    flaky = [
        (e["step"], e["result"], e.get("reason")) for e in view["trace"] if e["buyer_id"] == "flaky"
    ]
    return view["buyer_id"], flaky


def _metric(router: RouterClient, name: str, **labels: str) -> float:
    return router.app[METRICS].registry.get_sample_value(name, labels) or 0.0


FAILED = ("ping", "failed", "http_error")
SKIPPED = ("skip", "skipped", "breaker_open")
SHADOW = ("skip", "shadow", "breaker_open")
BID = ("ping", "bid", None)
SOLD = [BID, ("post", "accepted", None)]  # it bids 30, beats the honest 20 and sells


async def test_a_failing_buyer_is_skipped_then_probed_back_in(
    buyers: BuyerServer, start_router: Any
) -> None:
    router = await _router(buyers, start_router, "enforce")
    for _ in range(4):
        assert await _sell(router) == ("honest", [FAILED])
    assert await _sell(router) == ("honest", [SKIPPED])  # open: no ping goes out
    assert len(buyers.recorded("flaky").pings) == 4
    buyers.set("flaky", bid=30)  # it recovers
    assert await _sell(router) == ("honest", [SKIPPED])  # still resting
    await asyncio.sleep(COOLDOWN_S + 0.1)
    assert await _sell(router) == ("flaky", SOLD)  # the probe: admitted, it bids and wins
    assert await _sell(router) == ("flaky", SOLD)  # closed again
    assert _metric(router, "pingtree_skips_total", buyer="flaky", reason="breaker_open") == 2
    assert _metric(router, "pingtree_breaker_shadow_skips_total", buyer="flaky") == 0


async def test_shadow_mode_never_skips_but_records_what_it_would_have_skipped(
    buyers: BuyerServer, start_router: Any
) -> None:
    router = await _router(buyers, start_router, "shadow")
    for _ in range(4):
        assert await _sell(router) == ("honest", [FAILED])
    assert await _sell(router) == ("honest", [SHADOW, FAILED])  # would skip; pinged anyway
    buyers.set("flaky", bid=30)
    assert await _sell(router) == ("flaky", [SHADOW, *SOLD])
    assert len(buyers.recorded("flaky").pings) == 6  # every lead pinged it
    await asyncio.sleep(COOLDOWN_S + 0.1)
    assert await _sell(router) == ("flaky", SOLD)  # the probe closes the breaker
    assert await _sell(router) == ("flaky", SOLD)
    assert _metric(router, "pingtree_breaker_shadow_skips_total", buyer="flaky") == 2
    assert _metric(router, "pingtree_skips_total", buyer="flaky", reason="breaker_open") == 0


async def test_with_the_breaker_off_a_failing_buyer_is_always_called(
    buyers: BuyerServer, start_router: Any
) -> None:
    router = await _router(buyers, start_router, "off")
    for _ in range(6):
        assert await _sell(router) == ("honest", [FAILED])
    assert len(buyers.recorded("flaky").pings) == 6


@contextmanager
def buyers_in_their_own_thread() -> Iterator[BuyerServer]:
    """A BuyerServer on an event loop of its own, in a thread: it answers at once even while
    the test's loop, which is the router's, stands still."""
    loop = asyncio.new_event_loop()
    started: list[BuyerServer] = []
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        started.append(BuyerServer())
        loop.run_until_complete(started[0].start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10), "the buyers' thread did not start"
    try:
        yield started[0]
    finally:
        asyncio.run_coroutine_threadsafe(started[0].close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


STALL_S = 0.6  # longer than the ping timeout, far longer than router.breaker.max_loop_lag_ms


async def test_timeouts_while_the_routers_loop_stands_still_do_not_open_a_prompt_buyers_breaker(
    start_router: Any,
) -> None:
    with buyers_in_their_own_thread() as buyers:
        buyers.set("prompt", bid=30, ping_delay_s=0.05)  # answers within the stall, in time
        config = make_config(
            [make_buyer("prompt", buyers, ping={"timeout_ms": 300})],
            router={"breaker": {**BREAKER, "cooldown_s": 60}},
        )
        router = await start_router(config)
        for n in range(4):
            sending = asyncio.create_task(router.send({**sample("mva-legal"), "lead_id": f"s{n}"}))
            while True:  # until the buyer has the ping
                if len(buyers.recorded("prompt").pings) > n:
                    break
                await asyncio.sleep(0.002)
            time.sleep(STALL_S)  # noqa: ASYNC251 - the router's loop (this one) stands still
            _, answer, _ = await sending
            assert answer["status"] == "unsold", answer  # the answer was read too late
            (ping,) = (await router.admin(answer["id"]))["trace"]
            assert (ping["step"], ping["result"], ping["reason"]) == ("ping", "failed", "timeout")
            assert "not counted against the buyer's breaker" in ping["detail"], ping

        # The buyer was prompt all along: its breaker is closed, and the next lead sells to it.
        _, answer, _ = await router.send({**sample("mva-legal"), "lead_id": "after"})
        assert (answer["status"], answer.get("reason")) == ("sold", None), answer
        assert _metric(router, "pingtree_breaker_excused_timeouts_total", buyer="prompt") == 4
        assert _metric(router, "pingtree_event_loop_lag_seconds_bucket", le="0.5") < _metric(
            router, "pingtree_event_loop_lag_seconds_count"
        )
