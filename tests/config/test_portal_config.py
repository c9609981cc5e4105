"""buyers.yaml's keys of a buyer's own API (DESIGN §15): `portal`, `returns` (the router's,
overridden per buyer field by field), `deliveries: [{method: pull}]`, sellers' `chargeback`."""

from __future__ import annotations

from typing import Any

import pytest

from pingtree.config import parse_config
from pingtree.config.tree import Tree
from pingtree.core.errors import ConfigError
from tests.conftest import config_dict, make_buyer


def portal_buyer(buyer_id: str, key: str, **fields: Any) -> dict[str, Any]:
    return make_buyer(buyer_id, portal={"api_key": key}, **fields)


def test_two_buyers_with_one_portal_key_are_refused_without_showing_it() -> None:
    document = config_dict(
        [portal_buyer("a", "shared-key-123"), portal_buyer("b", "shared-key-123")]
    )
    with pytest.raises(ConfigError) as refused:
        parse_config(document, env={})
    said = str(refused.value)
    assert "buyers[1:b].portal.api_key" in said and "buyers[0:a]" in said
    assert "shared-key-123" not in said


def test_a_buyer_is_found_by_its_portal_key_only() -> None:
    tree = Tree(
        parse_config(config_dict([portal_buyer("a", "key-of-a-123"), make_buyer("b")]), env={})
    )
    found = tree.buyer_for_key("key-of-a-123")
    assert found is not None and found.id == "a"
    assert tree.buyer_for_key("key-of-a-12") is None


def test_returns_rules_are_the_routers_with_the_buyers_fields_over_them() -> None:
    router = {"returns": {"window_days": 3, "max_pct": 10, "reasons": ["fraud", "duplicate"]}}
    buyer = portal_buyer("a", "key-of-a-123", returns={"window_days": 0.25})
    config = parse_config(config_dict([buyer], router=router), env={})
    override = config.buyers[0].returns
    assert override is not None
    rules = override.over(config.router.returns)
    assert (rules.window_days, rules.max_pct, rules.reasons) == (0.25, 10, ("fraud", "duplicate"))


def test_auto_approve_names_known_reasons_only() -> None:
    router = {"returns": {"reasons": ["fraud"], "auto_approve": ["fraud", "bad_phone"]}}
    with pytest.raises(ConfigError, match="not among reasons: bad_phone"):
        parse_config(config_dict([make_buyer("a")], router=router), env={})


def test_a_pull_delivery_is_a_pull_not_a_destination() -> None:
    puller = {"id": "p", "pricing": "fixed", "price": 10, "deliveries": [{"method": "pull"}]}
    config = parse_config(config_dict([puller]), env={})
    assert (config.buyers[0].pull, config.buyers[0].deliveries) == (True, ())
    seller = {"id": "s", "api_key": "a-long-enough-key", "chargeback": True}
    assert parse_config(config_dict([puller], sellers=[seller]), env={}).sellers[0].chargeback
