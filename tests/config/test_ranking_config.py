"""`router.ranking`, `router.tie_break` and buyers' `weight` in buyers.yaml (docs/ranking.md):
their defaults keep today's order, and each bad value is an error naming its path."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pingtree.config import parse_config
from tests.config.test_config import SECRETS, design_raw, errors_of


def test_the_defaults_rank_by_price_with_ties_by_priority() -> None:
    config = parse_config(design_raw(), SECRETS)
    ranking = config.router.ranking
    assert (ranking.by, ranking.window_days, ranking.min_sales) == ("price", 30, 50)
    assert ranking.refresh_s == 60
    assert config.router.tie_break == "priority"
    assert {buyer.weight for buyer in config.buyers} == {1}


def test_expected_value_and_weighted_ties_as_written() -> None:
    raw = design_raw()
    raw["router"]["ranking"] = {"by": "expected_value", "window_days": 7.5, "min_sales": 0}
    raw["router"]["tie_break"] = "weighted"
    raw["buyers"][1]["weight"] = 3
    config = parse_config(raw, SECRETS)
    assert config.router.ranking.by == "expected_value"
    assert Decimal(str(config.router.ranking.window_days)) == Decimal("7.5")
    assert config.router.ranking.min_sales == 0
    assert (config.router.tie_break, config.buyers[1].weight) == ("weighted", 3)


@pytest.mark.parametrize(
    ("where", "change", "path"),
    [
        ("router", {"tie_break": "fair"}, "router.tie_break"),
        ("router", {"ranking": {"by": "profit"}}, "router.ranking.by"),
        ("router", {"ranking": {"window_days": 0}}, "router.ranking.window_days"),
        ("router", {"ranking": {"min_sales": -1}}, "router.ranking.min_sales"),
        ("router", {"ranking": {"min_sale": 5}}, "router.ranking.min_sale"),
        ("buyer", {"weight": 0}, "weight"),
        ("buyer", {"weight": 1001}, "weight"),
    ],
)
def test_a_bad_ranking_value_is_an_error_naming_it(
    where: str, change: dict[str, Any], path: str
) -> None:
    raw = design_raw()
    (raw["router"] if where == "router" else raw["buyers"][0]).update(change)
    errors = errors_of(raw)
    assert any(path in at for at, _ in errors), errors
