"""The Store protocol (pingtree/store/state/base.py) as a contract every store must keep.

The suite speaks only through the protocol's methods and runs unchanged on every store named in
the `store` fixture: memory, SQLite (the memory store written through to a state file), and Redis
(a real redis-server the session starts, see tests/redis_server.py). Time moves through an
injected clock (`clock.advance`); a store that cannot take one must make its fixture's `clock`
move time for it. The last sections are about one store each: that the memory store stays bounded
(Redis is bounded by TTLs instead), what the SQLite store keeps across a restart (a reopen, a
SIGKILLed process) and how it stays bounded on disk, and what only Redis has (key layout, TTLs,
several stores on one server, a dead server).
"""

from __future__ import annotations

import asyncio
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import ResponseError

from pingtree.config import BreakerPolicy, Caps, Retention
from pingtree.core.breaker import CLOSED, BreakerState, admits, after_call
from pingtree.core.errors import StoreUnavailable
from pingtree.core.outcome import Outcome, TraceEvent
from pingtree.core.rules import CapWindows, cap_windows
from pingtree.store.outbox.base import Entry
from pingtree.store.queue.sqlite import SqliteQueue
from pingtree.store.redis_keys import StateKeys
from pingtree.store.sqlite_file import SqliteFile
from pingtree.store.state.base import (
    CapRequest,
    Claimed,
    Conflict,
    Done,
    IdempotencyKey,
    InFlight,
    Refused,
    Reservation,
    Store,
)
from pingtree.store.state.memory import MemoryStore
from pingtree.store.state.redis import RedisStore
from pingtree.store.state.sqlite import SqliteStore
from tests.redis_server import free_port

RETENTION = Retention(outcomes_hours=1, idempotency_days=1, max_leads=100)
DAY_S = 86400.0


class FakeClock:
    def __init__(self, now: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Store]:
    if request.param == "memory":
        made: Store = MemoryStore(RETENTION, clock=clock)
    elif request.param == "sqlite":
        path = request.getfixturevalue("tmp_path") / "state.db"
        made = SqliteStore(path, RETENTION, clock=clock)
    elif request.param == "redis":
        made = RedisStore(request.getfixturevalue("redis_url"), RETENTION, clock=clock)
    else:  # pragma: no cover - a new store adds its branch here
        raise AssertionError(request.param)
    yield made
    await made.close()


def outcome(lead_id: str = "ld_1", status: str = "sold", **fields: object) -> Outcome:
    return Outcome(
        id=lead_id,
        seller_id="acme-media",
        status=status,  # type: ignore[arg-type]
        received_at="2026-01-01T00:00:00.000Z",
        auction_ms=42,
        lead_id="seller-ref-1",
        buyer_id="lawfirm-a" if status == "sold" else None,
        price=Decimal("35.00") if status == "sold" else None,
        payout=Decimal("28.00") if status == "sold" else None,
        trace=(TraceEvent(3, "lawfirm-a", "ping", "bid", bid=Decimal("35.00")),),
        **fields,  # type: ignore[arg-type]
    )


def key(name: str = "k1", fingerprint: str = "fp-a", seller: str = "acme-media") -> IdempotencyKey:
    return IdempotencyKey(seller, name, fingerprint)


HOUR_9 = CapWindows(hour="2026-01-01T09+0000", day="2026-01-01")
HOUR_10 = CapWindows(hour="2026-01-01T10+0000", day="2026-01-01")
NEXT_DAY = CapWindows(hour="2026-01-02T09+0000", day="2026-01-02")


def sale(
    lead_id: str,
    caps: Caps | None = None,
    *,
    buyer: str = "lawfirm-a",
    windows: CapWindows = HOUR_9,
    price: str = "10",
    dedup: tuple[str, ...] = (),
    dedup_ttl_s: float | None = None,
) -> CapRequest:
    return CapRequest(
        buyer_id=buyer,
        lead_id=lead_id,
        caps=caps or Caps(),
        windows=windows,
        price=Decimal(price),
        dedup_keys=dedup,
        dedup_ttl_s=dedup_ttl_s,
    )


async def reserved(store: Store, request: CapRequest) -> Reservation:
    result = await store.reserve(request)
    assert isinstance(result, Reservation), result
    return result


# idempotency -----------------------------------------------------------------------------------


async def test_the_first_claim_owns_the_key(store: Store) -> None:
    assert isinstance(await store.claim_idempotency(key(), DAY_S), Claimed)


async def test_a_second_claim_waits_for_the_first_outcome(store: Store) -> None:
    assert isinstance(await store.claim_idempotency(key(), DAY_S), Claimed)
    second = await store.claim_idempotency(key(), DAY_S)
    assert isinstance(second, InFlight)
    waiting = asyncio.create_task(second.wait(10))
    await asyncio.sleep(0)
    assert not waiting.done()
    first = outcome()
    await store.complete_idempotency(key(), first)
    replayed = await waiting
    assert replayed is not None
    assert (replayed.id, replayed.status, replayed.payout) == ("ld_1", "sold", Decimal("28.00"))


async def test_every_waiter_gets_the_outcome(store: Store) -> None:
    await store.claim_idempotency(key(), DAY_S)
    claims = [await store.claim_idempotency(key(), DAY_S) for _ in range(3)]
    waits = []
    for claim in claims:
        assert isinstance(claim, InFlight)
        waits.append(asyncio.create_task(claim.wait(10)))
    await store.complete_idempotency(key(), outcome())
    assert [o.id if o else None for o in await asyncio.gather(*waits)] == ["ld_1"] * 3


async def test_a_wait_that_times_out_returns_none(store: Store) -> None:
    await store.claim_idempotency(key(), DAY_S)
    second = await store.claim_idempotency(key(), DAY_S)
    assert isinstance(second, InFlight)
    assert await second.wait(0.01) is None


async def test_after_completion_a_claim_is_done_with_the_outcome(store: Store) -> None:
    await store.claim_idempotency(key(), DAY_S)
    await store.complete_idempotency(key(), outcome(status="unsold", reason="no_valid_bid"))
    for _ in range(2):
        claim = await store.claim_idempotency(key(), DAY_S)
        assert isinstance(claim, Done)
        assert (claim.outcome.id, claim.outcome.status) == ("ld_1", "unsold")
        assert claim.outcome.reason == "no_valid_bid"


async def test_the_same_key_with_another_lead_is_a_conflict(store: Store) -> None:
    await store.claim_idempotency(key(fingerprint="fp-a"), DAY_S)
    assert isinstance(await store.claim_idempotency(key(fingerprint="fp-b"), DAY_S), Conflict)
    await store.complete_idempotency(key(fingerprint="fp-a"), outcome())
    assert isinstance(await store.claim_idempotency(key(fingerprint="fp-b"), DAY_S), Conflict)
    assert isinstance(await store.claim_idempotency(key(fingerprint="fp-a"), DAY_S), Done)


async def test_keys_are_scoped_to_their_seller(store: Store) -> None:
    await store.claim_idempotency(key(seller="acme-media"), DAY_S)
    claim = await store.claim_idempotency(key(seller="other-media", fingerprint="fp-z"), DAY_S)
    assert isinstance(claim, Claimed)
    assert isinstance(await store.claim_idempotency(key("k2"), DAY_S), Claimed)


async def test_abandon_wakes_waiters_with_none_and_frees_the_key(store: Store) -> None:
    await store.claim_idempotency(key(), DAY_S)
    second = await store.claim_idempotency(key(), DAY_S)
    assert isinstance(second, InFlight)
    waiting = asyncio.create_task(second.wait(10))
    await asyncio.sleep(0)
    await store.abandon_idempotency(key())
    assert await waiting is None
    # A resend may run the auction now, even with a different body.
    assert isinstance(await store.claim_idempotency(key(fingerprint="fp-b"), DAY_S), Claimed)


async def test_an_idempotency_record_expires_after_its_ttl(store: Store, clock: FakeClock) -> None:
    await store.claim_idempotency(key(), 60)
    await store.complete_idempotency(key(), outcome())
    clock.advance(59)
    assert isinstance(await store.claim_idempotency(key(), 60), Done)
    clock.advance(2)
    assert isinstance(await store.claim_idempotency(key(fingerprint="fp-b"), 60), Claimed)


# leases and takeovers --------------------------------------------------------------------------
# A claim names its auction and holds the key for a lease; a claim after the lease ran out without
# an answer takes the key over and learns who held it (base.py's docstring tells the whole story).

LEASE_S = 5.0


async def claim(store: Store, lead_id: str, lease_s: float = LEASE_S, **kw: str) -> object:
    return await store.claim_idempotency(key(**kw), DAY_S, lead_id=lead_id, lease_s=lease_s)


async def answer_of(store: Store) -> Outcome | None:
    """The key's answer as a resend would find it, or None if it has none yet."""
    found = await store.claim_idempotency(key(), DAY_S, lead_id="ld_reader", lease_s=LEASE_S)
    assert not isinstance(found, Claimed), "the key was free or taken over"
    return found.outcome if isinstance(found, Done) else None


async def test_a_claim_within_the_lease_is_in_flight(store: Store, clock: FakeClock) -> None:
    assert await claim(store, "ld_a") == Claimed()
    clock.advance(LEASE_S - 0.5)
    assert isinstance(await claim(store, "ld_b"), InFlight)


async def test_the_same_auction_claiming_again_still_owns_the_key(store: Store) -> None:
    assert await claim(store, "ld_a") == Claimed()
    assert await claim(store, "ld_a") == Claimed()


async def test_a_claim_after_the_lease_takes_over_and_names_the_previous_auction(
    store: Store, clock: FakeClock
) -> None:
    await claim(store, "ld_a")
    clock.advance(LEASE_S)
    taken = await claim(store, "ld_b")
    assert taken == Claimed(previous_lead_ids=("ld_a",)) and isinstance(taken, Claimed)
    assert taken.takeover
    # The new owner has a fresh lease of its own.
    clock.advance(LEASE_S - 0.5)
    assert isinstance(await claim(store, "ld_c"), InFlight)


async def test_every_auction_that_held_the_key_is_named(store: Store, clock: FakeClock) -> None:
    await claim(store, "ld_a")
    clock.advance(LEASE_S)
    await claim(store, "ld_b")  # died too, before it could even read ld_a's journal
    clock.advance(LEASE_S)
    assert await claim(store, "ld_c") == Claimed(previous_lead_ids=("ld_a", "ld_b"))


async def test_a_takeover_still_checks_the_fingerprint(store: Store, clock: FakeClock) -> None:
    await claim(store, "ld_a")
    clock.advance(LEASE_S)
    assert await claim(store, "ld_b", fingerprint="fp-b") == Conflict()


async def test_an_answered_key_is_never_taken_over(store: Store, clock: FakeClock) -> None:
    await claim(store, "ld_a")
    await store.complete_idempotency(key(), outcome("ld_a"), lead_id="ld_a")
    clock.advance(10 * LEASE_S)
    done = await claim(store, "ld_b")
    assert isinstance(done, Done) and done.outcome.id == "ld_a"


async def test_a_lease_never_outlives_the_record(store: Store, clock: FakeClock) -> None:
    await store.claim_idempotency(key(), 60, lead_id="ld_a", lease_s=3600)
    clock.advance(61)
    assert await store.claim_idempotency(key(), 60, lead_id="ld_b", lease_s=5) == Claimed()


async def test_a_claim_without_a_lease_holds_the_key_for_its_ttl(
    store: Store, clock: FakeClock
) -> None:
    await store.claim_idempotency(key(), 60)
    clock.advance(59)
    assert isinstance(await claim(store, "ld_b"), InFlight)


async def test_waiters_on_a_taken_over_claim_are_told_it_is_gone(
    store: Store, clock: FakeClock
) -> None:
    await claim(store, "ld_a")
    waiting = await claim(store, "ld_w")
    assert isinstance(waiting, InFlight)
    wait = asyncio.create_task(waiting.wait(5))
    await asyncio.sleep(0.01)
    clock.advance(LEASE_S)
    assert (await claim(store, "ld_b")).takeover  # type: ignore[attr-defined]
    async with asyncio.timeout(2):
        assert await wait is None


async def test_only_the_owner_answers_the_key(store: Store, clock: FakeClock) -> None:
    await claim(store, "ld_a")
    clock.advance(LEASE_S)
    await claim(store, "ld_b")
    # ld_a was only stalled: it finishes without a post (its journal was sealed) and answers.
    await store.complete_idempotency(key(), outcome("ld_a", "unsold"), lead_id="ld_a")
    assert await answer_of(store) is None
    await store.complete_idempotency(key(), outcome("ld_b"), lead_id="ld_b")
    answered = await answer_of(store)
    assert answered is not None and (answered.id, answered.status) == ("ld_b", "sold")
    # The first answer is the answer.
    await store.complete_idempotency(key(), outcome("ld_b", "unsold"), lead_id="ld_b")
    assert (await answer_of(store)).status == "sold"  # type: ignore[union-attr]


async def test_a_verdict_gives_way_to_the_answer_of_the_auction_it_was_about(
    store: Store, clock: FakeClock
) -> None:
    await claim(store, "ld_a")
    clock.advance(LEASE_S)
    await claim(store, "ld_b")
    # ld_b found a post in ld_a's journal: ld_a is pending, and that is the key's answer...
    verdict = outcome("ld_a", "pending", reason="router_died")
    await store.complete_idempotency(key(), verdict, lead_id="ld_b")
    assert (await answer_of(store)).status == "pending"  # type: ignore[union-attr]
    # ...until ld_a, slow but alive, learns its post was taken and says so.
    await store.complete_idempotency(key(), outcome("ld_a", "sold"), lead_id="ld_a")
    answered = await answer_of(store)
    assert answered is not None and (answered.id, answered.status) == ("ld_a", "sold")
    # An answer that is no verdict is not replaced, by anyone.
    await store.complete_idempotency(key(), verdict, lead_id="ld_b")
    await store.complete_idempotency(key(), outcome("ld_a", "unsold"), lead_id="ld_a")
    assert (await answer_of(store)).status == "sold"  # type: ignore[union-attr]


async def test_only_a_verdicts_own_auction_replaces_it(store: Store, clock: FakeClock) -> None:
    await claim(store, "ld_a")
    clock.advance(LEASE_S)
    await claim(store, "ld_b")
    await store.complete_idempotency(key(), outcome("ld_a", "pending"), lead_id="ld_b")
    await store.complete_idempotency(key(), outcome("ld_x", "sold"), lead_id="ld_x")
    await store.complete_idempotency(key(), outcome("ld_b", "sold"), lead_id="ld_b")
    assert (await answer_of(store)).status == "pending"  # type: ignore[union-attr]


# an answer outlives its claim (base.py): a store that lost a key's record (a Redis restarted
# empty, a record expired) must not let a resend run the lead's auction a second time ------------


async def lost_claim(store: Store, clock: FakeClock, lead_id: str = "ld_a") -> None:
    """`lead_id` claims the key, then the record is lost (it expires: what every store can do; a
    Redis restarted empty loses it the same way, tests/e2e/test_redis_outage.py)."""
    await store.claim_idempotency(key(), 60, lead_id=lead_id, lease_s=LEASE_S)
    clock.advance(61)


async def test_an_answer_whose_claim_is_gone_makes_the_record_again(
    store: Store, clock: FakeClock
) -> None:
    await lost_claim(store, clock)
    assert await store.complete_idempotency(key(), outcome("ld_a"), lead_id="ld_a") == "answered"
    answered = await answer_of(store)
    assert answered is not None and (answered.id, answered.status) == ("ld_a", "sold")
    assert await claim(store, "ld_b", fingerprint="fp-b") == Conflict()
    # Kept for the retention's idempotency_days, as a claim is.
    clock.advance(RETENTION.idempotency_days * DAY_S - 1)
    assert isinstance(await claim(store, "ld_b"), Done)
    clock.advance(2)
    assert await claim(store, "ld_b") == Claimed()


async def test_an_answer_lands_on_a_claim_made_without_knowing_of_it(
    store: Store, clock: FakeClock
) -> None:
    await lost_claim(store, clock)
    assert await claim(store, "ld_c") == Claimed()  # a resend, before the answer came back
    waiting = await claim(store, "ld_w")
    assert isinstance(waiting, InFlight)
    wait = asyncio.create_task(waiting.wait(5))
    await asyncio.sleep(0.01)
    # ld_a ran first: its answer is the key's; whoever waits on ld_c gets it.
    assert await store.complete_idempotency(key(), outcome("ld_a"), lead_id="ld_a") == "answered"
    async with asyncio.timeout(2):
        replayed = await wait
    assert replayed is not None and replayed.id == "ld_a"
    second = outcome("ld_c", "unsold")
    assert await store.complete_idempotency(key(), second, lead_id="ld_c") == "taken"
    assert (await answer_of(store)).id == "ld_a"  # type: ignore[union-attr]


async def test_an_answer_never_overwrites_another_auctions_answer(
    store: Store, clock: FakeClock
) -> None:
    await lost_claim(store, clock)
    await claim(store, "ld_c")
    assert await store.complete_idempotency(key(), outcome("ld_c"), lead_id="ld_c") == "answered"
    late = outcome("ld_a", "unsold")
    assert await store.complete_idempotency(key(), late, lead_id="ld_a") == "taken"
    assert (await answer_of(store)).id == "ld_c"  # type: ignore[union-attr]


async def test_an_answer_never_lands_on_a_key_of_another_lead(
    store: Store, clock: FakeClock
) -> None:
    await lost_claim(store, clock)
    await claim(store, "ld_c", fingerprint="fp-b")
    assert await store.complete_idempotency(key(), outcome("ld_a"), lead_id="ld_a") == "conflict"
    assert isinstance(await claim(store, "ld_d", fingerprint="fp-b"), InFlight)
    assert await claim(store, "ld_d") == Conflict()


async def test_an_answer_after_a_takeover_that_knew_of_it_is_superseded(
    store: Store, clock: FakeClock
) -> None:
    await claim(store, "ld_a")
    clock.advance(LEASE_S)
    assert await claim(store, "ld_b") == Claimed(("ld_a",))
    late = outcome("ld_a", "unsold")
    assert await store.complete_idempotency(key(), late, lead_id="ld_a") == "superseded"
    assert await store.complete_idempotency(key(), outcome("ld_b"), lead_id="ld_b") == "answered"
    assert await store.complete_idempotency(key(), late, lead_id="ld_a") == "superseded"
    # Answering again with the answer the key holds is a retry that landed.
    assert await store.complete_idempotency(key(), outcome("ld_b"), lead_id="ld_b") == "answered"


async def test_a_claim_in_flight_says_how_long_its_lease_runs(
    store: Store, clock: FakeClock
) -> None:
    await claim(store, "ld_a")
    clock.advance(1.5)
    waiting = await claim(store, "ld_b")
    assert isinstance(waiting, InFlight) and waiting.lease_left_s is not None
    assert waiting.lease_left_s == pytest.approx(LEASE_S - 1.5, abs=0.002)


async def test_only_the_owner_abandons_the_key(store: Store, clock: FakeClock) -> None:
    await claim(store, "ld_a")
    clock.advance(LEASE_S)
    await claim(store, "ld_b")
    await store.abandon_idempotency(key(), lead_id="ld_a")
    assert isinstance(await claim(store, "ld_c"), InFlight)
    await store.abandon_idempotency(key(), lead_id="ld_b")
    assert await claim(store, "ld_c") == Claimed()  # free again: no takeover, nobody to ask


async def test_an_answered_key_is_not_abandoned_by_its_owner(store: Store) -> None:
    await claim(store, "ld_a")
    await store.complete_idempotency(key(), outcome("ld_a"), lead_id="ld_a")
    await store.abandon_idempotency(key(), lead_id="ld_a")
    assert isinstance(await claim(store, "ld_b"), Done)


async def test_a_sealed_journal_takes_no_more_posts(store: Store) -> None:
    assert await store.journal_post("ld_1", "lawfirm-a") is True
    assert await store.seal_journal("ld_1") == ("lawfirm-a",)
    assert await store.journal_post("ld_1", "lawfirm-b") is False
    assert await store.journal("ld_1") == ("lawfirm-a",)
    assert await store.seal_journal("ld_1") == ("lawfirm-a",)  # sealing twice changes nothing
    # An empty journal sealed: the lead never posted, and now it never will.
    assert await store.seal_journal("ld_2") == ()
    assert await store.journal_post("ld_2", "lawfirm-a") is False
    assert await store.journal("ld_2") == ()
    assert await store.journal_post("ld_3", "lawfirm-a") is True


async def test_a_seal_lasts_as_long_as_the_journal(store: Store, clock: FakeClock) -> None:
    await store.journal_post("ld_1", "lawfirm-a")
    await store.seal_journal("ld_1")
    clock.advance(RETENTION.outcomes_hours * 3600 - 1)
    assert await store.journal_post("ld_1", "lawfirm-b") is False
    clock.advance(2)
    assert await store.journal("ld_1") == ()


# caps --------------------------------------------------------------------------------------------


async def test_no_caps_never_refuse(store: Store) -> None:
    for n in range(20):
        await reserved(store, sale(f"ld_{n}"))
    assert await store.check(sale("ld_x")) is None


async def test_the_hourly_cap(store: Store) -> None:
    caps = Caps(hourly=2)
    assert await store.check(sale("ld_1", caps)) is None
    first = await reserved(store, sale("ld_1", caps))
    await reserved(store, sale("ld_2", caps))
    assert await store.check(sale("ld_3", caps)) == Refused("cap:hourly")
    assert await store.reserve(sale("ld_3", caps)) == Refused("cap:hourly")
    # The next hour has room again.
    assert await store.check(sale("ld_3", caps, windows=HOUR_10)) is None
    # A failed post frees its slot.
    await store.release(first)
    assert await store.check(sale("ld_3", caps)) is None
    await reserved(store, sale("ld_3", caps))
    assert await store.reserve(sale("ld_4", caps)) == Refused("cap:hourly")


async def test_the_daily_cap_counts_every_hour_of_the_day(store: Store) -> None:
    caps = Caps(daily=2)
    await reserved(store, sale("ld_1", caps, windows=HOUR_9))
    await reserved(store, sale("ld_2", caps, windows=HOUR_10))
    assert await store.check(sale("ld_3", caps, windows=HOUR_10)) == Refused("cap:daily")
    assert await store.reserve(sale("ld_3", caps, windows=HOUR_9)) == Refused("cap:daily")
    assert await store.check(sale("ld_3", caps, windows=NEXT_DAY)) is None
    await reserved(store, sale("ld_3", caps, windows=NEXT_DAY))


async def test_the_daily_budget(store: Store) -> None:
    caps = Caps(daily_budget=Decimal("25"))
    await reserved(store, sale("ld_1", caps, price="10"))
    await reserved(store, sale("ld_2", caps, price="10"))
    # 20 spent: a 10 sale would pass the budget, a 5 sale fits it exactly.
    assert await store.check(sale("ld_3", caps, price="10")) is None
    assert await store.reserve(sale("ld_3", caps, price="10")) == Refused("cap:budget")
    last = await reserved(store, sale("ld_3", caps, price="5"))
    assert await store.check(sale("ld_4", caps)) == Refused("cap:budget")
    assert await store.reserve(sale("ld_4", caps, price="0.01")) == Refused("cap:budget")
    await store.release(last)
    assert await store.check(sale("ld_4", caps)) is None
    assert await store.check(sale("ld_4", caps, windows=NEXT_DAY)) is None


async def test_the_budget_counts_cents_exactly(store: Store) -> None:
    caps = Caps(daily_budget=Decimal("0.30"))
    for n in range(3):  # in floats, 0.1 + 0.1 + 0.1 > 0.3
        await reserved(store, sale(f"ld_{n}", caps, price="0.10"))
    assert await store.reserve(sale("ld_3", caps, price="0.01")) == Refused("cap:budget")


async def test_a_confirmed_sale_keeps_counting(store: Store) -> None:
    caps = Caps(hourly=1)
    reservation = await reserved(store, sale("ld_1", caps))
    await store.confirm(reservation)
    assert await store.check(sale("ld_2", caps)) == Refused("cap:hourly")
    assert await store.reserve(sale("ld_2", caps)) == Refused("cap:hourly")


async def test_releasing_twice_frees_one_slot_only(store: Store) -> None:
    caps = Caps(hourly=2)
    first = await reserved(store, sale("ld_1", caps))
    await reserved(store, sale("ld_2", caps))
    await store.release(first)
    await store.release(first)
    await reserved(store, sale("ld_3", caps))
    assert await store.reserve(sale("ld_4", caps)) == Refused("cap:hourly")


async def test_a_confirmed_sale_cannot_be_released(store: Store) -> None:
    caps = Caps(daily=1)
    reservation = await reserved(store, sale("ld_1", caps))
    await store.confirm(reservation)
    await store.release(reservation)
    assert await store.reserve(sale("ld_2", caps)) == Refused("cap:daily")


async def test_caps_are_per_buyer(store: Store) -> None:
    caps = Caps(hourly=1, daily=1, daily_budget=Decimal("10"))
    await reserved(store, sale("ld_1", caps, buyer="lawfirm-a"))
    assert await store.check(sale("ld_2", caps, buyer="lawfirm-a")) is not None
    assert await store.check(sale("ld_2", caps, buyer="lawfirm-b")) is None
    await reserved(store, sale("ld_2", caps, buyer="lawfirm-b"))


async def test_a_cap_of_zero_refuses_everything(store: Store) -> None:
    assert await store.check(sale("ld_1", Caps(daily=0))) == Refused("cap:daily")
    assert await store.reserve(sale("ld_1", Caps(hourly=0))) == Refused("cap:hourly")


async def test_concurrent_reservations_never_pass_the_cap(store: Store) -> None:
    caps = Caps(hourly=3)
    results = await asyncio.gather(*(store.reserve(sale(f"ld_{n}", caps)) for n in range(10)))
    assert sum(isinstance(r, Reservation) for r in results) == 3
    assert all(r == Refused("cap:hourly") for r in results if not isinstance(r, Reservation))


# dedup -----------------------------------------------------------------------------------------

PHONE, EMAIL = "h-phone-1", "h-email-1"


async def test_a_sold_consumer_is_refused_to_the_same_buyer(store: Store) -> None:
    await reserved(store, sale("ld_1", dedup=(PHONE, EMAIL), dedup_ttl_s=DAY_S))
    again = sale("ld_2", dedup=(PHONE, EMAIL), dedup_ttl_s=DAY_S)
    assert await store.check(again) == Refused("dedup")
    assert await store.reserve(again) == Refused("dedup")


@pytest.mark.parametrize("shared", [(PHONE,), (EMAIL,), ("h-phone-2", EMAIL)])
async def test_one_shared_key_is_enough_to_refuse(store: Store, shared: tuple[str, ...]) -> None:
    await reserved(store, sale("ld_1", dedup=(PHONE, EMAIL), dedup_ttl_s=DAY_S))
    assert await store.reserve(sale("ld_2", dedup=shared, dedup_ttl_s=DAY_S)) == Refused("dedup")


async def test_dedup_is_per_buyer(store: Store) -> None:
    await reserved(store, sale("ld_1", dedup=(PHONE,), dedup_ttl_s=DAY_S))
    await reserved(store, sale("ld_2", buyer="lawfirm-b", dedup=(PHONE,), dedup_ttl_s=DAY_S))
    assert await store.check(sale("ld_3", dedup=("h-phone-9",), dedup_ttl_s=DAY_S)) is None


async def test_a_released_claim_frees_the_consumer(store: Store) -> None:
    first = await reserved(store, sale("ld_1", dedup=(PHONE, EMAIL), dedup_ttl_s=DAY_S))
    await store.release(first)
    again = sale("ld_2", dedup=(PHONE, EMAIL), dedup_ttl_s=DAY_S)
    assert await store.check(again) is None
    await reserved(store, again)
    assert await store.reserve(sale("ld_3", dedup=(PHONE,), dedup_ttl_s=DAY_S)) == Refused("dedup")


async def test_a_dedup_claim_expires_after_its_ttl(store: Store, clock: FakeClock) -> None:
    await reserved(store, sale("ld_1", dedup=(PHONE,), dedup_ttl_s=30 * DAY_S))
    clock.advance(30 * DAY_S - 60)
    assert await store.check(sale("ld_2", dedup=(PHONE,), dedup_ttl_s=30 * DAY_S)) == Refused(
        "dedup"
    )
    clock.advance(120)
    await reserved(store, sale("ld_2", dedup=(PHONE,), dedup_ttl_s=30 * DAY_S))


async def test_caps_and_dedup_are_reserved_together(store: Store) -> None:
    caps = Caps(hourly=1)
    await reserved(store, sale("ld_1", caps, dedup=(PHONE,), dedup_ttl_s=DAY_S))
    # Refused by the cap: its dedup claim must not be taken either.
    assert await store.reserve(sale("ld_2", caps, dedup=("h-phone-2",), dedup_ttl_s=DAY_S)) == (
        Refused("cap:hourly")
    )
    other_buyer_no_cap = sale("ld_3", dedup=("h-phone-2",), dedup_ttl_s=DAY_S)
    assert await store.check(other_buyer_no_cap) is None
    # Refused by dedup: no cap slot is spent.
    roomy = Caps(hourly=2)
    assert await store.reserve(sale("ld_4", roomy, dedup=(PHONE,), dedup_ttl_s=DAY_S)) == Refused(
        "dedup"
    )
    await reserved(store, sale("ld_5", roomy))


async def test_concurrent_leads_of_one_consumer_sell_once(store: Store) -> None:
    requests = [sale(f"ld_{n}", dedup=(PHONE,), dedup_ttl_s=DAY_S) for n in range(5)]
    results = await asyncio.gather(*(store.reserve(r) for r in requests))
    assert sum(isinstance(r, Reservation) for r in results) == 1


# journal and outcomes --------------------------------------------------------------------------


async def test_the_journal_lists_posts_in_order(store: Store) -> None:
    assert await store.journal("ld_1") == ()
    await store.journal_post("ld_1", "lawfirm-a")
    await store.journal_post("ld_1", "lawfirm-b")
    await store.journal_post("ld_2", "lawfirm-c")
    assert await store.journal("ld_1") == ("lawfirm-a", "lawfirm-b")
    assert await store.journal("ld_2") == ("lawfirm-c",)


async def test_an_outcome_is_kept_with_its_trace(store: Store) -> None:
    assert await store.get_outcome("ld_1") is None
    recorded = outcome("ld_1")
    await store.record_outcome(recorded)
    assert await store.get_outcome("ld_1") == recorded
    assert await store.get_outcome("ld_2") is None


async def test_recording_again_replaces_the_outcome(store: Store) -> None:
    await store.record_outcome(outcome("ld_1", status="pending", reason="post_unknown"))
    await store.record_outcome(outcome("ld_1"))
    kept = await store.get_outcome("ld_1")
    assert kept is not None and kept.status == "sold"


async def test_outcomes_expire_after_the_retention(store: Store, clock: FakeClock) -> None:
    await store.record_outcome(outcome("ld_1"))
    clock.advance(RETENTION.outcomes_hours * 3600 - 1)
    assert await store.get_outcome("ld_1") is not None
    clock.advance(2)
    assert await store.get_outcome("ld_1") is None


async def test_a_record_put_with_its_outcome_is_in_the_stores_outbox(store: Store) -> None:
    record = Entry("lead", "ld_1", b'{"the": "record"}')
    await store.record_outcome(outcome("ld_1"), [record])
    await store.record_outcome(outcome("ld_2"))  # no ledger: nothing put
    taken = await store.outbox().take(100, 10.0, "writer")
    assert [item.entry for item in taken if item.entry.id in ("ld_1", "ld_2")] == [record]
    assert await store.get_outcome("ld_1") == outcome("ld_1")
    assert store.outbox() is store.outbox()


async def test_on_the_state_file_a_record_and_its_outcome_land_together_or_not_at_all(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path, RETENTION, clock=clock)
    record = Entry("lead", "ld_1", b"{}")
    await store.record_outcome(outcome("ld_1"), [record])
    store.file.write_now(lambda db: db.execute("DROP TABLE ledger_outbox"))  # the put will fail
    with pytest.raises(StoreUnavailable):
        await store.record_outcome(outcome("ld_2"), [Entry("lead", "ld_2", b"{}")])
    await store.close()

    reopened = SqliteStore(path, RETENTION, clock=clock)
    try:
        assert await reopened.get_outcome("ld_1") is not None
        assert await reopened.get_outcome("ld_2") is None  # its transaction rolled back whole
    finally:
        await reopened.close()


# circuit breaker -------------------------------------------------------------------------------

POLICY = BreakerPolicy(window=4, min_calls=4, failure_ratio=0.5, cooldown_s=30)


async def trip(store: Store, buyer: str = "lawfirm-a") -> None:
    for _ in range(POLICY.min_calls):
        await store.breaker_record(buyer, False, POLICY)


async def test_a_new_buyer_is_admitted(store: Store) -> None:
    assert await store.breaker_admit("lawfirm-a", POLICY) is True


async def test_mostly_failing_calls_open_the_breaker(store: Store) -> None:
    await store.breaker_record("lawfirm-a", True, POLICY)
    await store.breaker_record("lawfirm-a", True, POLICY)
    await store.breaker_record("lawfirm-a", False, POLICY)
    assert await store.breaker_admit("lawfirm-a", POLICY) is True
    await store.breaker_record("lawfirm-a", False, POLICY)  # 2 of 4 failed: ratio 0.5
    assert await store.breaker_admit("lawfirm-a", POLICY) is False
    assert await store.breaker_admit("lawfirm-b", POLICY) is True


async def test_too_few_calls_do_not_open_the_breaker(store: Store) -> None:
    for _ in range(POLICY.min_calls - 1):
        await store.breaker_record("lawfirm-a", False, POLICY)
    assert await store.breaker_admit("lawfirm-a", POLICY) is True


async def test_after_the_cooldown_one_probe_closes_it(store: Store, clock: FakeClock) -> None:
    await trip(store)
    clock.advance(POLICY.cooldown_s - 1)
    assert await store.breaker_admit("lawfirm-a", POLICY) is False
    clock.advance(2)
    assert await store.breaker_admit("lawfirm-a", POLICY) is True  # the probe
    assert await store.breaker_admit("lawfirm-a", POLICY) is False  # one probe at a time
    await store.breaker_record("lawfirm-a", True, POLICY)
    assert await store.breaker_admit("lawfirm-a", POLICY) is True
    assert await store.breaker_admit("lawfirm-a", POLICY) is True


async def test_a_failed_probe_keeps_it_open(store: Store, clock: FakeClock) -> None:
    await trip(store)
    clock.advance(POLICY.cooldown_s + 1)
    assert await store.breaker_admit("lawfirm-a", POLICY) is True
    await store.breaker_record("lawfirm-a", False, POLICY)
    assert await store.breaker_admit("lawfirm-a", POLICY) is False
    clock.advance(POLICY.cooldown_s + 1)
    assert await store.breaker_admit("lawfirm-a", POLICY) is True


async def test_a_closed_breaker_starts_with_a_clean_window(store: Store, clock: FakeClock) -> None:
    await trip(store)
    clock.advance(POLICY.cooldown_s + 1)
    await store.breaker_admit("lawfirm-a", POLICY)
    await store.breaker_record("lawfirm-a", True, POLICY)
    await store.breaker_record("lawfirm-a", False, POLICY)
    assert await store.breaker_admit("lawfirm-a", POLICY) is True


# the memory store stays bounded ----------------------------------------------------------------
# Memory only: it caps its entries by count (Retention.max_leads). Redis is bounded by TTLs and the
# operator's maxmemory instead (test_every_key_has_the_prefix_a_hash_tag_and_a_ttl).


async def test_the_memory_store_keeps_at_most_max_leads(clock: FakeClock) -> None:
    memory = MemoryStore(RETENTION, clock=clock)
    total = 5 * RETENTION.max_leads
    for n in range(total):
        await memory.record_outcome(outcome(f"ld_{n:04d}"))
        await memory.journal_post(f"ld_{n:04d}", "lawfirm-a")
        await memory.claim_idempotency(key(f"k{n}"), DAY_S)
        clock.advance(0.001)
        sizes = memory.sizes()
        assert sizes["outcomes"] <= RETENTION.max_leads
        assert sizes["journal"] <= RETENTION.max_leads
    assert await memory.get_outcome(f"ld_{total - 1:04d}") is not None  # the newest are kept
    assert await memory.get_outcome("ld_0000") is None  # the oldest were evicted
    assert memory.sizes()["idempotency"] <= 10 * RETENTION.max_leads


async def test_the_memory_store_forgets_what_expired(clock: FakeClock) -> None:
    memory = MemoryStore(RETENTION, clock=clock)
    for n in range(50):
        await memory.record_outcome(outcome(f"ld_{n}"))
        await memory.reserve(sale(f"ld_{n}", Caps(hourly=1000), dedup=(f"h{n}",), dedup_ttl_s=60))
    clock.advance(3 * DAY_S)
    await memory.record_outcome(outcome("ld_new"))
    await memory.reserve(sale("ld_new", Caps(hourly=1000), dedup=("h-new",), dedup_ttl_s=60))
    sizes = memory.sizes()
    assert sizes["outcomes"] == 1
    assert sizes["dedup"] == 1
    assert sizes["held"] == 1  # 50 reservations never released nor confirmed, gone after a day
    assert sizes["usage"] == 2  # the new hour and the new day


# the SQLite store: what a restart keeps -------------------------------------------------------
# SQLite only: the memory store written through to the state file. What a call changed is on disk
# when it returns, and a store opened on the file reads it back: caps, dedup, idempotency (leases
# and answers), journals and seals, outcomes. Breakers are not kept (they restart closed).


def open_sqlite(path: Path, clock: FakeClock, retention: Retention = RETENTION) -> SqliteStore:
    return SqliteStore(path, retention, clock=clock)


async def test_everything_a_lead_depends_on_survives_a_reopen(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "state.db"
    first = open_sqlite(path, clock)
    caps = Caps(hourly=2, daily_budget=Decimal("25"))
    await write_everything(first)  # k1 claimed, k2 answered, ld_1 sold, sealed, recorded
    await claim(first, "ld_a", name="k3")  # an auction under way...
    await first.journal_post("ld_a", "lawfirm-c")  # ...that had posted
    await reserved(first, sale("ld_3", caps, buyer="lawfirm-z", price="10"))
    await first.close()

    clock.advance(LEASE_S)
    store = open_sqlite(path, clock)
    # Idempotency: an answer is an answer; a claim without a lease holds its key; a lease that
    # ran out is taken over, naming its auction, whose journal says it posted.
    done = await store.claim_idempotency(key("k2"), DAY_S)
    assert isinstance(done, Done) and done.outcome.id == "ld_2"
    assert isinstance(await store.claim_idempotency(key("k1"), DAY_S), InFlight)
    taken = await claim(store, "ld_b", name="k3")
    assert taken == Claimed(previous_lead_ids=("ld_a",))
    assert await store.seal_journal("ld_a") == ("lawfirm-c",)
    # Caps count what was sold before, spend to the cent; dedup still refuses the consumer.
    z = "lawfirm-z"
    assert await store.reserve(sale("ld_4", caps, buyer=z, price="15.01")) == Refused("cap:budget")
    await reserved(store, sale("ld_4", caps, buyer=z, price="15"))
    assert await store.reserve(sale("ld_5", caps, buyer=z, price="0")) == Refused("cap:hourly")
    again = sale("ld_6", dedup=(PHONE,), dedup_ttl_s=DAY_S)
    assert await store.reserve(again) == Refused("dedup")
    assert await store.check(sale("ld_6", dedup=("h-other",), dedup_ttl_s=DAY_S)) is None
    # The journal and its seal, the outcome with its trace.
    assert await store.journal_post("ld_1", "lawfirm-b") is False
    assert await store.journal("ld_1") == ("lawfirm-a",)
    assert await store.get_outcome("ld_1") == outcome("ld_1")
    # The breaker is not kept: it starts closed.
    assert await store.breaker_admit("lawfirm-a", POLICY) is True
    await store.close()


async def test_a_release_and_an_abandon_are_kept_too(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "state.db"
    first = open_sqlite(path, clock)
    caps = Caps(hourly=1)
    taken = await reserved(first, sale("ld_1", caps, dedup=(PHONE,), dedup_ttl_s=DAY_S))
    await first.release(taken)  # the post was refused
    await claim(first, "ld_1")
    await first.abandon_idempotency(key(), lead_id="ld_1")  # the auction died before a post
    await first.close()

    store = open_sqlite(path, clock)
    await reserved(store, sale("ld_2", caps, dedup=(PHONE,), dedup_ttl_s=DAY_S))
    assert await claim(store, "ld_2") == Claimed()  # free: nobody to take over from
    await store.close()


async def test_what_expired_is_not_read_back(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "state.db"
    first = open_sqlite(path, clock)
    await write_everything(first)
    await first.close()

    clock.advance(3 * DAY_S)
    store = open_sqlite(path, clock)
    assert store.sizes() == dict.fromkeys(store.sizes(), 0)
    assert await store.get_outcome("ld_1") is None
    assert isinstance(await store.claim_idempotency(key("k2", "fp-new"), DAY_S), Claimed)
    await store.close()


async def test_the_file_is_purged_and_trimmed_as_memory_is(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = SqliteStore(tmp_path / "state.db", RETENTION, clock=clock, purge_every_s=10)
    total = 3 * RETENTION.max_leads
    for n in range(total):
        await store.record_outcome(outcome(f"ld_{n:04d}"))
        await store.journal_post(f"ld_{n:04d}", "lawfirm-a")
        await store.reserve(sale(f"ld_{n:04d}", dedup=(f"h{n}",), dedup_ttl_s=60))
        clock.advance(0.1)
    clock.advance(120)  # every dedup claim has run out
    await store.record_outcome(outcome("ld_last"))  # the write the purge rides along with
    rows = await store.file.read(
        lambda db: {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("store_outcomes", "store_journal", "store_dedup")
        }
    )
    assert rows == {
        "store_outcomes": RETENTION.max_leads,
        "store_journal": RETENTION.max_leads,
        "store_dedup": 0,
    }
    await store.close()
    reopened = open_sqlite(tmp_path / "state.db", clock)
    assert reopened.sizes()["outcomes"] == RETENTION.max_leads
    assert await reopened.get_outcome("ld_last") is not None
    assert await reopened.get_outcome(f"ld_{total - 1:04d}") is not None
    assert await reopened.get_outcome("ld_0000") is None
    await reopened.close()


# Writes in a process that is then killed (SIGKILL: no close, no atexit), on the real clock.
_CRASHING = """
import asyncio, sys
from decimal import Decimal
from pingtree.config import Caps
from pingtree.core.rules import CapWindows
from pingtree.store.state.base import CapRequest, IdempotencyKey
from pingtree.store.state.sqlite import SqliteStore

async def main():
    store = SqliteStore(sys.argv[1])
    windows = CapWindows(hour=sys.argv[2], day=sys.argv[3])
    for n in range(3):
        key = IdempotencyKey("acme-media", f"lead_id:{n}", "fp")
        await store.claim_idempotency(key, 86400, lead_id=f"ld_{n}", lease_s=0.5)
        request = CapRequest("capped", f"ld_{n}", Caps(daily=3), windows, Decimal(10),
                             (f"phone-{n}",), 86400)
        await store.reserve(request)
        await store.journal_post(f"ld_{n}", "capped")
    print("written", flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""
REPO = Path(__file__).resolve().parents[2]


def run_and_kill(path: Path, windows: CapWindows) -> None:
    command = [sys.executable, "-c", _CRASHING, str(path), windows.hour, windows.day]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"written\n"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


async def test_a_killed_process_loses_nothing_it_was_told_was_written(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    windows = cap_windows(datetime.now(UTC), "UTC")
    await asyncio.to_thread(run_and_kill, path, windows)
    assert (tmp_path / "state.db-wal").exists()  # not checkpointed: nobody closed it
    await asyncio.sleep(0.6)  # the dead auctions' leases run out
    store = SqliteStore(path)
    request = CapRequest("capped", "ld_9", Caps(daily=3), windows, Decimal(10))
    assert await store.reserve(request) == Refused("cap:daily")
    refused = CapRequest("capped", "ld_9", Caps(), windows, Decimal(10), ("phone-1",), DAY_S)
    assert await store.reserve(refused) == Refused("dedup")
    resend = IdempotencyKey("acme-media", "lead_id:2", "fp")
    taken = await store.claim_idempotency(resend, DAY_S, lead_id="ld_new", lease_s=5)
    assert taken == Claimed(previous_lead_ids=("ld_2",))
    assert await store.seal_journal("ld_2") == ("capped",)
    await store.close()


async def test_the_store_and_the_queue_share_one_file_and_its_writer(tmp_path: Path) -> None:
    file = SqliteFile(tmp_path / "state.db")
    store, queue = SqliteStore(file, RETENTION), SqliteQueue(file)
    await store.record_outcome(outcome("ld_1"))
    assert await queue.jobs() == []
    await store.close()
    await queue.close()  # neither closes a file it was given
    components = await file.read(
        lambda db: dict(db.execute("SELECT component, version FROM schema_version"))
    )
    # the store's 2: the pauses; turns: the tie groups' counters (store/turns/sqlite.py)
    assert components == {"store": 2, "deliveries": 2, "turns": 1}
    await file.close()
    with pytest.raises(StoreUnavailable):  # a write to a closed file
        await store.record_outcome(outcome("ld_2"))


# the Redis store -------------------------------------------------------------------------------

MakeRedisStore = Callable[..., RedisStore]


@pytest.fixture
async def make_redis_store(redis_url: str, clock: FakeClock) -> AsyncIterator[MakeRedisStore]:
    """`make_redis_store(**options)` → a RedisStore on the tests' server; all closed at the end."""
    made: list[RedisStore] = []

    def make(**options: Any) -> RedisStore:
        made.append(RedisStore(redis_url, RETENTION, clock=clock, **options))
        return made[-1]

    yield make
    for store in made:
        await store.close()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    """A plain client on the tests' server, to look at what the stores wrote."""
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def write_everything(store: Store) -> None:
    """Every method that writes, so that every kind of key exists."""
    caps = Caps(hourly=5, daily=10, daily_budget=Decimal("100"))
    await store.claim_idempotency(key("k1"), DAY_S)
    await store.claim_idempotency(key("k2"), DAY_S)
    await store.complete_idempotency(key("k2"), outcome("ld_2"))
    sold = await reserved(store, sale("ld_1", caps, dedup=(PHONE, EMAIL), dedup_ttl_s=DAY_S))
    await store.confirm(sold)
    await reserved(store, sale("ld_2", caps, buyer="lawfirm-b"))  # still held
    await store.journal_post("ld_1", "lawfirm-a")
    await store.seal_journal("ld_1")
    await store.record_outcome(outcome("ld_1"))
    await trip(store)
    await store.breaker_record("lawfirm-b", True, POLICY)


async def test_every_key_has_the_prefix_a_hash_tag_and_a_ttl(
    make_redis_store: MakeRedisStore, raw: Redis
) -> None:
    await write_everything(make_redis_store(prefix="pt-test"))
    keys = sorted([k.decode() async for k in raw.scan_iter()])
    kinds = set()
    for name in keys:
        shape = re.fullmatch(r"pt-test:\{([bio]):[^{}]+\}:([a-z]+)(:.+)?", name)
        assert shape is not None, name
        kinds.add(shape.group(2))
        ttl_s = await raw.pttl(name) / 1000
        # Relative TTLs as long as the store keeps each thing (not the fake clock's 2026 dates).
        assert 0 < ttl_s <= 50 * 3600, (name, ttl_s)
    assert kinds == {
        *("idempotency", "hour", "day", "held", "dedup", "breaker", "outcome", "journal"),
        "sealed",
    }
    assert 3590 < await raw.pttl("pt-test:{o:ld_1}:outcome") / 1000 <= 3600


def test_the_keys_of_one_script_share_one_slot() -> None:
    keys = StateKeys("pingtree")
    request = sale("ld_1", dedup=(PHONE, EMAIL), dedup_ttl_s=DAY_S)
    assert len({key_slot(name.encode()) for name in keys.cap_keys(request)}) == 1
    assert key_slot(keys.breaker("lawfirm-a").encode()) == key_slot(
        keys.cap_keys(request)[0].encode()
    )
    assert key_slot(keys.outcome("ld_1").encode()) == key_slot(keys.journal("ld_1").encode())
    # ...while different buyers, leads and keys spread over the cluster.
    assert len({key_slot(keys.breaker(f"buyer-{n}").encode()) for n in range(50)}) > 40
    assert len({key_slot(keys.outcome(f"ld_{n}").encode()) for n in range(50)}) > 40


async def test_the_test_server_refuses_scripts_across_slots(raw: Redis) -> None:
    # Why the contract suite proves the key layout too: its server is a Redis Cluster node.
    with pytest.raises(ResponseError, match="same slot"):
        await raw.eval("return 1", 2, "{b:one}:x", "{b:two}:x")  # type: ignore[misc]


async def test_stores_on_one_server_share_caps(make_redis_store: MakeRedisStore) -> None:
    stores = (make_redis_store(), make_redis_store())
    caps = Caps(hourly=7)
    results = await asyncio.gather(
        *(stores[n % 2].reserve(sale(f"ld_{n}", caps)) for n in range(40))
    )
    assert sum(isinstance(r, Reservation) for r in results) == 7


async def test_stores_on_one_server_share_everything_else(make_redis_store: MakeRedisStore) -> None:
    first, second = make_redis_store(), make_redis_store()
    await reserved(first, sale("ld_1", dedup=(PHONE,), dedup_ttl_s=DAY_S))
    assert await second.reserve(sale("ld_2", dedup=(PHONE,), dedup_ttl_s=DAY_S)) == Refused("dedup")

    assert isinstance(await first.claim_idempotency(key(), DAY_S), Claimed)
    claim = await second.claim_idempotency(key(), DAY_S)
    assert isinstance(claim, InFlight)
    waiting = asyncio.create_task(claim.wait(5))
    await first.record_outcome(outcome("ld_1"))
    await first.complete_idempotency(key(), outcome("ld_1"))
    assert await waiting == outcome("ld_1").summary()
    assert await second.get_outcome("ld_1") == outcome("ld_1")

    await first.journal_post("ld_1", "lawfirm-a")
    assert await second.journal("ld_1") == ("lawfirm-a",)
    await trip(first)
    assert await second.breaker_admit("lawfirm-a", POLICY) is False


async def test_a_waiter_in_another_store_learns_of_an_abandon(
    make_redis_store: MakeRedisStore,
) -> None:
    first, second = make_redis_store(), make_redis_store()
    await first.claim_idempotency(key(), DAY_S)
    claim = await second.claim_idempotency(key(), DAY_S)
    assert isinstance(claim, InFlight)
    waiting = asyncio.create_task(claim.wait(5))
    await asyncio.sleep(0.03)
    await first.abandon_idempotency(key())
    assert await waiting is None
    # A claim that took the key's place since is not the one waited for.
    await first.claim_idempotency(key(), DAY_S)
    claim = await second.claim_idempotency(key(), DAY_S)
    assert isinstance(claim, InFlight)
    waiting = asyncio.create_task(claim.wait(5))
    await first.abandon_idempotency(key())
    assert isinstance(await first.claim_idempotency(key(), DAY_S), Claimed)
    assert await waiting is None


async def test_connections_the_server_dropped_are_replaced(
    make_redis_store: MakeRedisStore, raw: Redis
) -> None:
    store = make_redis_store()
    await store.record_outcome(outcome())
    await raw.client_kill_filter(_type="normal", skipme=True)  # as a restart or an idle timeout
    await asyncio.sleep(0.05)  # the drop happened a while before the next call
    assert await store.get_outcome("ld_1") == outcome()


STORE_CALLS: dict[str, Callable[[Store], Awaitable[object]]] = {
    "claim_idempotency": lambda s: s.claim_idempotency(key(), DAY_S),
    "complete_idempotency": lambda s: s.complete_idempotency(key(), outcome()),
    "abandon_idempotency": lambda s: s.abandon_idempotency(key()),
    "check": lambda s: s.check(sale("ld_1", Caps(hourly=1))),
    "reserve": lambda s: s.reserve(sale("ld_1", Caps(hourly=1))),
    "release": lambda s: s.release(Reservation(sale("ld_1"))),
    "confirm": lambda s: s.confirm(Reservation(sale("ld_1"))),
    "journal_post": lambda s: s.journal_post("ld_1", "lawfirm-a"),
    "journal": lambda s: s.journal("ld_1"),
    "seal_journal": lambda s: s.seal_journal("ld_1"),
    "record_outcome": lambda s: s.record_outcome(outcome()),
    "get_outcome": lambda s: s.get_outcome("ld_1"),
    "breaker_admit": lambda s: s.breaker_admit("lawfirm-a", POLICY),
    "breaker_record": lambda s: s.breaker_record("lawfirm-a", False, POLICY),
    "ping": lambda s: s.ping(),
}


@pytest.mark.parametrize("call", STORE_CALLS)
async def test_a_dead_redis_is_unavailable_at_once(call: str) -> None:
    store = RedisStore(f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0", RETENTION)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as raised:
        await STORE_CALLS[call](store)
    assert time.monotonic() - started < 2
    assert raised.value.status == 503
    said = []
    error: BaseException | None = raised.value
    while error is not None:
        said.append(f"{error!r} {error}")
        error = error.__cause__ or error.__context__
    assert "s3cret-pw" not in " ".join(said)
    await store.close()


async def test_connect_checks_the_server_answers(redis_url: str) -> None:
    with pytest.raises(StoreUnavailable):
        await RedisStore.connect(f"redis://127.0.0.1:{free_port()}/0")
    store = await RedisStore.connect(redis_url)
    await store.close()


async def test_a_store_needs_bytes_and_a_prefix_without_braces(redis_url: str) -> None:
    with pytest.raises(ValueError, match="braces"):
        RedisStore(redis_url, prefix="pt{1}")
    decoding = Redis.from_url(redis_url, decode_responses=True)
    with pytest.raises(ValueError, match="decode_responses"):
        RedisStore(decoding)
    await decoding.aclose()


# The scripts hold logic that also lives in Python (rules.cap_reason, breaker.py): random histories
# through both must agree at every step. Times are whole or half seconds, exact in floats and ms.
# (Caps and dedup are compared with the memory store, which calls cap_reason.)


@pytest.mark.parametrize("seed", range(12))
async def test_caps_and_dedup_decide_as_the_memory_store_does(
    seed: int, make_redis_store: MakeRedisStore, clock: FakeClock
) -> None:
    rng = random.Random(seed)
    memory, redis_store = MemoryStore(RETENTION, clock=clock), make_redis_store()
    held: list[Reservation] = []
    for step in range(150):
        caps = Caps(
            hourly=rng.choice([None, 0, 1, 3, 5]),
            daily=rng.choice([None, 2, 6, 10]),
            daily_budget=rng.choice([None, Decimal(0), Decimal("0.30"), Decimal("25.05")]),
        )
        request = sale(
            f"ld_{step}",
            caps,
            buyer=rng.choice(["lawfirm-a", "lawfirm-b"]),
            # As the router does: a counter's TTL outlasts its window, so none is used expired.
            windows=cap_windows(datetime.fromtimestamp(clock(), UTC), "America/New_York"),
            price=rng.choice(["0", "0.10", "5", "9.99", "10"]),
            dedup=tuple(rng.sample(["h1", "h2", "h3", "h4"], rng.randint(0, 2))),
            dedup_ttl_s=rng.choice([60, DAY_S]),
        )
        roll = rng.random()
        if roll < 0.5:
            answer = await memory.reserve(request)
            assert await redis_store.reserve(request) == answer, (step, request)
            if isinstance(answer, Reservation):
                held.append(answer)
        elif roll < 0.7:
            assert await redis_store.check(request) == await memory.check(request), step
        elif held:
            reservation = rng.choice(held)
            end = rng.choice(["release", "confirm"])
            await getattr(memory, end)(reservation)
            await getattr(redis_store, end)(reservation)
        clock.advance(rng.choice([0, 0, 1, 30, 600, 1800]))


async def stored_breaker(raw: Redis, store: RedisStore, buyer_id: str) -> BreakerState:
    recent, open_until, probing = await raw.hmget(
        store.keys.breaker(buyer_id), ["recent", "open_until", "probing"]
    )
    if recent is None:
        return CLOSED
    return BreakerState(
        recent=tuple(c == ord("1") for c in recent),
        open_until=int(open_until) / 1000 if open_until else None,
        probing=probing == b"1",
    )


@pytest.mark.parametrize("seed", range(20))
async def test_the_lua_breaker_is_breaker_py(
    seed: int, make_redis_store: MakeRedisStore, clock: FakeClock, raw: Redis
) -> None:
    rng = random.Random(seed)
    window = rng.randint(1, 6)
    policy = BreakerPolicy(
        window=window,
        min_calls=rng.randint(1, window),
        failure_ratio=rng.choice([0.2, 0.5, 0.75, 1.0]),
        cooldown_s=rng.choice([1, 5, 30]),
    )
    store, state = make_redis_store(), CLOSED
    for step in range(150):
        clock.advance(rng.choice([0, 0.5, 1, 2, 5, 29, 30, 31]))
        if rng.random() < 0.4:
            admitted, state = admits(state, clock(), policy)
            assert await store.breaker_admit("lawfirm-a", policy) is admitted, step
        else:
            ok = rng.random() < 0.5
            state = after_call(state, ok, clock(), policy)
            await store.breaker_record("lawfirm-a", ok, policy)
        assert await stored_breaker(raw, store, "lawfirm-a") == state, step
