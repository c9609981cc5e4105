"""`operators:` in buyers.yaml (DESIGN §13): names and tokens unique (router.admin_token is the
operator `admin`), tokens long and never printed back, every error at once with its path; and
config/diff.py, what a reload changed as the audit keeps it: names only, never values."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pingtree.config import Config, Operator, parse_config
from pingtree.config.diff import config_diff, is_empty
from pingtree.config.tree import Tree
from pingtree.core.errors import ConfigError
from tests.conftest import ADMIN_TOKEN, config_dict, make_buyer

ALICE = "alice-token-0123456789"
BOB = "bob-token-abcdefghijk"


def document(operators: list[dict[str, Any]], **router: Any) -> dict[str, Any]:
    return config_dict([make_buyer("a"), make_buyer("b")], router, operators=operators)


def errors_of(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, env={})
    return dict(caught.value.errors)


def test_operators_with_roles_load_and_are_found_by_token() -> None:
    config = parse_config(
        document(
            [
                {"name": "alice", "token": ALICE, "role": "admin"},
                {"name": "bob", "token": BOB, "role": "viewer"},
            ]
        ),
        env={},
    )
    tree = Tree(config, fallback_secret=b"k")
    assert tree.operator_for_token(ALICE) == Operator("alice", "admin")
    assert tree.operator_for_token(BOB) == Operator("bob", "viewer")
    assert tree.operator_for_token(ADMIN_TOKEN) == Operator("admin", "admin")
    assert tree.operator_for_token("alice") is None
    assert tree.operator_for_token("") is None
    assert ALICE not in repr(config) and BOB not in str(config.model_dump())


def test_without_a_token_or_operators_the_operator_api_is_off() -> None:
    off = parse_config(document([], admin_token=None), env={})
    assert not Tree(off, fallback_secret=b"k").operator_api_on
    only_operators = document([{"name": "bob", "token": BOB, "role": "viewer"}], admin_token=None)
    assert Tree(parse_config(only_operators, env={}), fallback_secret=b"k").operator_api_on


def test_every_operator_error_is_reported_at_once_with_its_path() -> None:
    found = errors_of(
        document(
            [
                {"name": "alice", "token": ALICE, "role": "admin"},
                {"name": "alice", "token": BOB, "role": "viewer"},  # the same name
                {"name": "carol", "token": ALICE, "role": "viewer"},  # the same token
                {"name": "admin", "token": "admin-named-token-xyz", "role": "viewer"},
                {"name": "dave", "token": ADMIN_TOKEN, "role": "viewer"},
                {"name": "erin", "token": "short", "role": "admin"},
                {"name": "frank", "token": "frank-token-0123456789", "role": "owner"},
                {"name": "has space", "token": "gina-token-0123456789", "role": "admin"},
            ]
        )
    )
    assert found == {
        "operators[1].name": "the same name 'alice' as operators[0]",
        "operators[2].token": "the same token as operators[0]",
        "operators[3].name": "'admin' is router.admin_token's operator",
        "operators[4].token": "the same token as router.admin_token",
        "operators[5].token": "token must be at least 16 characters",
        "operators[6].role": "Input should be 'admin' or 'viewer'",
        "operators[7].name": "String should match pattern '^[A-Za-z0-9._@-]+$'",
    }
    assert not any(secret in str(found) for secret in (ALICE, BOB, ADMIN_TOKEN))


def test_a_config_built_in_code_is_held_to_the_same_rules() -> None:
    raw = document([{"name": "x", "token": ALICE, "role": "admin"}] * 2)
    with pytest.raises(ValidationError, match="the same name 'x'"):
        Config.model_validate(raw)
    named_admin = document([{"name": "admin", "token": ALICE, "role": "viewer"}])
    with pytest.raises(ValidationError, match=r"router\.admin_token's operator"):
        Config.model_validate(named_admin)
    # Without router.admin_token the name `admin` is free.
    Config.model_validate(
        document([{"name": "admin", "token": ALICE, "role": "admin"}], admin_token=None)
    )


# config/diff.py ------------------------------------------------------------------------------


def configured(**changes: Any) -> Config:
    """The base document, its buyers, sellers, operators or router changed."""
    buyers = changes.pop("buyers", [make_buyer("a"), make_buyer("b", caps={"daily": 5})])
    operators = changes.pop("operators", [{"name": "alice", "token": ALICE, "role": "admin"}])
    raw = config_dict(buyers, changes.pop("router", None), changes.pop("sellers", None))
    return parse_config({**raw, "operators": operators, **changes}, env={})


def changed(keys: dict[str, list[str]], removed: list[str] | None = None) -> dict[str, Any]:
    return {"added": [], "removed": removed or [], "changed": keys}


SECRET_URL = "http://user:pa55word@127.0.0.1:9/ping?key=query-secret"

DIFFS = [
    pytest.param({}, {}, id="the same file: nothing"),
    pytest.param(
        {"buyers": [make_buyer("a"), make_buyer("c")]},
        {"buyers": {"added": ["c"], "removed": ["b"], "changed": {}}},
        id="a buyer replaced by another",
    ),
    pytest.param(
        {
            "buyers": [
                make_buyer("a", ping={"url": SECRET_URL}, priority=2),
                make_buyer("b", caps={"daily": 6}),
            ]
        },
        {"buyers": changed({"a": ["ping", "priority"], "b": ["caps"]})},
        id="changed buyers name their changed keys, never the values",
    ),
    pytest.param(
        {"sellers": [{"id": "acme-media", "api_key": "a-new-secret-key", "revshare": 0.8}]},
        {"sellers": changed({"acme-media": ["api_key"]}, removed=["other-media"])},
        id="a seller's key rotated, another removed",
    ),
    pytest.param(
        {"operators": [{"name": "alice", "token": BOB, "role": "viewer"}]},
        {"operators": changed({"alice": ["role", "token"]})},
        id="an operator demoted and given a new token",
    ),
    pytest.param(
        {"router": {"budget_ms": 2500, "admin_token": "another-admin-token"}},
        {"router": ["admin_token", "budget_ms"]},
        id="router settings by name",
    ),
    pytest.param(
        {"pii_attributes": ["case_notes"]}, {"other": ["pii_attributes"]}, id="another section"
    ),
]


@pytest.mark.parametrize(("changes", "expected"), DIFFS)
def test_what_a_reload_changed(changes: dict[str, Any], expected: dict[str, Any]) -> None:
    nothing = {
        "buyers": {"added": [], "removed": [], "changed": {}},
        "sellers": {"added": [], "removed": [], "changed": {}},
        "operators": {"added": [], "removed": [], "changed": {}},
        "router": [],
        "other": [],
    }
    diff = config_diff(configured(), configured(**changes))
    assert diff == {**nothing, **expected}
    assert is_empty(diff) == (not expected)
    shown = str(diff)
    for secret in ("pa55word", "query-secret", "a-new-secret-key", BOB, "another-admin-token"):
        assert secret not in shown
