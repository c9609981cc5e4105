"""The Store protocol's pauses and buyers' state (store/state/base.py), as a contract every store
keeps: memory, SQLite and a real Redis (the `store` fixture of test_store.py). Then what only
one store has: pauses on the state file survive a reopen, and on Redis they are one hash every
router reads, with no expiry."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from redis.asyncio import Redis

from pingtree.config import Caps
from pingtree.store.redis_keys import StateKeys
from pingtree.store.state.base import BuyerUsage, Pause, Store
from pingtree.store.state.redis import RedisStore
from pingtree.store.state.sqlite import SqliteStore
from tests.store.test_store import (
    DAY_S,
    HOUR_9,
    HOUR_10,
    NEXT_DAY,
    POLICY,
    RETENTION,
    FakeClock,
    clock,
    reserved,
    sale,
    store,
    trip,
)

__all__ = ["clock", "store"]  # the fixtures, shared with test_store.py

AT = "2026-01-01T09:30:00.000Z"


async def test_a_buyer_is_paused_until_resumed(store: Store, clock: FakeClock) -> None:
    assert await store.pauses() == {}
    await store.pause("lawfirm-a", "alice", AT, "invoices unpaid")
    await store.pause("lawfirm-b", "admin", AT, None)
    clock.advance(365 * DAY_S)  # a pause has no expiry: an operator's switch
    assert await store.pauses() == {
        "lawfirm-a": Pause("alice", AT, "invoices unpaid"),
        "lawfirm-b": Pause("admin", AT, None),
    }
    await store.resume("lawfirm-a")
    await store.resume("lawfirm-a")  # resuming twice changes nothing
    await store.resume("nobody")
    assert await store.pauses() == {"lawfirm-b": Pause("admin", AT, None)}


async def test_pausing_again_says_who_paused_last_and_why(store: Store) -> None:
    await store.pause("lawfirm-a", "alice", AT, "invoices unpaid")
    await store.pause("lawfirm-a", "bob", "2026-01-02T10:00:00.000Z", "still unpaid")
    assert await store.pauses() == {
        "lawfirm-a": Pause("bob", "2026-01-02T10:00:00.000Z", "still unpaid")
    }


async def test_buyer_usage_reads_every_buyers_windows_and_breaker(
    store: Store, clock: FakeClock
) -> None:
    caps = Caps(hourly=5)
    await reserved(store, sale("ld_1", caps, price="10.25"))
    await reserved(store, sale("ld_2", caps, price="4.75", windows=HOUR_10))
    await reserved(store, sale("ld_3", caps, buyer="lawfirm-b", price="1", windows=NEXT_DAY))
    await trip(store, "lawfirm-b")
    windows = {"lawfirm-a": HOUR_10, "lawfirm-b": HOUR_10, "lawfirm-c": HOUR_10}
    assert await store.buyer_usage(windows) == {
        # Hour 10 holds one sale; the day both, to the cent.
        "lawfirm-a": BuyerUsage(1, 2, Decimal("15.00"), "closed"),
        # Its sale was the next day: none in these windows. Its breaker is resting.
        "lawfirm-b": BuyerUsage(0, 0, Decimal(0), "open"),
        "lawfirm-c": BuyerUsage(),  # never sold, never called
    }
    assert (await store.buyer_usage({"lawfirm-a": HOUR_9}))["lawfirm-a"].hour_count == 1
    clock.advance(POLICY.cooldown_s)
    assert (await store.buyer_usage(windows))["lawfirm-b"].breaker == "half_open"
    assert await store.breaker_admit("lawfirm-b", POLICY)  # the probe goes out
    await store.breaker_record("lawfirm-b", True, POLICY)
    assert (await store.buyer_usage(windows))["lawfirm-b"].breaker == "closed"
    assert await store.buyer_usage({}) == {}


async def test_a_released_sale_is_not_counted(store: Store) -> None:
    reservation = await reserved(store, sale("ld_1", Caps(daily=3), price="7"))
    await store.release(reservation)
    usage = await store.buyer_usage({"lawfirm-a": HOUR_9})
    assert usage["lawfirm-a"] == BuyerUsage(0, 0, Decimal(0), "closed")


async def test_pauses_survive_a_reopen_of_the_state_file(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "state.db"
    first = SqliteStore(path, RETENTION, clock=clock)
    await first.pause("lawfirm-a", "alice", AT, "invoices unpaid")
    await first.pause("lawfirm-b", "alice", AT, None)
    await first.resume("lawfirm-b")
    await first.close()
    clock.advance(30 * DAY_S)  # and the purge, which runs on the next write, keeps them
    again = SqliteStore(path, RETENTION, clock=clock, purge_every_s=0)
    await again.pause("lawfirm-c", "bob", AT, None)
    await again.close()
    last = SqliteStore(path, RETENTION, clock=clock)
    assert await last.pauses() == {
        "lawfirm-a": Pause("alice", AT, "invoices unpaid"),
        "lawfirm-c": Pause("bob", AT, None),
    }
    await last.close()


async def test_on_redis_pauses_are_one_shared_hash_without_expiry(
    redis_url: str, clock: FakeClock
) -> None:
    one = RedisStore(redis_url, RETENTION, clock=clock, prefix="pt")
    other = RedisStore(redis_url, RETENTION, clock=clock, prefix="pt")
    await one.pause("lawfirm-a", "alice", AT, "invoices unpaid")
    assert await other.pauses() == {"lawfirm-a": Pause("alice", AT, "invoices unpaid")}
    await other.resume("lawfirm-a")
    assert await one.pauses() == {}
    await one.pause("lawfirm-b", "alice", AT, None)
    raw = Redis.from_url(redis_url)
    key = StateKeys("pt").pauses()
    assert key == "pt:{p}:pauses"
    assert await raw.keys("pt:*pause*") == [key.encode()]
    assert await raw.ttl(key) == -1  # kept until resumed
    await raw.aclose()
    await one.close()
    await other.close()
