"""buyers.yaml dialect models (pingtree/config/dialect.py, dialect_response.py): what an
operator's mistake looks like at load, rather than as a buyer's answer nobody can read at request
time."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from pingtree.config import parse_config
from pingtree.config.dialect import FieldMap
from pingtree.config.dialect_response import Locator, Matcher, ResponseMap, split_xpath
from pingtree.core.errors import ConfigError
from tests.conftest import SELLER_KEY, config_dict, make_buyer


def row(story: str, model: type[Any], raw: dict[str, Any], error: str | None) -> Any:
    """`error`: a piece of the message the operator reads, or None when the entry loads."""
    return pytest.param(model, raw, error, id=story)


ROWS = [
    # locators
    row("a JSON path", Locator, {"path": "data.result.price"}, None),
    row("a JSON path into a list", Locator, {"path": "items.0.price"}, None),
    row("a path with an empty segment", Locator, {"path": "data..price"}, "empty segment"),
    row("a path starting with a dot", Locator, {"path": ".price"}, "empty segment"),
    row("two ways at once", Locator, {"path": "a", "xpath": "a"}, "exactly one"),
    row("no way at all", Locator, {}, "exactly one"),
    row("an XPath", Locator, {"xpath": "/response/status"}, None),
    row("an XPath to an attribute", Locator, {"xpath": "lead/@id"}, None),
    row("an XPath to a root attribute", Locator, {"xpath": "@code"}, None),
    row("an XPath with a predicate", Locator, {"xpath": "item[@type='bid']/price"}, None),
    row("an XPath anywhere", Locator, {"xpath": "//price"}, None),
    row("an XPath with namespace prefixes", Locator, {"xpath": "/b:response/b:status"}, None),
    row("an XPath left open", Locator, {"xpath": "status["}, "ElementTree"),
    row("an XPath with a broken predicate", Locator, {"xpath": "a[@x=1"}, "ElementTree"),
    row("an XPath function ElementTree lacks", Locator, {"xpath": "a[last()-x]"}, "ElementTree"),
    row("an XPath ending in a bare @", Locator, {"xpath": "a/@"}, "ElementTree"),
    row("a regex", Locator, {"regex": r"^BID\s+(\S+)"}, None),
    row("a regex that does not compile", Locator, {"regex": "(unclosed"}, "does not compile"),
    # matchers
    row("values as a list", Matcher, {"path": "status", "values": ["ok", "success"]}, None),
    row("one value", Matcher, {"path": "status", "values": "ok"}, None),
    row("values true (YAML boolean)", Matcher, {"path": "accepted", "values": [True]}, None),
    row("no values: found is enough", Matcher, {"regex": "^OK"}, None),
    row("values empty: nothing could match", Matcher, {"path": "s", "values": []}, "is empty"),
    # response maps
    row(
        "an XML map read with xpaths",
        ResponseMap,
        {"format": "xml", "accepted": {"xpath": "status", "values": ["Matched"]}},
        None,
    ),
    row(
        "a JSON map with an xpath price",
        ResponseMap,
        {"accepted": {"path": "ok"}, "price": {"xpath": "price"}},
        "read with `path`",
    ),
    row(
        "a text map with a path",
        ResponseMap,
        {"format": "text", "accepted": {"path": "ok"}},
        "read with `regex`",
    ),
    row(
        "a carry in the wrong kind",
        ResponseMap,
        {"accepted": {"path": "ok"}, "carry": {"token": {"regex": "t"}}},
        "carry.token",
    ),
    row(
        "a carry name that is not an identifier",
        ResponseMap,
        {"accepted": {"path": "ok"}, "carry": {"ping token": {"path": "t"}}},
        "plain identifier",
    ),
    row("a map without accepted", ResponseMap, {"rejected": {"path": "x"}}, "accepted"),
    # field maps
    row("a nested field", FieldMap, {"to": "contact.email", "from": "email"}, None),
    row("a field with an empty segment", FieldMap, {"to": "contact..email", "value": 1}, "empty"),
    row("a field ending in a dot", FieldMap, {"to": "contact.", "value": 1}, "empty segment"),
    row("from and value", FieldMap, {"to": "x", "from": "zip", "value": 1}, "not both"),
    row("neither from nor value", FieldMap, {"to": "x"}, "not both"),
    row("an unknown source", FieldMap, {"to": "x", "from": "ssn"}, "unknown source"),
    row("a carried value", FieldMap, {"to": "Token", "from": "ping.token"}, None),
    row("an attribute", FieldMap, {"to": "x", "from": "attributes.case_type"}, None),
    row("a delivery's attempt", FieldMap, {"to": "n", "from": "delivery_attempt"}, None),
    row(
        "a delivery's attempt as text",
        FieldMap,
        {"to": "n", "from": "delivery_attempt", "transform": "string"},
        None,
    ),
    row(
        "a delivery's attempt mapped: it is written in after the mapping",
        FieldMap,
        {"to": "n", "from": "delivery_attempt", "map": {"1": "first"}},
        "delivery_attempt takes no map",
    ),
    row(
        "a delivery's attempt truncated",
        FieldMap,
        {"to": "n", "from": "delivery_attempt", "transform": "truncate:1"},
        "only the string or number transform",
    ),
    row(
        "the sale's time, reformatted",
        FieldMap,
        {"to": "d", "from": "sold_at", "transform": "datetime:%m/%d/%Y"},
        None,
    ),
    row("an unknown transform", FieldMap, {"to": "x", "value": 1, "transform": "rot13"}, "rot13"),
    row("date without a pattern", FieldMap, {"to": "x", "value": 1, "transform": "date"}, "date"),
    row(
        "truncate without a length",
        FieldMap,
        {"to": "x", "value": 1, "transform": "truncate:x"},
        "positive length",
    ),
]


@pytest.mark.parametrize(("model", "raw", "error"), ROWS)
def test_dialect_models(model: type[Any], raw: dict[str, Any], error: str | None) -> None:
    if error is None:
        model.model_validate(raw)
        return
    with pytest.raises(ValidationError) as raised:
        model.model_validate(raw)
    assert error in str(raised.value)


@pytest.mark.parametrize(
    ("xpath", "parts"),
    [
        pytest.param("status", ("status", None), id="an element"),
        pytest.param("/response/status", ("/response/status", None), id="absolute"),
        pytest.param("lead/@id", ("lead", "id"), id="an attribute"),
        pytest.param("@code", ("", "code"), id="a root attribute"),
        pytest.param("/@code", ("", "code"), id="a root attribute, absolute"),
        pytest.param("item[@id='1']", ("item[@id='1']", None), id="@ in a predicate"),
        pytest.param("a/b[@x='1']/@y", ("a/b[@x='1']", "y"), id="predicate then attribute"),
        pytest.param(" status ", ("status", None), id="spaces around"),
        pytest.param("/b:response/b:status", ("/response/status", None), id="prefixes dropped"),
        pytest.param("b:item[@b:id='1']", ("item[@id='1']", None), id="prefix in a predicate"),
        pytest.param("link/@xlink:href", ("link", "href"), id="a prefixed attribute"),
    ],
)
def test_split_xpath(xpath: str, parts: tuple[str, str | None]) -> None:
    assert split_xpath(xpath) == parts


# what a mapping may read, across the whole config (config/reads.py) ----------------------------

CARRYING_PING = {
    "response": {
        "accepted": {"path": "result", "values": ["success"]},
        "price": {"path": "price"},
        "carry": {"ping_id": {"path": "ping_id"}},
    }
}


@pytest.mark.parametrize(
    ("buyer", "seller", "path", "message"),
    [
        pytest.param(
            make_buyer("b", ping=CARRYING_PING, post={"query": {"id": {"from": "ping.ping_id"}}}),
            {},
            None,
            None,
            id="a post query reading what the ping carries",
        ),
        pytest.param(
            make_buyer("b", post={"headers": {"X-Ping-Token": {"from": "ping.token"}}}),
            {},
            "buyers[0:b].post.headers.X-Ping-Token.from",
            "'ping.token': the ping's answer carries no 'token' (its carry: nothing)",
            id="a native ping carries nothing",
        ),
        pytest.param(
            make_buyer(
                "b", pricing="fixed", price=9, post={"fields": [{"to": "t", "from": "ping.t"}]}
            ),
            {},
            "buyers[0:b].post.fields[0].from",
            "'ping.t' reads the ping's answer, and this buyer is never pinged",
            id="a buyer that is never pinged",
        ),
        pytest.param(
            make_buyer("b", ping={**CARRYING_PING, "query": {"id": {"from": "ping.ping_id"}}}),
            {},
            "buyers[0:b].ping.query.id.from",
            "'ping.ping_id' is only known after the ping: use it in posts",
            id="a ping reading its own answer",
        ),
        pytest.param(
            make_buyer("b"),
            {"postback": {"url": "http://127.0.0.1:9/pb", "query": {"p": {"from": "phone"}}}},
            "sellers[0:acme-media].postback.query.p.from",
            "a postback reads nothing per lead ('phone'): give fixed values",
            id="a postback reading the consumer's phone",
        ),
    ],
)
def test_what_a_mapping_reads_is_checked_at_load(
    buyer: dict[str, Any], seller: dict[str, Any], path: str | None, message: str | None
) -> None:
    sellers = [{"id": "acme-media", "api_key": SELLER_KEY, **seller}]
    raw = config_dict([buyer], sellers=sellers)
    if path is None:
        parse_config(raw, env={})
        return
    with pytest.raises(ConfigError) as raised:
        parse_config(raw, env={})
    assert raised.value.errors == [(path, message)]
