"""Ranking by expected value and tie-breaks (pingtree/core/ranking.py), DESIGN §14: tables of
offers, factors, tie-breaks and turns, and the post order they give."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pingtree.core.ranking import (
    BY_PRICE,
    BuyerStats,
    Offer,
    Ranking,
    TieBreak,
    expected_value_factors,
    offer_value,
    rank,
    tie_group,
    tie_group_key,
    weighted_sequence,
)
from tests.core.test_ranking import RANK_CASES, offer


def D(value: str) -> Decimal:
    return Decimal(value)


def ids(offers: list[Offer]) -> list[str]:
    return [o.buyer_id for o in offers]


# Three fixed-price buyers at $30 in file order a, b, c: where ties happen most.
FLAT = [offer("a", "30", order=0), offer("b", "30", order=1), offer("c", "30", order=2)]


@pytest.mark.parametrize(("offers", "expected"), RANK_CASES)
@pytest.mark.parametrize("turn", [None, 1, 7])
def test_the_defaults_rank_as_before_whatever_the_turn(
    offers: list[Offer], expected: list[str], turn: int | None
) -> None:
    assert ids(rank(offers, BY_PRICE, turn)) == expected
    assert ids(rank(offers, Ranking(tie_break="priority"), turn)) == expected


def valued(story: str, offers: list[Offer], factors: dict[str, str], expected: list[str]) -> Any:
    return pytest.param(offers, {k: D(v) for k, v in factors.items()}, expected, id=story)


VALUE_CASES = [
    valued(
        "$40 bidder accepting 20% (EV 8) falls behind $30 accepting 90% (EV 27)",
        [offer("picky", "40", order=0), offer("steady", "30", order=1)],
        {"picky": "0.2", "steady": "0.9"},
        ["steady", "picky"],
    ),
    valued(
        "no factors -> by price",
        [offer("picky", "40", order=0), offer("steady", "30", order=1)],
        {},
        ["picky", "steady"],
    ),
    valued(
        "a buyer below min_sales (no factor) ranks by its bid: $30 beats EV 27",
        [offer("new", "28", order=0), offer("steady", "30", order=1), offer("x", "29", order=2)],
        {"steady": "0.9"},
        ["x", "new", "steady"],
    ),
    valued(
        "equal expected values tie -> priority, then answer time",
        [
            offer("late", "50", answered_ms=300, order=0),
            offer("early", "25", answered_ms=100, order=1),
        ],
        {"late": "0.5", "early": "1"},
        ["early", "late"],
    ),
    valued(
        "values rounded to the cent tie: 30 x 0.9001 = 27.003 and 27.00",
        [offer("p2", "30", priority=2, order=0), offer("p1", "27", priority=1, order=1)],
        {"p2": "0.9001", "p1": "1"},
        ["p1", "p2"],
    ),
    valued(
        "a factor never above 1 but 0 puts a buyer last",
        [offer("never", "90", order=0), offer("a", "1", order=1)],
        {"never": "0"},
        ["a", "never"],
    ),
]


@pytest.mark.parametrize(("offers", "factors", "expected"), VALUE_CASES)
def test_rank_by_expected_value(
    offers: list[Offer], factors: dict[str, Decimal], expected: list[str]
) -> None:
    assert ids(rank(offers, Ranking(factors=factors))) == expected


def test_the_price_charged_stays_the_bid() -> None:
    ranking = Ranking(factors={"picky": D("0.2")})
    top = rank([offer("picky", "40"), offer("b", "5", order=1)], ranking)[0]
    assert (top.buyer_id, top.price, offer_value(top, ranking)) == ("picky", D("40"), D("8.00"))


def turned(story: str, tie_break: TieBreak, turn: int | None, expected: list[str]) -> Any:
    return pytest.param(tie_break, turn, expected, id=story)


TURN_CASES = [
    turned("round robin, turn 1 -> a first", "round_robin", 1, ["a", "b", "c"]),
    turned("round robin, turn 2 -> b first, then c, a", "round_robin", 2, ["b", "c", "a"]),
    turned("round robin, turn 3 -> c first, then a, b", "round_robin", 3, ["c", "a", "b"]),
    turned("round robin, turn 4 -> a again", "round_robin", 4, ["a", "b", "c"]),
    turned("round robin, no turn (store failed) -> priority", "round_robin", None, ["a", "b", "c"]),
    turned("weighted 1:1:1 is round robin, turn 2", "weighted", 2, ["b", "c", "a"]),
    turned("weighted, no turn (store failed) -> priority", "weighted", None, ["a", "b", "c"]),
]


@pytest.mark.parametrize(("tie_break", "turn", "expected"), TURN_CASES)
def test_a_tie_is_turned(tie_break: TieBreak, turn: int | None, expected: list[str]) -> None:
    assert ids(rank(FLAT, Ranking(tie_break=tie_break), turn)) == expected


def test_round_robin_ignores_answer_times_and_priorities_inside_a_tie() -> None:
    """The rotation's order is the file order: answer times vary lead to lead, and a rotation
    over them would not be one."""
    offers = [
        offer("c", "30", order=2, answered_ms=1),
        offer("a", "30", order=0, answered_ms=90, priority=2),
        offer("b", "30", order=1, answered_ms=50),
    ]
    ranking = Ranking(tie_break="round_robin")
    assert [ids(rank(offers, ranking, turn))[0] for turn in (1, 2, 3)] == ["a", "b", "c"]


def test_only_equal_offers_are_turned() -> None:
    offers = [offer("top", "40", order=3), *FLAT, offer("low", "10", order=4)]
    ranking = Ranking(tie_break="round_robin")
    assert ids(rank(offers, ranking, 2)) == ["top", "b", "c", "a", "low"]


def test_round_robin_is_even_within_one_over_any_run_of_turns() -> None:
    ranking = Ranking(tie_break="round_robin")
    wins = Counter(rank(FLAT, ranking, turn)[0].buyer_id for turn in range(1, 301))
    assert wins == {"a": 100, "b": 100, "c": 100}
    wins = Counter(rank(FLAT, ranking, turn)[0].buyer_id for turn in range(5, 105))
    assert max(wins.values()) - min(wins.values()) <= 1


def test_weighted_wins_match_the_weights() -> None:
    ranking = Ranking(tie_break="weighted", weights={"a": 3, "b": 2, "c": 1})
    wins = Counter(rank(FLAT, ranking, turn)[0].buyer_id for turn in range(1, 301))
    assert wins == {"a": 150, "b": 100, "c": 50}


@pytest.mark.parametrize("weights", [(3, 2, 1), (5, 1, 1, 3), (1, 1), (7,), (1000, 1)])
def test_the_weighted_sequence_is_smooth(weights: tuple[int, ...]) -> None:
    """Each index its weight's number of times a period; and from any turn on, after any number
    of turns, each has won within one of its share (so the routers' shared counter gives each
    buyer its share within one win, wherever the counter stands)."""
    sequence = weighted_sequence(weights)
    total = sum(weights)
    assert Counter(sequence) == dict(enumerate(weights))
    for start in range(0, total, max(1, total // 50)):
        wins: Counter[int] = Counter()
        for n in range(1, min(2 * total, 400)):
            wins[sequence[(start + n - 1) % total]] += 1
            for i, weight in enumerate(weights):
                assert abs(wins[i] - n * weight / total) <= 1, (start, n, i)


def test_weighted_runs_no_buyer_twice_in_a_row_when_another_weighs_as_much() -> None:
    assert weighted_sequence((3, 2, 1)) == (0, 1, 0, 2, 1, 0)


def test_weighted_falls_back_in_the_order_the_sequence_names_next() -> None:
    ranking = Ranking(tie_break="weighted", weights={"a": 3, "b": 2, "c": 1})
    # sequence a b a c b a: turn 3 is the second a; after it come c, then b
    assert ids(rank(FLAT, ranking, 3)) == ["a", "c", "b"]


def grouped(story: str, offers: list[Offer], factors: dict[str, str], expected: Any) -> Any:
    return pytest.param(offers, {k: D(v) for k, v in factors.items()}, expected, id=story)


GROUP_CASES = [
    grouped("no offers -> no tie", [], {}, None),
    grouped("different prices -> no tie", [offer("a", "30"), offer("b", "31")], {}, None),
    grouped("three at $30 -> a tie, in file order", list(reversed(FLAT)), {}, ("a", "b", "c")),
    grouped(
        "the highest tie: $40 single, then $30 x2, then $10 x2 -> the $30s",
        [
            offer("top", "40", order=0),
            offer("y", "30", order=2),
            offer("x", "30", order=1),
            offer("l1", "10", order=3),
            offer("l2", "10", order=4),
        ],
        {},
        ("x", "y"),
    ),
    grouped(
        "equal expected values tie: $40 x 0.75 and $30",
        [offer("a", "40", order=0), offer("b", "30", order=1)],
        {"a": "0.75"},
        ("a", "b"),
    ),
]


@pytest.mark.parametrize(("offers", "factors", "expected"), GROUP_CASES)
def test_tie_group(
    offers: list[Offer], factors: dict[str, Decimal], expected: tuple[str, ...] | None
) -> None:
    assert tie_group(offers, Ranking(factors=factors)) == expected


def test_a_tie_groups_key_names_its_buyers() -> None:
    assert tie_group_key(("a", "b.2", "c-3")) == "a,b.2,c-3"


def stats(sales: int, acceptance: str | None, returns: str | None = None) -> BuyerStats:
    return BuyerStats(sales, None if acceptance is None else D(acceptance), returns and D(returns))


FACTOR_CASES = [
    pytest.param({}, 50, {}, id="no figures -> no factors"),
    pytest.param({"a": stats(49, "0.5")}, 50, {}, id="49 sales, min 50 -> by its bid"),
    pytest.param({"a": stats(50, "0.5")}, 50, {"a": D("0.5")}, id="50 sales -> acceptance"),
    pytest.param({"a": stats(0, None)}, 0, {}, id="min 0 but no post measured -> by its bid"),
    pytest.param(
        {"a": stats(80, "0.8", "0.25")},
        50,
        {"a": D("0.600")},
        id="returns discount it: 0.8 x (1 - 0.25)",
    ),
    pytest.param(
        {"a": stats(80, "0.8", None)},
        50,
        {"a": D("0.8")},
        id="no return rate yet (issue 18) -> none returned",
    ),
]


@pytest.mark.parametrize(("figures", "min_sales", "expected"), FACTOR_CASES)
def test_expected_value_factors(
    figures: dict[str, BuyerStats], min_sales: int, expected: dict[str, Decimal]
) -> None:
    assert expected_value_factors(figures, min_sales) == expected


@st.composite
def market(draw: st.DrawFn) -> tuple[list[Offer], Ranking, int | None]:
    """Up to 8 offers at few distinct prices (ties are the point), some buyers with factors."""
    count = draw(st.integers(0, 8))
    offers = [
        Offer(
            buyer_id=f"b{i}",
            price=Decimal(draw(st.sampled_from(["10", "20", "30", "30.00", "40"]))),
            priority=draw(st.integers(1, 3)),
            answered_ms=draw(st.integers(0, 500)),
            order=i,
        )
        for i in draw(st.permutations(range(count)))
    ]
    factor = st.sampled_from([Decimal("0.5"), Decimal("0.75"), Decimal(1)])
    factors = {o.buyer_id: draw(factor) for o in offers if draw(st.booleans())}
    weights = {o.buyer_id: draw(st.integers(1, 5)) for o in offers}
    tie_break = draw(st.sampled_from(["priority", "round_robin", "weighted"]))
    turn = draw(st.none() | st.integers(1, 10_000))
    return offers, Ranking(factors, tie_break, weights), turn


@given(market())
def test_ranking_posts_each_offer_once_best_value_first_at_its_own_price(
    drawn: tuple[list[Offer], Ranking, int | None],
) -> None:
    offers, ranking, turn = drawn
    ordered = rank(offers, ranking, turn)
    assert sorted(ordered, key=lambda o: o.order) == sorted(offers, key=lambda o: o.order)
    values = [offer_value(o, ranking) for o in ordered]
    assert values == sorted(values, reverse=True)
    if turn is None or ranking.tie_break == "priority":  # ties as today: priority decides
        assert ordered == rank(offers, Ranking(ranking.factors))
    group = tie_group(offers, ranking)
    if group is not None:  # the highest tie's winner is one of its buyers
        first = next(o for o in ordered if o.buyer_id in group)
        assert offer_value(first, ranking) == max(
            offer_value(o, ranking) for o in offers if o.buyer_id in group
        )
