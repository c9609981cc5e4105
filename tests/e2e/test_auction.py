"""The auction end to end (DESIGN §2-§4, §7-§9): a real pingtree on a loopback port, real local
buyer servers, one story per test. Each story checks three things: the seller's answer, the
operator's view (buyer, price, trace), and what the buyers' servers actually received.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pingtree.config import WEEKDAYS
from tests.conftest import OTHER_KEY, SELLER_KEY, make_buyer, make_config, sample

SELLER_VIEW_KEYS = {"id", "lead_id", "status", "reason", "payout", "auction_ms"}


def lead(name: str = "mva-legal", *, omit: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
    """A sample lead with a fresh lead_id (the lead_id is the idempotency key: a repeated one
    would replay the first outcome instead of running a new auction)."""
    body = sample(name)
    body["lead_id"] = f"e2e-{uuid.uuid4().hex[:16]}"
    body.update(fields)
    for key in omit:
        body.pop(key, None)
    return body


def steps(view: dict[str, Any], buyer_id: str) -> list[tuple[str, str, str | None]]:
    """One buyer's trace as (step, result, reason), in order."""
    return [
        (e["step"], e["result"], e.get("reason"))
        for e in view["trace"]
        if e["buyer_id"] == buyer_id
    ]


def buyer_order(view: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(e["buyer_id"], e["step"], e["result"]) for e in view["trace"]]


async def sell(router: Any, body: dict[str, Any], key: str = SELLER_KEY) -> tuple[dict, dict]:
    status, answer, _ = await router.send(body, key=key)
    assert status == 200, answer
    return answer, await router.admin(answer["id"])


# ranking ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["tiered", "parallel"])
async def test_highest_bid_wins_one_auction(buyers, start_router, mode):
    # In tiered mode all three share priority 1; in parallel mode priorities differ and do not
    # matter: one auction, every buyer pinged at once.
    priorities = {"a": 1, "b": 1, "c": 1} if mode == "tiered" else {"a": 1, "b": 3, "c": 2}
    buyers.set("a", bid=20, ping_delay_s=0.05)
    buyers.set("b", bid=35.5, ping_delay_s=0.05)
    buyers.set("c", bid=None, ping_delay_s=0.05)
    config = make_config(
        [make_buyer(n, buyers, priority=priorities[n]) for n in "abc"], router={"mode": mode}
    )
    router = await start_router(config)

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold" and answer["reason"] is None
    assert answer["payout"] == 28.4  # 35.5 * 0.8
    assert view["buyer_id"] == "b" and view["price"] == 35.5 and view["payout"] == 28.4
    assert steps(view, "a") == [("ping", "bid", None)]
    assert steps(view, "b") == [("ping", "bid", None), ("post", "accepted", None)]
    assert steps(view, "c") == [("ping", "declined", "declined")]
    # all three pings were in flight together, then only the winner got the lead
    pings = [e for e in buyers.timeline() if e[1] == "ping"]
    assert [edge for _, _, edge in pings[:3]] == ["in", "in", "in"]
    assert [len(buyers.recorded(n).posts) for n in "abc"] == [0, 1, 0]
    post = buyers.recorded("b").posts[0]
    assert post["price"] == 35.5 and post["bid_id"] == "b-b"
    assert post["ping_id"] == buyers.recorded("b").pings[0]["ping_id"]
    assert post["phone"] == "+13055551234"  # the full lead goes in the post


async def test_equal_bids_in_parallel_go_to_the_lower_priority_number(buyers, start_router):
    buyers.set("late", bid=30)
    buyers.set("first", bid=30, ping_delay_s=0.1)  # answers later, but has priority 1
    config = make_config(
        [make_buyer("late", buyers, priority=2), make_buyer("first", buyers, priority=1)],
        router={"mode": "parallel"},
    )
    router = await start_router(config)

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold"
    assert view["buyer_id"] == "first" and view["price"] == 30
    assert len(buyers.recorded("late").posts) == 0


async def test_equal_bids_in_one_tier_go_to_the_earlier_answer(buyers, start_router):
    buyers.set("slow", bid=30, ping_delay_s=0.1)
    buyers.set("fast", bid=30)
    config = make_config([make_buyer("slow", buyers), make_buyer("fast", buyers)])
    router = await start_router(config)

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold"
    assert view["buyer_id"] == "fast"
    assert buyers.recorded("slow").posts == []


async def test_tier_order_beats_price(buyers, start_router):
    buyers.set("cheap", bid=10)
    buyers.set("rich", bid=50)
    config = make_config(
        [make_buyer("rich", buyers, priority=2), make_buyer("cheap", buyers, priority=1)]
    )
    router = await start_router(config)

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold" and answer["payout"] == 8.0
    assert view["buyer_id"] == "cheap" and view["price"] == 10
    assert steps(view, "cheap") == [("ping", "bid", None), ("post", "accepted", None)]
    assert steps(view, "rich") == []
    assert buyers.recorded("rich").pings == [] and buyers.recorded("rich").posts == []


async def test_waterfall_pings_one_buyer_at_a_time_in_priority_then_file_order(
    buyers, start_router
):
    buyers.set("c", bid=20, ping_delay_s=0.05)
    buyers.set("a", bid=None, ping_delay_s=0.05)
    buyers.set("b", bid=None, ping_delay_s=0.05)
    config = make_config(
        [
            make_buyer("c", buyers, priority=2),
            make_buyer("a", buyers, priority=1),
            make_buyer("b", buyers, priority=1),
        ],
        router={"mode": "waterfall"},
    )
    router = await start_router(config)

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold"
    assert view["buyer_id"] == "c" and view["price"] == 20
    assert buyer_order(view) == [
        ("a", "ping", "declined"),
        ("b", "ping", "declined"),
        ("c", "ping", "bid"),
        ("c", "post", "accepted"),
    ]
    # each ping went out only after the one before it had answered
    assert buyers.timeline() == [
        ("a", "ping", "in"),
        ("a", "ping", "out"),
        ("b", "ping", "in"),
        ("b", "ping", "out"),
        ("c", "ping", "in"),
        ("c", "ping", "out"),
        ("c", "post", "in"),
        ("c", "post", "out"),
    ]


async def test_waterfall_sells_to_the_first_bidder_without_asking_the_next(buyers, start_router):
    buyers.set("a", bid=10)
    buyers.set("b", bid=50)
    config = make_config([make_buyer(n, buyers) for n in "ab"], router={"mode": "waterfall"})
    router = await start_router(config)

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold"
    assert view["buyer_id"] == "a" and view["price"] == 10
    assert buyers.recorded("b").pings == []
    assert steps(view, "b") == []


async def test_a_slow_waterfall_stops_pinging_when_no_time_is_left(buyers, start_router):
    # ping phase ends at 1000 - 300 = 700 ms: a and b use it up, c would have < min_ping_ms
    buyers.set("a", bid=None, ping_delay_s=0.3)
    buyers.set("b", bid=None, ping_delay_s=0.35)
    buyers.set("c", bid=50)
    config = make_config(
        [make_buyer(n, buyers) for n in "abc"],
        router={"mode": "waterfall", "budget_ms": 1000, "post_reserve_ms": 300},
    )
    router = await start_router(config)

    started = time.perf_counter()
    answer, view = await sell(router, lead())
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0 + 0.4
    assert answer["status"] == "unsold"
    assert steps(view, "a") == [("ping", "declined", "declined")]
    assert steps(view, "b") == [("ping", "declined", "declined")]
    assert steps(view, "c") == [("skip", "skipped", "no_time_left")]
    assert buyers.recorded("c").pings == []


# fallback --------------------------------------------------------------------------------------


async def test_rejected_post_falls_back_to_the_next_bid_of_the_same_tier(buyers, start_router):
    buyers.set("top", bid=50, accept_post=False)
    buyers.set("second", bid=30)
    buyers.set("third", bid=20)
    buyers.set("tier2", bid=90)
    config = make_config(
        [make_buyer(n, buyers) for n in ("top", "second", "third")]
        + [make_buyer("tier2", buyers, priority=2)]
    )
    router = await start_router(config)

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold" and answer["payout"] == 24.0
    assert view["buyer_id"] == "second" and view["price"] == 30
    assert steps(view, "top") == [("ping", "bid", None), ("post", "rejected", "post_rejected")]
    assert steps(view, "second") == [("ping", "bid", None), ("post", "accepted", None)]
    assert steps(view, "third") == [("ping", "bid", None)]
    assert len(buyers.recorded("top").posts) == 1  # posted once, never twice
    assert len(buyers.recorded("second").posts) == 1
    assert buyers.recorded("second").posts[0]["price"] == 30
    assert buyers.recorded("third").posts == []
    assert buyers.recorded("tier2").pings == []


@pytest.mark.parametrize("how", ["all_decline", "all_posts_rejected"])
async def test_an_exhausted_tier_hands_the_lead_to_the_next_tier(buyers, start_router, how):
    if how == "all_decline":
        buyers.set("a", bid=None)
        buyers.set("b", bid=None)
    else:
        buyers.set("a", bid=60, accept_post=False)
        buyers.set("b", bid=50, accept_post=False)
    buyers.set("c", bid=15)
    config = make_config(
        [make_buyer("a", buyers), make_buyer("b", buyers), make_buyer("c", buyers, priority=2)]
    )
    router = await start_router(config)

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold" and answer["payout"] == 12.0
    assert view["buyer_id"] == "c" and view["price"] == 15
    expected_posts = 0 if how == "all_decline" else 1
    for name in "ab":
        assert len(buyers.recorded(name).posts) == expected_posts
        if how == "all_decline":
            assert steps(view, name) == [("ping", "declined", "declined")]
        else:
            assert steps(view, name) == [
                ("ping", "bid", None),
                ("post", "rejected", "post_rejected"),
            ]
    # tier 2 was pinged only once tier 1 was done with
    timeline = buyers.timeline()
    assert timeline.index(("c", "ping", "in")) > max(
        i for i, (name, _, _) in enumerate(timeline) if name in "ab"
    )
    assert steps(view, "c") == [("ping", "bid", None), ("post", "accepted", None)]


@pytest.mark.parametrize(
    ("body", "content_type", "result", "reason", "detail"),
    [
        (
            b'{"accepted": false, "reason": "Quota Reached"}',
            "application/json",
            "rejected",
            "post_rejected",
            "Quota Reached",
        ),
        (
            b"<html><body>Thank you!</body></html>",
            "text/html",
            "unknown",
            "post_unknown",
            "HTTP 200, body is not JSON: <html><body>Thank you!</body></html>",
        ),
        (
            b'{"status": "ok"}',
            "application/json",
            "unknown",
            "post_unknown",
            """HTTP 200, no boolean 'accepted': {"status": "ok"}""",
        ),
    ],
    ids=["quota-reached", "html", "no-accepted-field"],
)
async def test_a_200_that_does_not_say_accepted_is_not_a_sale(
    buyers, start_router, body, content_type, result, reason, detail
):
    """Not a sale either way. A refusal lets the lead go on to the next bid; a 200 that says
    neither yes nor no may be the buyer's yes (DESIGN §8, v3): `pending`, nobody else posted."""
    buyers.set("a", bid=50, post_status=200, post_body=body, post_content_type=content_type)
    buyers.set("b", bid=20)
    config = make_config([make_buyer(n, buyers) for n in "ab"])
    router = await start_router(config)

    answer, view = await sell(router, lead())

    post_events = [e for e in view["trace"] if e["buyer_id"] == "a" and e["step"] == "post"]
    assert [(e["result"], e["reason"], e.get("http_status")) for e in post_events] == [
        (result, reason, 200)
    ]
    assert post_events[0]["detail"] == detail
    assert len(buyers.recorded("a").posts) == 1
    if reason == "post_rejected":
        assert answer["status"] == "sold"
        assert view["buyer_id"] == "b" and view["price"] == 20
        assert len(buyers.recorded("b").posts) == 1
    else:
        assert (answer["status"], answer["reason"]) == ("pending", "post_unknown")
        assert view["buyer_id"] == "a" and answer["payout"] is None
        assert buyers.recorded("b").posts == []


async def test_a_lone_buyer_answering_quota_reached_leaves_the_lead_unsold(buyers, start_router):
    buyers.set("a", bid=50, post_body=b'{"accepted": false, "reason": "Quota Reached"}')
    router = await start_router(make_config([make_buyer("a", buyers)]))

    answer, view = await sell(router, lead())

    assert answer["status"] == "unsold" and answer["payout"] is None
    assert answer["reason"]  # the seller is told why in a word
    assert view["buyer_id"] is None and view["price"] is None
    assert steps(view, "a") == [("ping", "bid", None), ("post", "rejected", "post_rejected")]


# time ------------------------------------------------------------------------------------------


async def test_a_hanging_buyer_does_not_hold_the_answer_past_the_budget(buyers, start_router):
    buyers.set("hangs", bid=99, ping_delay_s=10)
    buyers.set("honest", bid=20)
    config = make_config(
        [
            make_buyer("hangs", buyers, ping={"timeout_ms": 5000}),  # its own timeout is no help
            make_buyer("honest", buyers),
        ],
        router={"budget_ms": 1000, "post_reserve_ms": 300},
    )
    router = await start_router(config)

    started = time.perf_counter()
    answer, _ = await sell(router, lead())
    elapsed = time.perf_counter() - started
    view = await router.admin(answer["id"])

    assert elapsed < 1.0 + 0.4, f"answered after {elapsed:.3f}s"
    assert answer["status"] == "sold" and answer["auction_ms"] <= 1000
    assert view["buyer_id"] == "honest" and view["price"] == 20
    assert steps(view, "hangs") == [("ping", "failed", "timeout")]
    assert steps(view, "honest") == [("ping", "bid", None), ("post", "accepted", None)]
    assert len(buyers.recorded("hangs").pings) == 1 and buyers.recorded("hangs").posts == []


async def test_every_buyer_hanging_still_gets_the_seller_an_answer_in_time(buyers, start_router):
    for name in "ab":
        buyers.set(name, bid=50, ping_delay_s=10)
    config = make_config(
        [make_buyer(n, buyers, ping={"timeout_ms": 5000}) for n in "ab"],
        router={"budget_ms": 1000, "post_reserve_ms": 300},
    )
    router = await start_router(config)

    started = time.perf_counter()
    answer, view = await sell(router, lead())
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0 + 0.4, f"answered after {elapsed:.3f}s"
    assert answer["status"] == "unsold"
    for name in "ab":
        assert steps(view, name) == [("ping", "failed", "timeout")]


async def test_a_post_timeout_leaves_the_lead_pending(buyers, start_router):
    buyers.set("slow", bid=50, post_delay_s=3)
    buyers.set("next", bid=30)
    config = make_config(
        [make_buyer("slow", buyers, post={"timeout_ms": 200}), make_buyer("next", buyers)]
    )
    router = await start_router(config)

    answer, view = await sell(router, lead())

    assert answer["status"] == "pending" and answer["reason"] == "post_unknown"
    assert answer["payout"] is None
    assert view["status"] == "pending" and view["buyer_id"] == "slow"
    assert steps(view, "slow") == [("ping", "bid", None), ("post", "unknown", "post_unknown")]
    assert steps(view, "next") == [("ping", "bid", None)]
    assert len(buyers.recorded("slow").posts) == 1
    assert buyers.recorded("next").posts == []  # never risk selling the lead twice


async def test_a_post_hanging_past_the_budget_is_cut_at_the_budget(buyers, start_router):
    buyers.set("slow", bid=50, post_delay_s=10)
    config = make_config(
        [make_buyer("slow", buyers, post={"timeout_ms": 5000})],
        router={"budget_ms": 1000, "post_reserve_ms": 300},
    )
    router = await start_router(config)

    started = time.perf_counter()
    answer, view = await sell(router, lead())
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0 + 0.4, f"answered after {elapsed:.3f}s"
    assert answer["status"] == "pending" and answer["reason"] == "post_unknown"
    assert steps(view, "slow") == [("ping", "bid", None), ("post", "unknown", "post_unknown")]


async def test_a_post_timeout_goes_on_down_the_tree_when_the_buyer_allows_it(buyers, start_router):
    buyers.set("slow", bid=50, post_delay_s=3)
    buyers.set("next", bid=30)
    config = make_config(
        [
            make_buyer("slow", buyers, post={"timeout_ms": 200}, on_post_timeout="next"),
            make_buyer("next", buyers),
        ]
    )
    router = await start_router(config)

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold" and answer["payout"] == 24.0
    assert view["buyer_id"] == "next" and view["price"] == 30
    assert steps(view, "slow") == [("ping", "bid", None), ("post", "unknown", "post_unknown")]
    assert steps(view, "next") == [("ping", "bid", None), ("post", "accepted", None)]
    assert len(buyers.recorded("slow").posts) == 1 and len(buyers.recorded("next").posts) == 1

    # when nobody after it buys, the lead may still be the timed-out buyer's: pending
    buyers.set("next", bid=30, accept_post=False)
    answer, view = await sell(router, lead())

    assert answer["status"] == "pending" and answer["reason"] == "post_unknown"
    assert view["buyer_id"] == "slow" and answer["payout"] is None
    assert steps(view, "next") == [("ping", "bid", None), ("post", "rejected", "post_rejected")]


# fixed prices and money ------------------------------------------------------------------------


async def test_a_fixed_price_buyer_wins_without_a_ping_and_loses_to_a_higher_bid(
    buyers, start_router
):
    buyers.set("fixed")
    buyers.set("bidder", bid=30)
    config = make_config(
        [make_buyer("fixed", buyers, pricing="fixed", price=40), make_buyer("bidder", buyers)]
    )
    router = await start_router(config)

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold" and answer["payout"] == 32.0
    assert view["buyer_id"] == "fixed" and view["price"] == 40
    assert not any(e["step"] == "ping" for e in view["trace"] if e["buyer_id"] == "fixed")
    assert steps(view, "fixed") == [("offer", "bid", None), ("post", "accepted", None)]
    assert {"buyer_id": "fixed", "bid": 40, "result": "bid", "reason": None} in view["bids"]
    assert buyers.recorded("fixed").pings == []
    assert [p["price"] for p in buyers.recorded("fixed").posts] == [40]
    assert buyers.recorded("bidder").posts == []

    buyers.set("bidder", bid=50)
    answer, view = await sell(router, lead())

    assert answer["status"] == "sold"
    assert view["buyer_id"] == "bidder" and view["price"] == 50
    assert buyers.recorded("fixed").pings == []
    assert len(buyers.recorded("fixed").posts) == 1  # still only the first lead's post


@pytest.mark.parametrize(
    ("bid", "sold"), [(22, False), (24.99, False), (25, True), (30, True)], ids=str
)
async def test_a_fixed_payout_seller_is_never_sold_at_a_loss(buyers, start_router, bid, sold):
    # other-media is paid 20 per sold lead; min_margin 5 → breakeven 25
    buyers.set("a", bid=bid)
    router = await start_router(make_config([make_buyer("a", buyers)], router={"min_margin": 5}))

    answer, view = await sell(router, lead(), key=OTHER_KEY)

    if sold:
        assert answer["status"] == "sold" and answer["payout"] == 20
        assert view["buyer_id"] == "a" and view["price"] == bid and view["payout"] == 20
        assert view["margin"] == pytest.approx(bid - 20)
        assert steps(view, "a") == [("ping", "bid", None), ("post", "accepted", None)]
        assert len(buyers.recorded("a").posts) == 1
    else:
        assert answer["status"] == "unsold" and answer["payout"] is None
        assert view["buyer_id"] is None
        assert steps(view, "a") == [("ping", "declined", "below_breakeven")]
        assert view["bids"] == [
            {"buyer_id": "a", "bid": bid, "result": "declined", "reason": "below_breakeven"}
        ]
        assert buyers.recorded("a").posts == []


async def test_a_fixed_price_below_breakeven_is_skipped(buyers, start_router):
    buyers.set("fixed")
    buyers.set("bidder", bid=26)
    config = make_config(
        [make_buyer("fixed", buyers, pricing="fixed", price=22), make_buyer("bidder", buyers)],
        router={"min_margin": 5},
    )
    router = await start_router(config)

    answer, view = await sell(router, lead(), key=OTHER_KEY)

    assert answer["status"] == "sold" and answer["payout"] == 20
    assert view["buyer_id"] == "bidder" and view["price"] == 26
    assert steps(view, "fixed") == [("offer", "declined", "below_breakeven")]
    assert buyers.recorded("fixed").pings == [] and buyers.recorded("fixed").posts == []


async def test_bids_outside_floor_and_max_bid_are_declined(buyers, start_router):
    buyers.set("low", bid=4.99)
    buyers.set("high", bid=100.01)
    buyers.set("fair", bid=60)
    config = make_config(
        [make_buyer(n, buyers) for n in ("low", "high", "fair")],
        router={"floor": 5, "max_bid": 100},
    )
    router = await start_router(config)

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold"
    assert view["buyer_id"] == "fair" and view["price"] == 60
    assert steps(view, "low") == [("ping", "declined", "below_floor")]
    assert steps(view, "high") == [("ping", "declined", "above_max_bid")]
    assert {(b["buyer_id"], b["bid"], b["reason"]) for b in view["bids"]} == {
        ("low", 4.99, "below_floor"),
        ("high", 100.01, "above_max_bid"),
        ("fair", 60, None),
    }
    assert buyers.recorded("low").posts == [] and buyers.recorded("high").posts == []


async def test_an_expired_bid_is_not_posted_to(buyers, start_router):
    # "quick" bids at once but its bid lives 20 ms; the tier closes only when "slow" answers.
    buyers.set("quick", bid=50, expires_in_ms=20)
    buyers.set("slow", bid=30, ping_delay_s=0.2)
    config = make_config([make_buyer(n, buyers) for n in ("quick", "slow")])
    router = await start_router(config)

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold"
    assert view["buyer_id"] == "slow" and view["price"] == 30
    assert [e for e in steps(view, "quick") if e[0] == "post"] == [
        ("post", "skipped", "bid_expired")
    ]
    assert buyers.recorded("quick").posts == []


# eligibility -----------------------------------------------------------------------------------

# the sample mva-legal lead: vertical mva, FL 33101, seller acme-media, has_attorney false
FILTER_CASES = [
    # docs/operating.md, "The trace": buyers of other verticals or states are not candidates at
    # all (the index leaves them out): they are counted in the operator view's not_candidates,
    # not traced one by one
    pytest.param(
        {"verticals": ["solar", "final-expense"]}, "index:filter:vertical", id="verticals"
    ),
    pytest.param({"verticals": ["solar", "mva"]}, None, id="verticals-ok"),
    pytest.param({"filters": {"states": ["GA", "AL"]}}, "index:filter:state", id="states"),
    pytest.param({"filters": {"states": ["GA", "FL"]}}, None, id="states-ok"),
    pytest.param({"filters": {"zip_prefixes": ["300", "3310"]}}, None, id="zip-ok"),
    pytest.param({"filters": {"zip_prefixes": ["300", "332"]}}, "filter:zip", id="zip_prefixes"),
    pytest.param({"filters": {"sellers": ["other-media"]}}, "filter:seller", id="sellers"),
    pytest.param({"filters": {"require": {"has_attorney": True}}}, "filter:field", id="require"),
    pytest.param(
        {"filters": {"ranges": {"at_fault_percent": {"max": 20}}}}, "filter:field", id="ranges"
    ),
    pytest.param({"filters": {"ranges": {"at_fault_percent": {"min": 50}}}}, None, id="range-ok"),
]


@pytest.mark.parametrize(("keys", "reason"), FILTER_CASES)
async def test_a_filtered_buyer_is_never_pinged(buyers, start_router, keys, reason):
    buyers.set("picky", bid=90)
    buyers.set("anyone", bid=10)
    config = make_config([make_buyer("picky", buyers, **keys), make_buyer("anyone", buyers)])
    router = await start_router(config)

    answer, view = await sell(router, lead(at_fault_percent=50))

    assert answer["status"] == "sold"
    if reason is None:  # the filter matches: the buyer takes part (and wins)
        assert view["buyer_id"] == "picky"
        assert len(buyers.recorded("picky").pings) == 1
        return
    assert view["buyer_id"] == "anyone" and view["price"] == 10
    assert buyers.recorded("picky").pings == [] and buyers.recorded("picky").posts == []
    if reason.startswith("index:"):
        assert steps(view, "picky") == []
        assert view["not_candidates"] == {reason.removeprefix("index:"): 1}
    else:
        assert steps(view, "picky") == [("skip", "skipped", reason)]
        assert view["not_candidates"] == {}


def _hours_around(hour: int) -> str:
    """A 3-hour window holding `hour` (from the hour before it), wrapping midnight if need be."""
    return f"{(hour - 1) % 24:02d}:00-{(hour + 2) % 24:02d}:00"


async def test_schedules_follow_the_buyers_timezone(buyers, start_router):
    # Tokyo is UTC+9 all year: a window around the current UTC hour is closed in Tokyo, and a
    # window around the current Tokyo hour is closed in UTC. A router reading the wrong clock
    # would get both wrong.
    now_utc = datetime.now(UTC)
    now_tokyo = now_utc.astimezone(ZoneInfo("Asia/Tokyo"))
    if now_tokyo.minute == 59 and now_tokyo.second >= 55:  # keep clear of an hour boundary
        await asyncio.sleep(6)
        now_utc = datetime.now(UTC)
        now_tokyo = now_utc.astimezone(ZoneInfo("Asia/Tokyo"))
    other_days = [d for d in WEEKDAYS if d != WEEKDAYS[now_tokyo.weekday()]]
    utc_hours = {"hours": _hours_around(now_utc.hour)}
    tokyo_hours = {"hours": _hours_around(now_tokyo.hour)}
    for name, bid in (("utc-hours", 90), ("off-today", 90), ("tokyo-hours", 10), ("in-utc", 5)):
        buyers.set(name, bid=bid)
    config = make_config(
        [
            # no timezone of their own: the router's (Tokyo) applies
            make_buyer("utc-hours", buyers, schedule=utc_hours),
            make_buyer("off-today", buyers, schedule={"days": other_days}),
            make_buyer("tokyo-hours", buyers, schedule=tokyo_hours),
            # its own timezone wins over the router's
            make_buyer("in-utc", buyers, schedule=utc_hours, timezone="UTC"),
        ],
        router={"timezone": "Asia/Tokyo"},
    )
    router = await start_router(config)

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold"
    assert view["buyer_id"] == "tokyo-hours" and view["price"] == 10
    for closed in ("utc-hours", "off-today"):
        assert steps(view, closed) == [("skip", "skipped", "schedule")]
        assert buyers.recorded(closed).pings == []
    for open_now in ("tokyo-hours", "in-utc"):
        assert len(buyers.recorded(open_now).pings) == 1
    assert steps(view, "in-utc") == [("ping", "bid", None)]


@pytest.mark.parametrize(
    "change",
    [{"omit": ("tcpa_consent",)}, {"tcpa_consent": False}],
    ids=["no-consent", "consent-false"],
)
async def test_a_lead_without_consent_is_rejected(buyers, start_router, change):
    buyers.set("a", bid=50)
    router = await start_router(make_config([make_buyer("a", buyers)]))

    answer, view = await sell(router, lead(**change))

    assert answer["status"] == "rejected" and answer["reason"] == "consent_required"
    assert answer["payout"] is None
    assert view["status"] == "rejected" and view["buyer_id"] is None and view["trace"] == []
    assert buyers.recorded("a").pings == []


async def test_a_vertical_the_seller_may_not_send_is_rejected(buyers, start_router):
    buyers.set("a", bid=50)
    sellers = [{"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8, "verticals": ["solar"]}]
    router = await start_router(make_config([make_buyer("a", buyers)], sellers=sellers))

    answer, view = await sell(router, lead())

    assert answer["status"] == "rejected" and answer["reason"] == "vertical_not_allowed"
    assert view["trace"] == [] and buyers.recorded("a").pings == []


async def test_a_vertical_nobody_buys_is_rejected(buyers, start_router):
    buyers.set("a", bid=50)
    router = await start_router(make_config([make_buyer("a", buyers, verticals=["mva"])]))

    answer, view = await sell(router, lead("solar"))

    assert answer["status"] == "rejected" and answer["reason"] == "no_buyer_for_vertical"
    assert view["status"] == "rejected" and view["vertical"] == "solar"
    assert buyers.recorded("a").pings == []


# test leads ------------------------------------------------------------------------------------


async def test_a_test_lead_runs_the_auction_but_does_not_count_against_caps(buyers, start_router):
    buyers.set("capped", bid=20)
    router = await start_router(make_config([make_buyer("capped", buyers, caps={"daily": 1})]))

    answer, view = await sell(router, lead(test=True))
    assert answer["status"] == "sold" and answer.get("test") is True
    assert view["buyer_id"] == "capped" and view["test"] is True
    assert buyers.recorded("capped").pings[0]["test"] is True
    assert buyers.recorded("capped").posts[0]["test"] is True
    async with router.session.get(router.url("/metrics")) as r:
        metrics = await r.text()
    assert 'pingtree_revenue_total{buyer="capped"}' not in metrics  # no revenue from a test

    answer, view = await sell(router, lead())  # the one real sale the cap allows
    assert answer["status"] == "sold" and view["buyer_id"] == "capped"
    assert buyers.recorded("capped").pings[1]["test"] is False
    async with router.session.get(router.url("/metrics")) as r:
        metrics = await r.text()
    assert 'pingtree_revenue_total{buyer="capped"} 20.0' in metrics  # the real one counts

    # the control: the real sale did count, another consumer's lead finds the buyer capped
    answer, view = await sell(router, lead(phone="+14155552671", email="x@example.org"))
    assert answer["status"] == "unsold"
    assert steps(view, "capped") == [("skip", "skipped", "cap:daily")]
    assert len(buyers.recorded("capped").pings) == 2


async def test_a_test_lead_does_not_count_against_dedup(buyers, start_router):
    buyers.set("deduper", bid=20)
    router = await start_router(make_config([make_buyer("deduper", buyers, dedup_days=30)]))

    answer, _ = await sell(router, lead(test=True))
    assert answer["status"] == "sold"

    answer, view = await sell(router, lead())  # same consumer, for real
    assert answer["status"] == "sold" and view["buyer_id"] == "deduper"

    answer, view = await sell(router, lead())  # same consumer again: now a duplicate
    assert answer["status"] != "sold"
    assert steps(view, "deduper") == [("skip", "skipped", "dedup")]
    assert len(buyers.recorded("deduper").pings) == 2
    assert len(buyers.recorded("deduper").posts) == 2


# caps ------------------------------------------------------------------------------------------


async def test_a_cap_reserved_for_a_rejected_post_is_released(buyers, start_router):
    buyers.set("capped", bid=50, accept_post=False)
    buyers.set("backup", bid=10)
    config = make_config(
        [make_buyer("capped", buyers, caps={"daily": 1}), make_buyer("backup", buyers)]
    )
    router = await start_router(config)

    answer, view = await sell(router, lead())
    assert view["buyer_id"] == "backup"

    buyers.set("capped", bid=50)
    answer, view = await sell(router, lead())
    assert answer["status"] == "sold" and view["buyer_id"] == "capped"
    assert len(buyers.recorded("capped").posts) == 2


async def test_a_post_timeout_keeps_the_cap_reserved(buyers, start_router):
    # the buyer may have taken the lead: its cap slot stays used (never over a cap)
    buyers.set("capped", bid=50, post_delay_s=3)
    buyers.set("backup", bid=10)
    config = make_config(
        [
            make_buyer("capped", buyers, caps={"daily": 1}, post={"timeout_ms": 200}),
            make_buyer("backup", buyers),
        ]
    )
    router = await start_router(config)

    answer, _ = await sell(router, lead())
    assert answer["status"] == "pending"

    buyers.set("capped", bid=50)
    answer, view = await sell(router, lead(phone="+14155552671", email="y@example.org"))
    assert answer["status"] == "sold" and view["buyer_id"] == "backup"
    assert steps(view, "capped") == [("skip", "skipped", "cap:daily")]


async def test_a_daily_budget_refuses_the_bid_that_would_exceed_it(buyers, start_router):
    buyers.set("budgeted", bid=30)
    buyers.set("backup", bid=10)
    config = make_config(
        [make_buyer("budgeted", buyers, caps={"daily_budget": 50}), make_buyer("backup", buyers)]
    )
    router = await start_router(config)

    answer, view = await sell(router, lead())
    assert view["buyer_id"] == "budgeted"

    answer, view = await sell(router, lead(phone="+14155552671", email="z@example.org"))
    assert answer["status"] == "sold" and view["buyer_id"] == "backup"
    # 30 spent, 20 left: pinged (not yet at the cap), but a 30 bid cannot be reserved
    assert steps(view, "budgeted") == [("ping", "bid", None), ("post", "skipped", "cap:budget")]
    assert len(buyers.recorded("budgeted").pings) == 2
    assert len(buyers.recorded("budgeted").posts) == 1


async def test_two_concurrent_leads_cannot_both_take_the_last_cap_slot(buyers, start_router):
    buyers.set("capped", bid=50, ping_delay_s=0.1)
    buyers.set("backup", bid=10, ping_delay_s=0.1)
    config = make_config(
        [make_buyer("capped", buyers, caps={"daily": 1}), make_buyer("backup", buyers)]
    )
    router = await start_router(config)

    first, second = await asyncio.gather(
        sell(router, lead()),
        sell(router, lead(phone="+14155552671", email="w@example.org")),
    )

    assert {first[1]["buyer_id"], second[1]["buyer_id"]} == {"capped", "backup"}
    loser = first[1] if first[1]["buyer_id"] == "backup" else second[1]
    assert steps(loser, "capped") == [("ping", "bid", None), ("post", "skipped", "cap:daily")]
    assert len(buyers.recorded("capped").pings) == 2
    assert len(buyers.recorded("capped").posts) == 1


async def test_two_concurrent_leads_of_one_consumer_sell_to_a_dedup_buyer_once(
    buyers, start_router
):
    buyers.set("deduper", bid=50, ping_delay_s=0.1)
    buyers.set("backup", bid=10, ping_delay_s=0.1)
    config = make_config(
        [make_buyer("deduper", buyers, dedup_days=30), make_buyer("backup", buyers)]
    )
    router = await start_router(config)

    first, second = await asyncio.gather(sell(router, lead()), sell(router, lead()))

    assert {first[1]["buyer_id"], second[1]["buyer_id"]} == {"deduper", "backup"}
    loser = first[1] if first[1]["buyer_id"] == "backup" else second[1]
    assert steps(loser, "deduper") == [("ping", "bid", None), ("post", "skipped", "dedup")]
    assert len(buyers.recorded("deduper").posts) == 1


# views -----------------------------------------------------------------------------------------


async def test_who_sees_what(buyers, start_router):
    buyers.set("a", bid=33.33)
    buyers.set("b", bid=12)
    sellers = [
        {"id": "acme-media", "api_key": SELLER_KEY, "revshare": 0.8},
        {"id": "open-media", "api_key": OTHER_KEY, "revshare": 0.8, "reveal": ["buyer", "price"]},
    ]
    router = await start_router(make_config([make_buyer(n, buyers) for n in "ab"], sellers=sellers))

    hidden, view = await sell(router, lead())
    assert set(hidden) == SELLER_VIEW_KEYS, hidden
    assert hidden["status"] == "sold" and hidden["payout"] == 26.66  # 26.664 rounded down
    async with router.session.get(
        router.url(f"/v1/leads/{hidden['id']}"), headers={"X-API-Key": SELLER_KEY}
    ) as r:
        assert r.status == 200
        assert await r.json() == hidden
    async with router.session.get(
        router.url(f"/v1/leads/{hidden['id']}"), headers={"X-API-Key": OTHER_KEY}
    ) as r:
        assert r.status == 404  # another seller's lead

    assert view["buyer_id"] == "a" and view["price"] == 33.33
    assert view["payout"] == 26.66 and view["margin"] == 6.67
    assert {(b["buyer_id"], b["bid"]) for b in view["bids"]} == {("a", 33.33), ("b", 12)}
    assert steps(view, "a") == [("ping", "bid", None), ("post", "accepted", None)]
    assert all(isinstance(e["at_ms"], int) and e["at_ms"] >= 0 for e in view["trace"])

    revealed, _ = await sell(router, lead(), key=OTHER_KEY)
    assert set(revealed) == SELLER_VIEW_KEYS | {"buyer_id", "price"}
    assert revealed["buyer_id"] == "a" and revealed["price"] == 33.33
    assert revealed["payout"] == 26.66


async def test_the_buyers_redirect_url_reaches_the_seller(buyers, start_router):
    buyers.set("a", bid=40, redirect_url="https://buyer.example/thanks?ref=abc")
    router = await start_router(make_config([make_buyer("a", buyers)]))

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold"
    assert answer["redirect_url"] == "https://buyer.example/thanks?ref=abc"
    assert view["redirect_url"] == "https://buyer.example/thanks?ref=abc"
    assert view["buyer_lead_id"] == "a-1"


# the circuit breaker ---------------------------------------------------------------------------


async def test_a_failing_buyer_is_skipped_once_its_breaker_opens(buyers, start_router):
    buyers.set("flaky", bid=90, ping_status=500)
    buyers.set("steady", bid=10)
    config = make_config(
        [make_buyer(n, buyers) for n in ("flaky", "steady")],
        router={"breaker": {"window": 4, "min_calls": 4, "failure_ratio": 0.5, "cooldown_s": 30}},
    )
    router = await start_router(config)

    for _ in range(4):
        answer, view = await sell(router, lead())
        assert answer["status"] == "sold" and view["buyer_id"] == "steady"
        failed = [e for e in view["trace"] if e["buyer_id"] == "flaky"]
        assert [(e["step"], e["result"], e["reason"], e.get("http_status")) for e in failed] == [
            ("ping", "failed", "http_error", 500)
        ]

    answer, view = await sell(router, lead())

    assert answer["status"] == "sold" and view["buyer_id"] == "steady"
    assert steps(view, "flaky") == [("skip", "skipped", "breaker_open")]
    assert len(buyers.recorded("flaky").pings) == 4
    assert buyers.recorded("flaky").posts == []


async def test_a_buyer_is_probed_again_after_the_breaker_cooldown(buyers, start_router):
    buyers.set("flaky", bid=90, ping_status=500)
    buyers.set("steady", bid=10)
    config = make_config(
        [make_buyer(n, buyers) for n in ("flaky", "steady")],
        router={"breaker": {"window": 4, "min_calls": 4, "failure_ratio": 0.5, "cooldown_s": 0.3}},
    )
    router = await start_router(config)
    for _ in range(4):
        await sell(router, lead())
    _, view = await sell(router, lead())
    assert steps(view, "flaky") == [("skip", "skipped", "breaker_open")]

    await asyncio.sleep(0.35)
    buyers.set("flaky", bid=90)  # healthy again
    answer, view = await sell(router, lead())

    assert answer["status"] == "sold" and view["buyer_id"] == "flaky"
    assert steps(view, "flaky") == [("ping", "bid", None), ("post", "accepted", None)]
    assert len(buyers.recorded("flaky").pings) == 5
