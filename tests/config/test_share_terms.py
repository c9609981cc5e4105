"""`sell`, `max_buyers` (sellers[], verticals.<name>) and `shared` (buyers[]): shared leads'
config (DESIGN §14), each mistake refused at its path, all at once."""

from __future__ import annotations

from typing import Any

import pytest

from pingtree.config import parse_config
from pingtree.core.errors import ConfigError

BUYER = {"id": "b", "ping": {"url": "http://x/p"}, "post": {"url": "http://x/q"}}


def raw(seller: dict[str, Any], vertical: dict[str, Any], shared: bool = True) -> dict[str, Any]:
    return {
        "sellers": [{"id": "s", "api_key": "12345678", **seller}],
        "buyers": [{**BUYER, "shared": shared}],
        "verticals": {"Final-Expense": vertical},
    }


@pytest.mark.parametrize(
    ("seller", "vertical", "shared", "path", "message"),
    [
        ({"sell": "shared"}, {}, True, "sellers[0:s].max_buyers", "needs max_buyers"),
        ({"sell": "shared", "max_buyers": 1}, {}, True, "sellers[0:s].max_buyers", "2 to 10"),
        ({"sell": "shared", "max_buyers": 11}, {}, True, "sellers[0:s].max_buyers", "2 to 10"),
        ({"max_buyers": 3}, {}, True, "sellers[0:s].max_buyers", "only for sell: shared"),
        ({"sell": "split"}, {}, True, "sellers[0:s].sell", "Input should be"),
        ({}, {"sell": "shared"}, True, "verticals.final-expense.max_buyers", "needs max_buyers"),
        ({}, {"max_buyers": 2}, True, "verticals.final-expense.max_buyers", "only for sell"),
        (
            {"sell": "shared", "max_buyers": 2},
            {},
            False,
            "sellers[0:s].sell",
            "no buyer has shared: true",
        ),
        (
            {},
            {"sell": "shared", "max_buyers": 2},
            False,
            "verticals.final-expense.sell",
            "no buyer has shared: true",
        ),
    ],
)
def test_a_bad_share_setting_is_refused_at_its_path(seller, vertical, shared, path, message):
    with pytest.raises(ConfigError) as raised:
        parse_config(raw(seller, vertical, shared), env={})
    assert any(p == path and message in m for p, m in raised.value.errors), raised.value.errors


def test_good_share_settings_load():
    config = parse_config(raw({"sell": "exclusive"}, {"sell": "shared", "max_buyers": 3}), env={})
    assert config.sellers[0].sell == "exclusive" and config.buyers[0].shared
    assert config.verticals["final-expense"].max_buyers == 3
