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
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from pingtree.api import METRICS
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
