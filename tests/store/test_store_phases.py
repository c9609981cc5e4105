"""The Store protocol's per-phase calls (store/base.py: `admit`, `journal_and_reserve`,
`breaker_record_all`, `finish`), as a contract every store keeps: memory, SQLite and a real
Redis (the `store` fixture of test_store.py). Each answers as the single calls it stands for
would, in order. Then what only Redis has: a phase is one round trip whatever the number of
buyers, and a server that forgot its scripts (restarted, flushed) still answers."""

from __future__ import annotations

import asyncio
import random

from redis.asyncio import Redis

from pingtree.config import Caps
from pingtree.store.outbox.base import Entry
from pingtree.store.state.base import (
    Admission,
    Admitted,
    BreakerCall,
    Done,
    Journaled,
    Refused,
    Reservation,
    Sealed,
    Store,
)
from pingtree.store.state.redis import RedisStore
from pingtree.store.state.redis_breakers import BreakerBook
from tests.store.test_store import (
    POLICY,
    RETENTION,
    FakeClock,
    clock,
    key,
    outcome,
    reserved,
    sale,
    store,
    trip,
)

__all__ = ["clock", "store"]  # the fixtures, shared with test_store.py

ONE_A_DAY = Caps(daily=1)


async def test_admit_answers_each_buyer_in_the_order_given(store: Store) -> None:
    await reserved(store, sale("ld_0", ONE_A_DAY, buyer="full"))
    await trip(store, "tripped")
    admitted = await store.admit(
        [
            Admission("full", sale("ld_1", ONE_A_DAY, buyer="full"), POLICY),
            Admission("tripped", sale("ld_1", buyer="tripped"), POLICY),
            Admission("free", sale("ld_1", ONE_A_DAY, buyer="free"), POLICY),
            Admission("unlimited", None, POLICY),
            Admission("no-breaker", None, None),
        ]
    )
    assert admitted == [
        Admitted(refused="cap:daily"),
        Admitted(breaker_open=True),
        Admitted(),
        Admitted(),
        Admitted(),
    ]
    assert await store.admit([]) == []


async def test_admit_refuses_a_sold_consumer_as_check_does(store: Store) -> None:
    await reserved(store, sale("ld_0", buyer="firm", dedup=("phone-h",), dedup_ttl_s=60))
    request = sale("ld_1", buyer="firm", dedup=("phone-h",), dedup_ttl_s=60)
    assert await store.check(request) == Refused("dedup")
    assert await store.admit([Admission("firm", request)]) == [Admitted(refused="dedup")]


async def test_a_buyer_its_caps_refuse_takes_no_probe(store: Store, clock: FakeClock) -> None:
    """An open breaker past its cooldown admits one probe: a buyer that would not be called
    (its caps refuse) must not take it, or the probe would never be made."""
    await reserved(store, sale("ld_0", ONE_A_DAY, buyer="lawfirm-a"))
    await trip(store, "lawfirm-a")
    clock.advance(POLICY.cooldown_s + 1)
    full = Admission("lawfirm-a", sale("ld_1", ONE_A_DAY, buyer="lawfirm-a"), POLICY)
    assert await store.admit([full]) == [Admitted(refused="cap:daily")]
    probe = Admission("lawfirm-a", None, POLICY)
    assert await store.admit([probe]) == [Admitted()]  # the probe, still there to take
    assert await store.admit([probe]) == [Admitted(breaker_open=True)]  # one at a time


async def test_a_journaled_post_holds_its_slot(store: Store) -> None:
    request = sale("ld_1", ONE_A_DAY)
    claimed = await store.journal_and_reserve("ld_1", "lawfirm-a", request)
    assert claimed == Journaled(Reservation(request))
    assert await store.journal("ld_1") == ("lawfirm-a",)
    assert await store.check(sale("ld_2", ONE_A_DAY)) == Refused("cap:daily")
    await store.release(Reservation(request))
    assert await store.check(sale("ld_2", ONE_A_DAY)) is None


async def test_a_post_with_nothing_to_reserve_is_journaled(store: Store) -> None:
    assert await store.journal_and_reserve("ld_1", "test-buyer", None) == Journaled(None)
    assert await store.journal("ld_1") == ("test-buyer",)


async def test_a_refused_slot_leaves_no_journal_entry(store: Store) -> None:
    await reserved(store, sale("ld_0", ONE_A_DAY))
    await store.journal_post("ld_1", "lawfirm-b")
    claimed = await store.journal_and_reserve("ld_1", "lawfirm-a", sale("ld_1", ONE_A_DAY))
    assert claimed == Refused("cap:daily")
    assert await store.journal("ld_1") == ("lawfirm-b",)  # the post before it stays


async def test_a_sealed_journal_holds_nothing(store: Store) -> None:
    await store.journal_post("ld_1", "lawfirm-b")
    assert await store.seal_journal("ld_1") == ("lawfirm-b",)
    claimed = await store.journal_and_reserve("ld_1", "lawfirm-a", sale("ld_1", ONE_A_DAY))
    assert claimed == Sealed()
    assert await store.journal("ld_1") == ("lawfirm-b",)
    assert await store.check(sale("ld_2", ONE_A_DAY)) is None  # no slot taken


async def test_breaker_calls_are_counted_in_order(store: Store) -> None:
    failed = [BreakerCall("lawfirm-a", False, POLICY)] * POLICY.min_calls
    await store.breaker_record_all([BreakerCall("lawfirm-b", True, POLICY), *failed])
    assert await store.breaker_admit("lawfirm-a", POLICY) is False
    assert await store.breaker_admit("lawfirm-b", POLICY) is True
    await store.breaker_record_all([])


async def test_finish_confirms_counts_records_and_answers(store: Store) -> None:
    assert await store.claim_idempotency(key(), 60, lead_id="ld_1")
    slot = await reserved(store, sale("ld_1", ONE_A_DAY))
    calls = [BreakerCall("lawfirm-b", False, POLICY)] * POLICY.min_calls
    sold = outcome("ld_1")
    landed = await store.finish(sold, (), key(), lead_id="ld_1", confirms=[slot], calls=calls)
    assert landed == "answered"
    assert await store.get_outcome("ld_1") == sold
    await store.breaker_record_all([])  # what the store held of `calls` (Redis: redis_breakers.py)
    assert await store.breaker_admit("lawfirm-b", POLICY) is False
    await store.release(slot)  # confirmed: a release frees nothing
    assert await store.check(sale("ld_2", ONE_A_DAY)) == Refused("cap:daily")
    claim = await store.claim_idempotency(key(), 60, lead_id="ld_9")
    assert isinstance(claim, Done)
    assert (claim.outcome.id, claim.outcome.status) == ("ld_1", "sold")


async def test_finish_puts_the_ledgers_record_and_says_where_an_answer_did_not_land(
    store: Store,
) -> None:
    record = Entry("lead", "ld_1", b"the record")
    assert await store.finish(outcome("ld_1"), [record], None, lead_id="ld_1") is None
    (taken,) = await store.outbox().take(10, 30, "test")
    assert (taken.entry.kind, taken.entry.id, taken.entry.body) == ("lead", "ld_1", b"the record")
    await store.claim_idempotency(key(fingerprint="fp-b"), 60, lead_id="ld_2")
    await store.complete_idempotency(key(fingerprint="fp-b"), outcome("ld_2"), lead_id="ld_2")
    landed = await store.finish(outcome("ld_1"), (), key(fingerprint="fp-b"), lead_id="ld_1")
    assert landed == "taken"


# Redis only ----------------------------------------------------------------------------------


class Counted(RedisStore):
    """Counts the requests written to Redis (a pipeline is one)."""

    def __init__(self, url: str, clock: FakeClock) -> None:
        super().__init__(url, RETENTION, clock=clock, prefix="phases")
        self.round_trips = 0
        pool = self._redis.connection_pool
        connection_class = pool.connection_class
        store = self

        class Counting(connection_class):  # type: ignore[misc, valid-type]
            async def send_packed_command(self, *args: object, **kw: object) -> None:
                store.round_trips += 1
                await super().send_packed_command(*args, **kw)

        pool.connection_class = Counting


async def test_a_leads_phases_cost_the_same_round_trips_whatever_the_number_of_buyers(
    redis_url: str, clock: FakeClock
) -> None:
    counted = Counted(redis_url, clock)
    try:
        await counted.ping()
        for buyers in (1, 10, 100):  # the first, to load the scripts (another test flushes them)
            ids = [f"b{buyers}-{n}" for n in range(buyers)]
            admissions = [
                Admission(b, sale(f"ld_{buyers}", ONE_A_DAY, buyer=b), POLICY) for b in ids
            ]
            calls = [BreakerCall(b, True, POLICY) for b in ids]
            before = counted.round_trips
            assert await counted.admit(admissions) == [Admitted()] * buyers
            request = sale(f"ld_{buyers}", ONE_A_DAY, buyer=ids[0])
            claimed = await counted.journal_and_reserve(f"ld_{buyers}", ids[0], request)
            assert isinstance(claimed, Journaled)
            assert claimed.reservation is not None
            await counted.finish(
                outcome(f"ld_{buyers}"),
                (),
                key(f"k{buyers}"),
                lead_id=f"ld_{buyers}",
                confirms=[claimed.reservation],
                calls=calls,
            )
            # The admission, the slot, the journal entry, the last writes (the breaker calls
            # held: their flush is no lead's).
            assert counted.round_trips - before == 4 or buyers == 1, buyers
    finally:
        await counted.close()


async def test_a_server_that_forgot_the_scripts_still_answers(
    redis_url: str, clock: FakeClock
) -> None:
    redis_store = RedisStore(redis_url, RETENTION, clock=clock, prefix="forgot")
    raw = Redis.from_url(redis_url)
    try:
        await raw.script_flush()
        request = sale("ld_1", ONE_A_DAY)
        assert await redis_store.admit([Admission("lawfirm-a", request, POLICY)]) == [Admitted()]
        await raw.script_flush()
        claimed = await redis_store.journal_and_reserve("ld_1", "lawfirm-a", request)
        assert claimed == Journaled(Reservation(request))  # run once: the slot is counted once
        assert await redis_store.check(sale("ld_2", Caps(daily=2))) is None
        assert await redis_store.check(sale("ld_2", ONE_A_DAY)) == Refused("cap:daily")
    finally:
        await raw.aclose()
        await redis_store.close()


async def test_a_breaker_seen_closed_admits_without_a_round_trip(
    redis_url: str, clock: FakeClock
) -> None:
    counted = Counted(redis_url, clock)
    try:
        breakers = [Admission(f"seen-{n}", None, POLICY) for n in range(10)]
        assert await counted.admit(breakers) == [Admitted()] * 10
        before = counted.round_trips
        assert await counted.admit(breakers) == [Admitted()] * 10
        assert counted.round_trips == before  # seen closed within the second: nothing asked
        with_caps = [Admission("seen-0", sale("ld_1", ONE_A_DAY, buyer="seen-0"), POLICY)]
        assert await counted.admit(with_caps) == [Admitted()]
        assert counted.round_trips == before + 1  # caps are always asked
    finally:
        await counted.close()


async def test_a_breaker_another_router_opens_stops_this_ones_calls_within_the_view(
    redis_url: str, clock: FakeClock
) -> None:
    here = RedisStore(redis_url, RETENTION, clock=clock, prefix="view")
    there = RedisStore(redis_url, RETENTION, clock=clock, prefix="view")
    record, clock_ms = here._breaker_record, here._now_ms
    here.breakers = BreakerBook(here._redis, here.keys, record, clock_ms, view_s=0.2)
    try:
        admission = [Admission("flaky", None, POLICY)]
        assert await here.admit(admission) == [Admitted()]
        await trip(there, "flaky")
        assert await here.admit(admission) == [Admitted()]  # its view is still fresh
        await asyncio.sleep(0.25)
        assert await here.admit(admission) == [Admitted(breaker_open=True)]
    finally:
        await here.close()
        await there.close()


async def test_the_calls_of_a_finish_are_counted_within_a_second_when_no_lead_comes(
    redis_url: str, clock: FakeClock
) -> None:
    here = RedisStore(redis_url, RETENTION, clock=clock, prefix="held")
    there = RedisStore(redis_url, RETENTION, clock=clock, prefix="held")
    try:
        assert await here.admit([Admission("flaky", None, POLICY)]) == [Admitted()]
        failed = [BreakerCall("flaky", False, POLICY)] * POLICY.min_calls
        await here.finish(outcome("ld_1"), (), None, lead_id="ld_1", calls=failed)
        assert await there.breaker_admit("flaky", POLICY) is True  # held, not sent yet
        await asyncio.sleep(1.2)  # no lead came to take them: sent on their own
        assert await there.breaker_admit("flaky", POLICY) is False
        # This router's own flush said the breaker opened: it asks Redis again at once.
        assert await here.admit([Admission("flaky", None, POLICY)]) == [Admitted(breaker_open=True)]
    finally:
        await here.close()
        await there.close()


async def test_many_calls_in_one_record_are_the_same_as_one_at_a_time(
    redis_url: str, clock: FakeClock
) -> None:
    """BREAKER_RECORD takes a buyer's held calls in one script: the state it leaves is the one
    the same calls leave one by one, probes, trips and all (the single calls are held to
    core/breaker.py's answers by test_store.py)."""
    rng = random.Random(20)
    one_by_one = RedisStore(redis_url, RETENTION, clock=clock, prefix="single")
    many = RedisStore(redis_url, RETENTION, clock=clock, prefix="many")
    raw = Redis.from_url(redis_url)
    try:
        for round_ in range(40):
            oks = [rng.random() < 0.6 for _ in range(rng.randint(1, 8))]
            for ok in oks:
                await one_by_one.breaker_record("b", ok, POLICY)
            await many.breaker_record_all([BreakerCall("b", ok, POLICY) for ok in oks])
            single_state = await raw.hgetall(one_by_one.keys.breaker("b"))
            many_state = await raw.hgetall(many.keys.breaker("b"))
            assert single_state == many_state, round_
            if rng.random() < 0.3:
                clock.advance(POLICY.cooldown_s + 1)
                assert await one_by_one.breaker_admit("b", POLICY) == await many.breaker_admit(
                    "b", POLICY
                )
    finally:
        await raw.aclose()
        await one_by_one.close()
        await many.close()
