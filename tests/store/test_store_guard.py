"""The store guard (pingtree/store/state/guard.py): down after a failure, every call refused at
once while down, a probe that brings it back, and the writes that must reach the store held until
it does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from pingtree.config import Caps, Retention
from pingtree.core.errors import StoreUnavailable
from pingtree.core.outcome import Outcome
from pingtree.core.rules import CapWindows
from pingtree.store.state.base import CapRequest, Done, IdempotencyKey, InFlight, Reservation
from pingtree.store.state.guard import GuardedStore
from pingtree.store.state.memory import MemoryStore

PROBE_S = 0.01


class FlakyStore(MemoryStore):
    """A MemoryStore that, while `down`, fails every call as a dead Redis would; counts calls."""

    def __init__(self) -> None:
        super().__init__(Retention())
        self.down = False
        self.slow = False  # fail as a timeout would, rather than a refused connection
        self.calls = 0

    def __getattribute__(self, name: str) -> Any:
        attribute = super().__getattribute__(name)
        if name.startswith("_") or name in ("close", "sizes") or not callable(attribute):
            return attribute

        async def call(*args: Any, **kw: Any) -> Any:
            self.calls += 1
            if self.down:
                raise StoreUnavailable("the store did not answer", slow=self.slow)
            return await attribute(*args, **kw)

        return call


@pytest.fixture
async def flaky() -> FlakyStore:
    return FlakyStore()


@pytest.fixture
async def guard(flaky: FlakyStore) -> AsyncIterator[GuardedStore]:
    guarded = GuardedStore(flaky, probe_every_s=PROBE_S, max_deferred=3)
    yield guarded
    await guarded.close()


def outcome(lead_id: str = "ld_1", status: str = "sold") -> Outcome:
    return Outcome(
        id=lead_id,
        seller_id="acme-media",
        status=status,  # type: ignore[arg-type]
        received_at="2026-01-01T00:00:00.000Z",
        auction_ms=12,
    )


KEY = IdempotencyKey("acme-media", "k1", "fp")
SLOT = CapRequest(
    "lawfirm-a", "ld_1", Caps(daily=1), CapWindows("2026-01-01T09+0000", "2026-01-01"), Decimal(1)
)


async def until(predicate: Callable[[], bool], timeout_s: float = 2.0) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.005)


async def fails_fast(call: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    with pytest.raises(StoreUnavailable):
        await call()
    return time.perf_counter() - started


async def test_a_failure_marks_it_down_and_later_calls_never_reach_the_store(
    guard: GuardedStore, flaky: FlakyStore
) -> None:
    assert guard.up
    flaky.down = True
    await fails_fast(lambda: guard.get_outcome("ld_1"))
    assert not guard.up
    reached = flaky.calls
    for call in (
        lambda: guard.claim_idempotency(KEY, 60, lead_id="ld_1", lease_s=5),
        lambda: guard.check(SLOT),
        lambda: guard.reserve(SLOT),
        lambda: guard.journal_post("ld_1", "lawfirm-a"),
    ):
        assert await fails_fast(call) < 0.01
    with pytest.raises(StoreUnavailable):
        guard.refuse_if_down()
    # Only the probe touches the store while it is down (a PING every PROBE_S).
    assert flaky.calls - reached <= 3


async def test_the_probe_brings_it_back(guard: GuardedStore, flaky: FlakyStore) -> None:
    flaky.down = True
    with pytest.raises(StoreUnavailable):
        await guard.ping()
    await asyncio.sleep(5 * PROBE_S)
    assert not guard.up  # the probe keeps failing
    flaky.down = False
    await until(lambda: guard.up)
    guard.refuse_if_down()
    assert await guard.get_outcome("ld_1") is None


async def test_a_timeout_while_other_calls_are_answered_is_not_an_outage(
    flaky: FlakyStore,
) -> None:
    guard = GuardedStore(flaky, probe_every_s=PROBE_S, silence_s=0.2)
    await guard.ping()
    flaky.down, flaky.slow = True, True
    with pytest.raises(StoreUnavailable):  # this caller gets its 503...
        await guard.get_outcome("ld_1")
    assert guard.up  # ...but the store answered a moment ago: only busy
    flaky.down = False
    await guard.ping()
    await asyncio.sleep(0.25)
    flaky.down = True
    with pytest.raises(StoreUnavailable):
        await guard.get_outcome("ld_1")
    assert not guard.up  # nothing answered for longer than silence_s: hung
    await guard.close()


async def test_a_write_that_timed_out_is_retried_even_if_the_store_stays_up(
    flaky: FlakyStore,
) -> None:
    guard = GuardedStore(flaky, probe_every_s=PROBE_S, silence_s=10)
    flaky.down, flaky.slow = True, True
    await guard.release_eventually(Reservation(SLOT))
    await guard.record(outcome("ld_1"), None, lead_id="ld_1")
    assert guard.up and guard.deferred == 2
    flaky.down = False
    await until(lambda: guard.deferred == 0)
    assert await flaky.get_outcome("ld_1") is not None
    await guard.close()


async def test_healthy_pings_a_store_thought_up(guard: GuardedStore, flaky: FlakyStore) -> None:
    assert await guard.healthy()
    flaky.down = True
    assert not await guard.healthy()  # noticed without any lead
    assert not guard.up
    flaky.down = False
    await until(lambda: guard.up)
    assert await guard.healthy()


async def test_an_outcome_recorded_while_down_reaches_the_store_before_it_is_up(
    guard: GuardedStore, flaky: FlakyStore
) -> None:
    assert await flaky.claim_idempotency(KEY, 60, lead_id="ld_1", lease_s=5) is not None
    flaky.down = True
    await guard.record(outcome("ld_1"), KEY, lead_id="ld_1")  # never raises
    assert guard.deferred == 1 and not guard.up
    flaky.down = False
    seen_when_up: list[Outcome | None] = []

    async def watch() -> None:
        await until(lambda: guard.up)
        seen_when_up.append(await flaky.get_outcome("ld_1"))

    await watch()
    assert seen_when_up[0] is not None and seen_when_up[0].status == "sold"
    assert guard.deferred == 0
    answered = await flaky.claim_idempotency(KEY, 60, lead_id="ld_2", lease_s=5)
    assert isinstance(answered, Done) and answered.outcome.id == "ld_1"


async def test_an_answer_whose_claim_is_gone_is_written_when_the_store_is_back(
    guard: GuardedStore, flaky: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    await flaky.claim_idempotency(KEY, 60, lead_id="ld_1", lease_s=5)
    flaky.down = True
    await guard.record(outcome("ld_1"), KEY, lead_id="ld_1")
    # The store comes back empty (a Redis restarted without persistence): no claim to answer.
    MemoryStore.__init__(flaky, Retention())
    flaky.down = False
    await until(lambda: guard.up)
    answered = await flaky.claim_idempotency(KEY, 60, lead_id="ld_2", lease_s=5)
    assert isinstance(answered, Done) and answered.outcome.id == "ld_1"
    assert "1 deferred write(s) flushed, accepting" in caplog.text
    assert "could not land" not in caplog.text


async def test_an_answer_that_cannot_land_is_logged_so_never_as_flushed(
    guard: GuardedStore, flaky: FlakyStore, caplog: pytest.LogCaptureFixture
) -> None:
    await flaky.claim_idempotency(KEY, 60, lead_id="ld_1", lease_s=5)
    flaky.down = True
    await guard.record(outcome("ld_1"), KEY, lead_id="ld_1")
    # Meanwhile the store lost the record and the key was used again for another lead.
    MemoryStore.__init__(flaky, Retention())
    other = IdempotencyKey(KEY.seller_id, KEY.key, "another-lead")
    assert await MemoryStore.claim_idempotency(flaky, other, 60, lead_id="ld_9", lease_s=5)
    flaky.down = False
    await until(lambda: guard.up)
    assert guard.deferred == 0 and guard.not_landed == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "the answer to ld_1's key could not land: the key now names another lead" in errors[0]
    assert "0 deferred write(s) flushed, 1 could not land" in caplog.text
    assert await flaky.get_outcome("ld_1") is not None  # the outcome itself did land
    # The same, written at once while the store is up: logged, not queued to be tried again.
    await guard.record(outcome("ld_1"), KEY, lead_id="ld_1")
    assert guard.deferred == 0 and guard.not_landed == 2


async def test_releases_and_abandons_wait_for_the_store_too(
    guard: GuardedStore, flaky: FlakyStore
) -> None:
    reservation = await flaky.reserve(SLOT)
    assert isinstance(reservation, Reservation)
    await flaky.claim_idempotency(KEY, 60, lead_id="ld_1", lease_s=5)
    flaky.down = True
    await guard.release_eventually(reservation)
    await guard.abandon_eventually(KEY, lead_id="ld_1")
    assert guard.deferred == 2
    flaky.down = False
    await until(lambda: guard.up)
    assert await flaky.check(SLOT) is None  # the daily slot is free again
    assert await flaky.claim_idempotency(KEY, 60, lead_id="ld_2", lease_s=5) is not None


async def test_writes_beyond_the_bound_are_dropped_and_counted(
    guard: GuardedStore, flaky: FlakyStore
) -> None:
    flaky.down = True
    for n in range(5):
        await guard.record(outcome(f"ld_{n}"), None, lead_id=f"ld_{n}")
    assert (guard.deferred, guard.dropped) == (3, 2)
    flaky.down = False
    await until(lambda: guard.up)
    kept = [await flaky.get_outcome(f"ld_{n}") is not None for n in range(5)]
    assert kept == [True, True, True, False, False]


async def test_a_waiter_fails_fast_while_the_store_is_down(
    guard: GuardedStore, flaky: FlakyStore
) -> None:
    await guard.claim_idempotency(KEY, 60, lead_id="ld_1", lease_s=5)
    second = await guard.claim_idempotency(KEY, 60, lead_id="ld_2", lease_s=5)
    assert isinstance(second, InFlight)
    flaky.down = True
    with pytest.raises(StoreUnavailable):
        await guard.ping()
    assert await fails_fast(lambda: second.wait(5)) < 0.01


async def test_closing_stops_the_probe(flaky: FlakyStore) -> None:
    guarded = GuardedStore(flaky, probe_every_s=PROBE_S)
    flaky.down = True
    with pytest.raises(StoreUnavailable):
        await guarded.ping()
    await guarded.close()
    calls = flaky.calls
    await asyncio.sleep(5 * PROBE_S)
    assert flaky.calls == calls
