"""Tiers and ranking (pingtree/core/ranking.py), DESIGN §3: who is pinged together, who gets the
post."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pingtree.config import BuyerConfig, parse_config
from pingtree.core.ranking import Mode, Offer, plan_tiers, rank


def make_buyer(buyer_id: str, priority: int = 1, **overrides: Any) -> BuyerConfig:
    """A bidding buyer; keyword arguments are buyers.yaml keys."""
    raw: dict[str, Any] = {
        "id": buyer_id,
        "priority": priority,
        "ping": {"url": f"https://{buyer_id}.example/ping"},
        "post": {"url": f"https://{buyer_id}.example/post"},
    }
    raw.update(overrides)
    return BuyerConfig.model_validate(raw)


def tree(*buyers: str) -> list[BuyerConfig]:
    """Buyers in file order, written "id:priority" ("a:2"); a bare id has priority 1."""
    built = []
    for spec in buyers:
        buyer_id, _, priority = spec.partition(":")
        built.append(make_buyer(buyer_id, int(priority or 1)))
    return built


def plan(story: str, buyers: list[str], mode: Mode, expected: list[list[str]]) -> Any:
    return pytest.param(buyers, mode, expected, id=story)


PLAN_CASES = [
    plan("tiered, nobody eligible -> no tiers", [], "tiered", []),
    plan("waterfall, nobody eligible -> no tiers", [], "waterfall", []),
    plan("parallel, nobody eligible -> no tiers", [], "parallel", []),
    plan("tiered, one buyer -> one tier", ["a"], "tiered", [["a"]]),
    plan(
        "tiered, everyone priority 1 -> one tier in file order",
        ["zeta", "alpha", "mid"],
        "tiered",
        [["zeta", "alpha", "mid"]],
    ),
    plan(
        "tiered, priorities 1,2,1 -> tier 1 (a, c) then tier 2 (b)",
        ["a:1", "b:2", "c:1"],
        "tiered",
        [["a", "c"], ["b"]],
    ),
    plan(
        "tiered, file lists tier 3 first -> still pinged last",
        ["late:3", "first:1", "second:2"],
        "tiered",
        [["first"], ["second"], ["late"]],
    ),
    plan(
        "tiered, gaps in priority numbers (2, 5, 9) -> three tiers in order",
        ["nine:9", "two:2", "five:5"],
        "tiered",
        [["two"], ["five"], ["nine"]],
    ),
    plan(
        "tiered, ties keep file order, not alphabetical",
        ["zed:2", "amy:1", "bob:2", "ann:1"],
        "tiered",
        [["amy", "ann"], ["zed", "bob"]],
    ),
    plan(
        "waterfall, one buyer at a time by priority",
        ["a:2", "b:1", "c:3"],
        "waterfall",
        [["b"], ["a"], ["c"]],
    ),
    plan(
        "waterfall, ties in priority keep file order",
        ["a:2", "b:1", "c:2", "d:1"],
        "waterfall",
        [["b"], ["d"], ["a"], ["c"]],
    ),
    plan(
        "waterfall, everyone priority 1 -> file order",
        ["zeta", "alpha", "mid"],
        "waterfall",
        [["zeta"], ["alpha"], ["mid"]],
    ),
    plan(
        "parallel, priorities ignored -> one auction in file order",
        ["a:3", "b:1", "c:2"],
        "parallel",
        [["a", "b", "c"]],
    ),
    plan(
        "parallel, a single buyer -> one tier of one",
        ["solo:4"],
        "parallel",
        [["solo"]],
    ),
]


@pytest.mark.parametrize(("buyers", "mode", "expected"), PLAN_CASES)
def test_plan_tiers(buyers: list[str], mode: Mode, expected: list[list[str]]) -> None:
    tiers = plan_tiers(tree(*buyers), mode)
    assert [[buyer.id for buyer in tier] for tier in tiers] == expected


@pytest.mark.parametrize("mode", ["tiered", "waterfall", "parallel"])
def test_plan_tiers_from_buyers_yaml_keeps_file_order_and_fixed_price_buyers(mode: Mode) -> None:
    flat = {"id": "flat-35", "priority": 2, "pricing": "fixed", "price": 35}
    bidder_b = {"id": "bidder-b", "priority": 2, "ping": {"url": "https://b.example/ping"}}
    bidder_a = {"id": "bidder-a", "priority": 1, "ping": {"url": "https://a.example/ping"}}
    raw = {
        "sellers": [{"id": "acme-media", "api_key": "acme-secret-key-1"}],
        "buyers": [
            {**buyer, "post": {"url": f"https://{buyer['id']}.example/post"}}
            for buyer in (flat, bidder_b, bidder_a)
        ],
    }
    config = parse_config(raw, env={})
    tiers = [[buyer.id for buyer in tier] for tier in plan_tiers(config.buyers, mode)]
    assert (
        tiers
        == {
            "tiered": [["bidder-a"], ["flat-35", "bidder-b"]],
            "waterfall": [["bidder-a"], ["flat-35"], ["bidder-b"]],
            "parallel": [["flat-35", "bidder-b", "bidder-a"]],
        }[mode]
    )


# ranking ------------------------------------------------------------------------------------------


def offer(
    buyer_id: str,
    price: str,
    *,
    priority: int = 1,
    answered_ms: float = 100,
    order: int = 0,
) -> Offer:
    return Offer(
        buyer_id=buyer_id,
        price=Decimal(price),
        priority=priority,
        answered_ms=answered_ms,
        order=order,
    )


def ranked(story: str, offers: list[Offer], expected: list[str]) -> Any:
    return pytest.param(offers, expected, id=story)


RANK_CASES = [
    ranked("no offers -> nothing to post", [], []),
    ranked("one offer -> posted", [offer("a", "30")], ["a"]),
    ranked(
        "highest price first: $42.50 before $30 before $12",
        [offer("a", "30", order=0), offer("b", "12", order=1), offer("c", "42.50", order=2)],
        ["c", "a", "b"],
    ),
    ranked(
        "one cent decides: $30.01 before $30.00",
        [offer("a", "30.00", order=0), offer("b", "30.01", order=1)],
        ["b", "a"],
    ),
    ranked(
        "price beats priority: $30 from tier 2 before $25 from tier 1",
        [offer("t1", "25", priority=1, order=0), offer("t2", "30", priority=2, order=1)],
        ["t2", "t1"],
    ),
    ranked(
        "price beats speed: slow $40 before fast $35",
        [offer("fast", "35", answered_ms=10, order=0), offer("slow", "40", answered_ms=900)],
        ["slow", "fast"],
    ),
    ranked(
        "same price -> lower priority number first",
        [offer("p3", "30", priority=3, order=0), offer("p1", "30", priority=1, order=1)],
        ["p1", "p3"],
    ),
    ranked(
        "same price -> lower priority first even if it answered later",
        [
            offer("quick-p2", "30", priority=2, answered_ms=50, order=0),
            offer("slow-p1", "30", priority=1, answered_ms=700, order=1),
        ],
        ["slow-p1", "quick-p2"],
    ),
    ranked(
        "same price and priority -> earlier answer first",
        [
            offer("late", "30", answered_ms=450, order=0),
            offer("early", "30", answered_ms=120, order=1),
        ],
        ["early", "late"],
    ),
    ranked(
        "same price, priority and answer time -> file order",
        [
            offer("third", "30", answered_ms=100, order=2),
            offer("first", "30", answered_ms=100, order=0),
            offer("second", "30", answered_ms=100, order=1),
        ],
        ["first", "second", "third"],
    ),
    ranked(
        "$30 and $30.00 are the same price -> priority decides",
        [offer("p2", "30", priority=2, order=0), offer("p1", "30.00", priority=1, order=1)],
        ["p1", "p2"],
    ),
    ranked(
        "fixed-price $35 (no ping, offered at 0 ms) ties a $35 bid -> fixed first",
        [offer("bidder", "35", answered_ms=240, order=0), offer("flat", "35", answered_ms=0)],
        ["flat", "bidder"],
    ),
    ranked(
        "full fallback order across price, priority, answer time and file order",
        [
            offer("e", "20", priority=1, answered_ms=10, order=0),
            offer("d", "25", priority=2, answered_ms=30, order=1),
            offer("c", "25", priority=2, answered_ms=30, order=2),
            offer("b", "25", priority=2, answered_ms=20, order=3),
            offer("a", "25", priority=1, answered_ms=90, order=4),
            offer("top", "50", priority=3, answered_ms=99, order=5),
        ],
        ["top", "a", "b", "d", "c", "e"],
    ),
]


@pytest.mark.parametrize(("offers", "expected"), RANK_CASES)
def test_rank(offers: list[Offer], expected: list[str]) -> None:
    assert [o.buyer_id for o in rank(offers)] == expected


def test_rank_leaves_the_offers_as_given() -> None:
    offers = (offer("cheap", "10", order=0), offer("dear", "90", order=1))
    assert [o.buyer_id for o in rank(offers)] == ["dear", "cheap"]
    assert [o.buyer_id for o in offers] == ["cheap", "dear"]


def test_an_offer_is_built_with_keywords_only() -> None:
    """Nine fields, three of them optional ids and several numbers: by position, a price and a
    priority or two ids change places unnoticed."""
    with pytest.raises(TypeError):
        Offer("a", Decimal(30), 1, 0, 0)  # type: ignore[misc]
    assert offer("a", "30").price == Decimal(30)
