"""pingtree/config/ and `pingtree validate`: buyers.yaml is validated once, at load, every error
reported with its path, and secrets from `${ENV}` never printed back (DESIGN §9)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from pingtree.config import Config, load_config, parse_config
from pingtree.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

SECRETS = {
    "PINGTREE_ADMIN_TOKEN": "adm-Zq7-SECRET-token",
    "ACME_MEDIA_KEY": "acme-Xv3-SECRET-key",
    "OTHER_MEDIA_KEY": "other-Kp9-SECRET-key",
    "DEDUP_SECRET": "dedup-Wm2-SECRET-salt",
}

# DESIGN §9, as an operator writes it, plus a second seller, a second tier and a fixed-price buyer.
DESIGN_YAML = """\
router:
  budget_ms: 3000
  post_reserve_ms: 1000
  mode: tiered            # tiered | waterfall | parallel
  floor: 1.00
  max_bid: 1000
  min_margin: 0
  require_consent: true
  timezone: UTC           # default for buyers
  admin_token: ${PINGTREE_ADMIN_TOKEN}
  dedup_secret: ${DEDUP_SECRET}
sellers:
  - id: acme-media
    api_key: ${ACME_MEDIA_KEY}
    revshare: 0.80        # 0..1; or payout: 20.00 (fixed, per sold lead)
    verticals: [mva]      # optional: what it may send
  - id: other-media
    api_key: ${OTHER_MEDIA_KEY}
    payout: 20.00
buyers:
  - id: lawfirm-a
    priority: 1
    verticals: [mva]
    timezone: America/New_York
    filters: {states: [FL, GA], zip_prefixes: ["331"], sellers: [acme-media],
              require: {has_attorney: false}, ranges: {monthly_electric_bill: {min: 100}}}
    schedule: {days: [mon, tue, wed, thu, fri], hours: "08:00-20:00"}
    caps: {hourly: 10, daily: 50, daily_budget: 2000}
    dedup_days: 30
    pricing: bid           # bid | fixed (with price: 35)
    on_post_timeout: stop  # stop | next
    ping: {url: https://a.example/ping, timeout_ms: 800}
    post: {url: https://a.example/post, timeout_ms: 1500}
  - id: fixed-b
    priority: 2
    pricing: fixed
    price: 35
    post: {url: https://b.example/post}
"""


def design_raw() -> dict[str, Any]:
    return dict(yaml.safe_load(DESIGN_YAML))


def errors_of(raw: Any, env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, SECRETS if env is None else env)
    assert caught.value.errors, "a ConfigError must say what is wrong"
    return caught.value.errors


def has_error(errors: list[tuple[str, str]], path: str, fragment: str, *, exact: bool) -> bool:
    return any(
        (where == path if exact else where.startswith(path)) and fragment in message.lower()
        for where, message in errors
    )


# a valid file ----------------------------------------------------------------------------------


def test_the_design_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "buyers.yaml"
    path.write_text(DESIGN_YAML)
    config = load_config(path, SECRETS)
    router = config.router
    assert (router.budget_ms, router.post_reserve_ms, router.mode) == (3000, 1000, "tiered")
    assert router.floor == Decimal("1.00") and router.max_bid == Decimal("1000")
    assert router.require_consent is True and router.timezone == "UTC"
    assert router.admin_token is not None
    assert router.admin_token.get_secret_value() == SECRETS["PINGTREE_ADMIN_TOKEN"]

    acme, other = config.sellers
    assert acme.id == "acme-media"
    assert acme.api_key.get_secret_value() == SECRETS["ACME_MEDIA_KEY"]
    assert acme.revshare == Decimal("0.80") and acme.verticals == ("mva",)
    assert other.payout == Decimal("20.00") and other.revshare is None

    lawfirm, fixed = config.buyers
    assert lawfirm.priority == 1 and lawfirm.verticals == frozenset({"mva"})
    assert lawfirm.timezone == "America/New_York"
    assert lawfirm.filters.states == frozenset({"FL", "GA"})
    assert tuple(lawfirm.filters.zip_prefixes or ()) == ("331",)
    assert lawfirm.filters.sellers == frozenset({"acme-media"})
    assert dict(lawfirm.filters.require) == {"has_attorney": False}
    assert lawfirm.filters.ranges["monthly_electric_bill"].min == 100
    assert lawfirm.schedule is not None
    assert tuple(lawfirm.schedule.days) == ("mon", "tue", "wed", "thu", "fri")
    assert lawfirm.schedule.hours == "08:00-20:00"
    assert (lawfirm.caps.hourly, lawfirm.caps.daily) == (10, 50)
    assert lawfirm.caps.daily_budget == Decimal("2000")
    assert lawfirm.dedup_days == 30
    assert (lawfirm.pricing, lawfirm.on_post_timeout) == ("bid", "stop")
    assert lawfirm.ping is not None
    assert (lawfirm.ping.url, lawfirm.ping.timeout_ms) == ("https://a.example/ping", 800)
    assert (lawfirm.post.url, lawfirm.post.timeout_ms) == ("https://a.example/post", 1500)
    assert fixed.pricing == "fixed" and fixed.price == Decimal("35") and fixed.ping is None
    assert fixed.priority == 2


def test_the_smallest_file_has_defaults_for_everything_else() -> None:
    config = parse_config(
        {
            "router": None,  # `router:` with nothing under it
            "sellers": [{"id": "acme-media", "api_key": "a-long-enough-key"}],
            "buyers": [
                {"id": "a", "ping": {"url": "http://a/ping"}, "post": {"url": "http://a/post"}}
            ],
        },
        env={},
    )
    buyer = config.buyers[0]
    assert config.router.budget_ms == 3000 and config.router.post_reserve_ms == 1000
    assert config.router.mode == "tiered" and config.router.require_consent is True
    assert buyer.priority == 1 and buyer.pricing == "bid" and buyer.on_post_timeout == "stop"
    assert buyer.schedule is None and buyer.dedup_days is None and not buyer.caps.any
    assert buyer.filters.states is None and buyer.filters.sellers is None


# ${ENV} ----------------------------------------------------------------------------------------


def test_env_references_are_replaced_inside_strings_and_numbers() -> None:
    raw = design_raw()
    raw["router"]["budget_ms"] = "${BUDGET}"
    raw["buyers"][0]["ping"]["url"] = "https://${BUYER_HOST}/ping?src=${SRC}"
    config = parse_config(raw, {**SECRETS, "BUDGET": "2500", "BUYER_HOST": "a.test", "SRC": "pt"})
    assert config.router.budget_ms == 2500
    assert config.buyers[0].ping is not None
    assert config.buyers[0].ping.url == "https://a.test/ping?src=pt"


def test_without_an_env_mapping_the_process_environment_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    config = parse_config(design_raw())
    assert config.sellers[0].api_key.get_secret_value() == SECRETS["ACME_MEDIA_KEY"]


def test_a_missing_env_variable_is_an_error_naming_its_path() -> None:
    env = {k: v for k, v in SECRETS.items() if k not in ("ACME_MEDIA_KEY", "PINGTREE_ADMIN_TOKEN")}
    errors = errors_of(design_raw(), env)
    assert has_error(errors, "sellers[0:acme-media].api_key", "acme_media_key", exact=True)
    assert has_error(errors, "router.admin_token", "pingtree_admin_token", exact=True)


# every kind of error, with its path ------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _buyer(raw: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return dict(raw["buyers"][index])


def _set(*keys: str | int, value: Any) -> Mutation:
    def mutate(raw: dict[str, Any]) -> None:
        node: Any = raw
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return mutate


def _duplicate_buyer(raw: dict[str, Any]) -> None:
    raw["buyers"].append(copy.deepcopy(raw["buyers"][0]))


def _duplicate_key(raw: dict[str, Any]) -> None:
    raw["sellers"][1]["api_key"] = "${ACME_MEDIA_KEY}"


def _drop_ping(raw: dict[str, Any]) -> None:
    del raw["buyers"][0]["ping"]


def _drop_post(raw: dict[str, Any]) -> None:
    del raw["buyers"][0]["post"]


def _fixed_without_price(raw: dict[str, Any]) -> None:
    del raw["buyers"][1]["price"]


def _both_payout_rules(raw: dict[str, Any]) -> None:
    raw["sellers"][0]["payout"] = 20


LAWFIRM = "buyers[0:lawfirm-a]"
ERROR_CASES = [
    pytest.param(
        _set("router", "budjet_ms", value=3000),
        "router.budjet_ms",
        # checks_budget_ms (DESIGN §16) is close enough to be offered too.
        "unknown key; did you mean 'budget_ms' or 'checks_budget_ms'?",
        True,
        id="typo:router",
    ),
    pytest.param(
        _set("buyers", 0, "prioirty", value=2),
        f"{LAWFIRM}.prioirty",
        "unknown key; did you mean 'priority'?",
        True,
        id="typo:buyer",
    ),
    pytest.param(
        _set("buyers", 0, "filters", "state", value=["FL"]),
        f"{LAWFIRM}.filters.state",
        "did you mean 'states'?",
        True,
        id="typo:filters",
    ),
    pytest.param(
        _set("buyers", 0, "ping", "timout_ms", value=500),
        f"{LAWFIRM}.ping.timout_ms",
        "did you mean 'timeout_ms'?",
        True,
        id="typo:ping",
    ),
    pytest.param(
        _set("sellerz", value=[]), "sellerz", "did you mean 'sellers'?", True, id="typo:top"
    ),
    pytest.param(
        _set("buyers", 0, "caps", "weekly", value=5),
        f"{LAWFIRM}.caps.weekly",
        "unknown key; the keys here are daily, daily_budget, hourly",
        True,
        id="unknown:no-close-match",
    ),
    pytest.param(
        _set("router", "timezone", value="Mars/Olympus"),
        "router.timezone",
        "timezone",
        True,
        id="timezone:router",
    ),
    pytest.param(
        _set("buyers", 0, "timezone", value="America/Nowhere"),
        f"{LAWFIRM}.timezone",
        "timezone",
        True,
        id="timezone:buyer",
    ),
    pytest.param(  # a folder of zones: ZoneInfo's OSError, once a traceback rather than a refusal
        _set("buyers", 0, "timezone", value="America"),
        f"{LAWFIRM}.timezone",
        "timezone",
        True,
        id="timezone:folder",
    ),
    pytest.param(
        _set("router", "retention", value={"pii_days": 0}),
        "router.retention.pii_days",
        "greater than 0",
        True,
        id="retention:pii_days",
    ),
    pytest.param(
        _set("router", "retention", value={"ledger_days": -1}),
        "router.retention.ledger_days",
        "greater than 0",
        True,
        id="retention:ledger_days",
    ),
    pytest.param(
        _set("buyers", 0, "filters", "states", value=["FL", "XX"]),
        f"{LAWFIRM}.filters.states",
        "unknown state(s): 'xx'",
        True,
        id="state",
    ),
    pytest.param(
        _set("buyers", 0, "filters", "states", value=["Florida", "Narnia", "ga"]),
        f"{LAWFIRM}.filters.states",
        "unknown state(s): 'narnia'",
        True,
        id="state:name",
    ),
    pytest.param(
        _set("buyers", 1, "price", value=1000.01),
        "buyers[1:fixed-b].price",
        "above router.max_bid (1000)",
        True,
        id="fixed:above-max_bid",
    ),
    pytest.param(
        _set("router", "max_bid", value=30),
        "buyers[1:fixed-b].price",
        "35 is above router.max_bid (30)",
        True,
        id="fixed:max_bid-lowered",
    ),
    pytest.param(
        _set("router", "floor", value=40),
        "buyers[1:fixed-b].price",
        "35 is below router.floor (40)",
        True,
        id="fixed:below-floor",
    ),
    pytest.param(
        _fixed_without_price, "buyers[1:fixed-b].price", "price", True, id="fixed:no-price"
    ),
    pytest.param(
        _set("buyers", 1, "price", value=0),
        "buyers[1:fixed-b].price",
        "positive price",
        True,
        id="fixed:zero",
    ),
    pytest.param(_drop_ping, f"{LAWFIRM}.ping", "ping", True, id="bid:no-ping"),
    pytest.param(_drop_post, f"{LAWFIRM}.post", "post.url is required", True, id="bid:no-post"),
    pytest.param(_duplicate_buyer, "buyers", "lawfirm-a", False, id="duplicate:buyer"),
    pytest.param(_duplicate_key, "sellers", "api_key", False, id="duplicate:api_key"),
    pytest.param(
        _set("router", "post_reserve_ms", value=3000),
        "router",
        "post_reserve_ms",
        False,
        id="reserve=budget",
    ),
    pytest.param(
        _set("router", "post_reserve_ms", value=5000),
        "router",
        "post_reserve_ms",
        False,
        id="reserve>budget",
    ),
    pytest.param(
        _set("sellers", 0, "revshare", value=1.5),
        "sellers[0:acme-media].revshare",
        "1",
        True,
        id="revshare>1",
    ),
    pytest.param(
        _both_payout_rules, "sellers[0:acme-media]", "payout", False, id="revshare+payout"
    ),
    pytest.param(
        _set("buyers", 0, "schedule", "hours", value="25:00-08:00"),
        f"{LAWFIRM}.schedule.hours",
        "hours",
        True,
        id="hours:25",
    ),
    pytest.param(
        _set("buyers", 0, "schedule", "hours", value="8-20"),
        f"{LAWFIRM}.schedule.hours",
        "hours",
        True,
        id="hours:shape",
    ),
    pytest.param(
        _set("buyers", 0, "schedule", "hours", value="08:00-08:00"),
        f"{LAWFIRM}.schedule.hours",
        "hours",
        True,
        id="hours:empty",
    ),
    pytest.param(
        _set("buyers", 0, "schedule", "days", value=["mon", "funday"]),
        f"{LAWFIRM}.schedule.days[1]",
        "mon",
        True,
        id="days",
    ),
    pytest.param(
        _set("buyers", 0, "filters", "sellers", value=["acme-media", "nobody-media"]),
        f"{LAWFIRM}.filters.sellers",
        "nobody-media",
        False,
        id="filters.sellers:unknown",
    ),
    pytest.param(
        _set("router", "mode", value="roundrobin"), "router.mode", "tiered", True, id="mode"
    ),
    pytest.param(
        _set("buyers", 0, "ping", "url", value="a.example/ping"),
        f"{LAWFIRM}.ping.url",
        "http",
        True,
        id="url",
    ),
    pytest.param(
        _set("buyers", 0, "caps", "hourly", value=-1),
        f"{LAWFIRM}.caps.hourly",
        "0",
        True,
        id="caps:negative",
    ),
    pytest.param(
        _set("buyers", 0, "post", "fields", value=[{"to": "try", "from": "delivery_attempt"}]),
        f"{LAWFIRM}.post.fields[0].from",
        "only to deliveries",
        True,
        id="post:delivery_attempt",
    ),
    pytest.param(
        _set("buyers", 0, "ping", "fields", value=[{"to": "at", "from": "sold_at"}]),
        f"{LAWFIRM}.ping.fields[0].from",
        "only to deliveries",
        True,
        id="ping:sold_at",
    ),
]


@pytest.mark.parametrize(("mutate", "path", "fragment", "exact"), ERROR_CASES)
def test_an_error_is_reported_with_its_path(
    mutate: Mutation, path: str, fragment: str, exact: bool
) -> None:
    raw = design_raw()
    mutate(raw)
    errors = errors_of(raw)
    assert has_error(errors, path, fragment, exact=exact), errors


def test_every_field_error_is_reported_at_once() -> None:
    raw = design_raw()
    for mutate in (
        _set("router", "budjet_ms", value=3000),
        _set("router", "timezone", value="Mars/Olympus"),
        _set("buyers", 0, "filters", "states", value=["FL", "XX"]),
        _set("buyers", 0, "schedule", "hours", value="8-20"),
        _set("sellers", 0, "revshare", value=1.5),
        _fixed_without_price,
        _set("sellers", 1, "revshare", value=0.5),  # other-media also has payout: 20.00
    ):
        mutate(raw)
    raw["buyers"].append({"id": "no-ping", "post": {"url": "https://c.example/post"}})
    errors = errors_of(raw)
    paths = {path for path, _ in errors}
    assert {
        "router.budjet_ms",
        "router.timezone",
        f"{LAWFIRM}.filters.states",
        f"{LAWFIRM}.schedule.hours",
        "sellers[0:acme-media].revshare",
        "sellers[1:other-media]",
        "buyers[1:fixed-b].price",
        "buyers[2:no-ping].ping",
    } <= paths, errors


def _pii_ping_field(raw: dict[str, Any]) -> None:
    raw["buyers"][0]["ping"]["fields"] = [{"to": "phone", "from": "phone"}]


def _drop_fixed_id(raw: dict[str, Any]) -> None:
    del raw["buyers"][1]["id"]


# Each row: a field that fails beside a check across fields (of the same model, or of the file)
# that must still be reported. pydantic skips a model's checks once one of its fields fails.
BESIDE_FIELD_ERRORS = [
    pytest.param(
        [_set("buyers", 0, "prioirty", value=2), _drop_post],
        [(f"{LAWFIRM}.prioirty", "did you mean 'priority'"), (f"{LAWFIRM}.post", "post.url")],
        id="buyer:typo+no-post",
    ),
    pytest.param(
        [_set("buyers", 0, "caps", "hourly", value=-1), _drop_ping],
        [(f"{LAWFIRM}.caps.hourly", "0"), (f"{LAWFIRM}.ping", "ping.url")],
        id="buyer:caps+no-ping",
    ),
    pytest.param(
        [_set("buyers", 0, "ping", "timeout_ms", value=5), _set("buyers", 0, "price", value=3)],
        [(f"{LAWFIRM}.ping.timeout_ms", "10"), (f"{LAWFIRM}.price", "only for pricing: fixed")],
        id="buyer:ping-timeout+price-on-a-bidder",
    ),
    pytest.param(
        [_set("buyers", 1, "id", value="fixed b!"), _fixed_without_price],
        [("buyers[1:fixed b!].id", "pattern"), ("buyers[1:fixed b!].price", "positive price")],
        id="buyer:bad-id+no-price",
    ),
    pytest.param(
        [_drop_fixed_id, _fixed_without_price],
        [("buyers[1].id", "required"), ("buyers[1].price", "positive price")],
        id="buyer:no-id+no-price",
    ),
    pytest.param(
        [
            _set("router", "timezone", value="Mars/Olympus"),
            _set("router", "post_reserve_ms", value=5000),
        ],
        [("router.timezone", "timezone"), ("router.post_reserve_ms", "less than budget_ms")],
        id="router:timezone+reserve",
    ),
    pytest.param(
        [_set("router", "mode", value="auction"), _set("router", "floor", value=2000)],
        [("router.mode", "tiered"), ("router.floor", "must not exceed max_bid")],
        id="router:mode+floor",
    ),
    pytest.param(
        [
            _set("router", "breaker", value={"min_calls": 30, "window": 20, "cooldown_s": -1}),
        ],
        [("router.breaker.cooldown_s", "0"), ("router.breaker.min_calls", "window")],
        id="breaker:cooldown+min_calls",
    ),
    pytest.param(
        [_set("sellers", 0, "api_key", value="short"), _both_payout_rules],
        [("sellers[0:acme-media].api_key", "8"), ("sellers[0:acme-media]", "not both")],
        id="seller:short-key+two-payouts",
    ),
    pytest.param(
        [
            _set("buyers", 0, "ping", "timeout_ms", value=5),
            _set("buyers", 0, "ping", "format", value="xml"),
        ],
        [(f"{LAWFIRM}.ping.timeout_ms", "10"), (f"{LAWFIRM}.ping.fields", "needs `fields`")],
        id="endpoint:timeout+xml-without-fields",
    ),
    pytest.param(
        [
            _set(
                "buyers",
                0,
                "filters",
                "ranges",
                value={"monthly_electric_bill": {"min": 200, "max": 100, "mx": 3}},
            ),
        ],
        [
            (f"{LAWFIRM}.filters.ranges.monthly_electric_bill.mx", "did you mean 'max'"),
            (f"{LAWFIRM}.filters.ranges.monthly_electric_bill", "min must not exceed max"),
        ],
        id="range:typo+min>max",
    ),
    pytest.param(
        [_set("buyers", 0, "caps", "hourly", value=-1), _set("router", "max_bid", value=30)],
        [(f"{LAWFIRM}.caps.hourly", "0"), ("buyers[1:fixed-b].price", "above router.max_bid")],
        id="file:one-buyer-bad+another-above-max_bid",
    ),
    pytest.param(
        [_set("buyers", 1, "prioirty", value=2), _set("router", "max_bid", value=30)],
        [
            ("buyers[1:fixed-b].prioirty", "did you mean 'priority'"),
            ("buyers[1:fixed-b].price", "above router.max_bid"),
        ],
        id="file:fixed-buyer-with-a-typo+above-max_bid",
    ),
    pytest.param(
        [_set("buyers", 1, "caps", value={"daily": -1}), _set("router", "floor", value=50)],
        [("buyers[1:fixed-b].caps.daily", "0"), ("buyers[1:fixed-b].price", "below router.floor")],
        id="file:fixed-buyer-with-bad-caps+below-floor",
    ),
    pytest.param(
        [_set("sellers", 0, "revshare", value=1.5), _set("router", "floor", value=50)],
        [
            ("sellers[0:acme-media].revshare", "1"),
            ("buyers[1:fixed-b].price", "below router.floor"),
        ],
        id="file:seller-bad+fixed-below-floor",
    ),
    pytest.param(
        [_set("verticals", value={"mva": {"colour": 1}}), _pii_ping_field],
        [
            ("verticals.mva.colour", "unknown key"),
            (f"{LAWFIRM}.ping.fields[0].from", "'phone' is pii"),
        ],
        id="file:bad-vertical+pii-in-a-ping",
    ),
]


@pytest.mark.parametrize(("mutations", "expected"), BESIDE_FIELD_ERRORS)
def test_checks_across_fields_run_beside_field_errors(
    mutations: list[Mutation], expected: list[tuple[str, str]]
) -> None:
    raw = design_raw()
    for mutate in mutations:
        mutate(raw)
    errors = errors_of(raw)
    for path, fragment in expected:
        assert has_error(errors, path, fragment.lower(), exact=True), (path, errors)


@pytest.mark.parametrize(
    ("states", "codes"),
    [
        (["FL", "GA"], {"FL", "GA"}),
        (["fl", " ga "], {"FL", "GA"}),
        (["Florida", "georgia"], {"FL", "GA"}),
        (["NEW YORK", "district of columbia", "Washington DC"], {"NY", "DC"}),
        (["Puerto Rico", "FL", "Florida"], {"PR", "FL"}),
    ],
    ids=["codes", "any-case", "names", "names-any-case", "mixed-and-repeated"],
)
def test_filter_states_take_names_as_leads_do(states: list[str], codes: set[str]) -> None:
    raw = design_raw()
    raw["buyers"][0]["filters"]["states"] = states
    config = parse_config(raw, SECRETS)
    assert config.buyers[0].filters.states == frozenset(codes)


@pytest.mark.parametrize(
    ("router", "price"),
    [({"max_bid": 35}, 35), ({"floor": 35}, 35), ({"floor": 1, "max_bid": 1}, 1)],
    ids=["at-max_bid", "at-floor", "floor=max_bid"],
)
def test_a_fixed_price_at_the_limits_can_win_and_loads(router: dict[str, Any], price: int) -> None:
    raw = design_raw()
    raw["router"].update(router)
    raw["buyers"][1]["price"] = price
    assert parse_config(raw, SECRETS).buyers[1].price == Decimal(price)


def test_a_config_built_in_code_is_checked_across_fields_too(config: Config) -> None:
    router = config.router.model_dump() | {"max_bid": Decimal("30")}
    with pytest.raises(ValidationError) as refused:
        Config.model_validate(config.model_dump() | {"router": router})
    [error] = refused.value.errors()
    assert error["loc"] == ("buyers", 1, "price")
    assert "above router.max_bid (30)" in error["msg"]


def test_cross_checks_are_reported_together_with_everything_else() -> None:
    raw = design_raw()
    _duplicate_buyer(raw)
    _duplicate_key(raw)
    raw["buyers"][1]["filters"] = {"sellers": ["nobody-media"]}
    raw["router"]["timezone"] = "Mars/Olympus"
    errors = errors_of(raw)
    text = "\n".join(f"{path}: {message}" for path, message in errors)
    assert "router.timezone" in text
    assert "lawfirm-a" in text and "api_key" in text and "nobody-media" in text
    assert len(errors) >= 4, errors


@pytest.mark.parametrize(
    "raw",
    [None, [], "just a string", 42, [{"id": "a"}]],
    ids=["empty", "list", "string", "number", "list-of-maps"],
)
def test_a_document_that_is_not_a_mapping_is_one_clear_error(raw: Any) -> None:
    errors = errors_of(raw)
    assert len(errors) == 1
    assert "mapping" in errors[0][1]


@pytest.mark.parametrize(
    "text",
    ["", "\n", "# nothing but a comment\n"],
    ids=["empty", "blank", "comment"],
)
def test_an_empty_file_is_an_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "buyers.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, SECRETS)
    assert len(caught.value.errors) == 1


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("router: [unclosed", 1),
        ("router:\n\tbudget_ms: 3000\n", 2),
        ("sellers:\n  - id: a\n    api_key: x: y\n", 3),
    ],
    ids=["unclosed", "tab", "colon"],
)
def test_a_file_that_is_not_yaml_is_an_error_with_its_line(
    tmp_path: Path, text: str, line: int
) -> None:
    path = tmp_path / "buyers.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, SECRETS)
    [(where, message)] = caught.value.errors
    assert where.startswith(f"{path}:{line}")
    assert "yaml" in message.lower()


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml", SECRETS)
    assert "nope.yaml" in caught.value.errors[0][0]


# frozen ----------------------------------------------------------------------------------------


@pytest.fixture
def config() -> Config:
    return parse_config(design_raw(), SECRETS)


@pytest.mark.parametrize(
    ("owner", "attribute", "value"),
    [
        (lambda c: c.router, "budget_ms", 10),
        (lambda c: c.router, "require_consent", False),
        (lambda c: c.sellers[0], "revshare", Decimal("1")),
        (lambda c: c.buyers[0], "priority", 9),
        (lambda c: c.buyers[0].caps, "hourly", 1000),
        (lambda c: c.buyers[0].filters, "states", None),
        (lambda c: c.buyers[0].schedule, "hours", "00:00-24:00"),
        (lambda c: c.buyers[0].ping, "url", "https://evil.example/"),
        (lambda c: c, "buyers", ()),
    ],
    ids=["router", "consent", "seller", "buyer", "caps", "filters", "schedule", "ping", "config"],
)
def test_models_are_frozen(
    config: Config, owner: Callable[[Config], Any], attribute: str, value: Any
) -> None:
    with pytest.raises(ValidationError):
        setattr(owner(config), attribute, value)


def test_collections_in_the_config_are_immutable(config: Config) -> None:
    buyer = config.buyers[0]
    assert isinstance(config.buyers, tuple) and isinstance(config.sellers, tuple)
    assert isinstance(buyer.filters.states, frozenset)
    assert isinstance(buyer.verticals, frozenset)


def test_filter_mappings_are_immutable(config: Config) -> None:
    filters = config.buyers[0].filters
    with pytest.raises(TypeError):
        filters.require["has_attorney"] = True  # type: ignore[index]
    with pytest.raises(TypeError):
        del filters.ranges["monthly_electric_bill"]  # type: ignore[attr-defined]


# secrets ---------------------------------------------------------------------------------------


def assert_no_secret(text: str) -> None:
    for name, secret in SECRETS.items():
        assert secret not in text, f"{name} printed back"


def test_secrets_never_appear_in_str_or_repr(config: Config) -> None:
    for shown in (
        str(config),
        repr(config),
        repr(config.router),
        repr(config.sellers),
        str(config.sellers[0]),
        str(config.sellers[0].api_key),
        config.model_dump_json(),
        str(config.model_dump()),
    ):
        assert_no_secret(shown)


def test_an_env_value_in_a_buyer_url_is_not_printed_back() -> None:
    raw = design_raw()
    raw["buyers"][0]["post"]["url"] = "https://a.example/post?key=${BUYER_KEY}"
    config = parse_config(raw, {**SECRETS, "BUYER_KEY": "buyer-Rt5-SECRET-key"})
    assert "buyer-Rt5-SECRET-key" not in repr(config)


@pytest.mark.parametrize(
    "mutate",
    [
        _duplicate_key,
        _set("sellers", 0, "api_key", value="${SHORT_KEY}"),
        _set("sellers", 0, "revshare", value="${ACME_MEDIA_KEY}"),
        _set("router", "budget_ms", value="${PINGTREE_ADMIN_TOKEN}"),
        _set("router", "mode", value="${DEDUP_SECRET}"),
        _set("sellers", 0, "verticals", value="${OTHER_MEDIA_KEY}"),
    ],
    ids=["duplicate-keys", "short-key", "revshare", "budget", "mode", "verticals"],
)
def test_secrets_never_appear_in_config_errors(mutate: Mutation) -> None:
    raw = design_raw()
    mutate(raw)
    env = {**SECRETS, "SHORT_KEY": "Sx-9"}
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, env)
    error = caught.value
    text = f"{error}\n{error!r}\n{error.detail}\n{error.errors}"
    assert_no_secret(text)
    assert "Sx-9" not in text


# pingtree validate -----------------------------------------------------------------------------


def validate(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pingtree", "validate", str(path)],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_validate_a_good_file_prints_a_summary_by_tier(tmp_path: Path) -> None:
    path = tmp_path / "buyers.yaml"
    path.write_text(DESIGN_YAML)
    result = validate(path, SECRETS)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "tier 1" in out and "tier 2" in out
    assert out.index("tier 1") < out.index("lawfirm-a") < out.index("tier 2")
    assert out.index("tier 2") < out.index("fixed-b")
    assert "acme-media" in out and "other-media" in out
    assert_no_secret(result.stdout + result.stderr)


def test_validate_a_bad_file_prints_every_error_with_its_path(tmp_path: Path) -> None:
    raw = design_raw()
    raw["router"]["timezone"] = "Mars/Olympus"
    raw["router"]["budjet_ms"] = 10
    raw["buyers"][0]["filters"]["states"] = ["FL", "XX"]
    raw["sellers"][0]["revshare"] = 1.5
    del raw["buyers"][1]["price"]
    path = tmp_path / "buyers.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = validate(path, SECRETS)
    assert result.returncode == 1
    assert result.stdout == ""
    err = result.stderr
    for where in (
        "router.timezone",
        "router.budjet_ms",
        f"{LAWFIRM}.filters.states",
        "sellers[0:acme-media].revshare",
        "buyers[1:fixed-b]",
    ):
        assert where in err, err
    assert "5 error" in err
    assert_no_secret(result.stdout + result.stderr)


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda raw: raw["sellers"][0].update(id=["acme-media"]), "sellers[0:['acme-media']].id"),
        (lambda raw: raw["sellers"][0].update(id={"a": 1}), "sellers[0:{'a': 1}].id"),
        (lambda raw: raw["buyers"][0].update(id=["a"]), "buyers[0:['a']].id"),
        (
            lambda raw: raw["buyers"][0]["filters"].update(sellers=[["acme-media"]]),
            f"{LAWFIRM}.filters.sellers[0]",
        ),
    ],
    ids=["seller-id-list", "seller-id-map", "buyer-id-list", "filter-seller-list"],
)
def test_validate_an_id_that_is_not_text_is_an_error_not_a_crash(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], where: str
) -> None:
    """An id written as a list or a mapping crashed validate with a traceback (the checks across
    entries hashed it) and loaded nothing; it is an error at its path like any other."""
    raw = design_raw()
    mutate(raw)
    path = tmp_path / "buyers.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = validate(path, SECRETS)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"  {where}: " in result.stderr, result.stderr


def test_validate_an_error_about_a_secret_does_not_print_it(tmp_path: Path) -> None:
    raw = design_raw()
    raw["sellers"][1]["api_key"] = "${ACME_MEDIA_KEY}"  # two sellers with one key
    path = tmp_path / "buyers.yaml"
    path.write_text(yaml.safe_dump(raw))
    result = validate(path, SECRETS)
    assert result.returncode == 1
    assert "api_key" in result.stderr
    assert_no_secret(result.stdout + result.stderr)


def test_validate_a_missing_variable_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "buyers.yaml"
    path.write_text(DESIGN_YAML)
    env = {k: v for k, v in SECRETS.items() if k != "ACME_MEDIA_KEY"}
    clean = {k: v for k, v in os.environ.items() if k != "ACME_MEDIA_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "pingtree", "validate", str(path)],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "sellers[0:acme-media].api_key" in result.stderr
    assert "ACME_MEDIA_KEY" in result.stderr
    assert_no_secret(result.stdout + result.stderr)


@pytest.mark.parametrize("text", ["", "router: [unclosed\n"], ids=["empty", "not-yaml"])
def test_validate_refuses_an_empty_or_broken_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "buyers.yaml"
    path.write_text(text)
    result = validate(path, SECRETS)
    assert result.returncode == 1
    assert "1 error" in result.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "fallback-key-1"),
        ({"SELLER_KEY_X": ""}, "fallback-key-1"),
        ({"SELLER_KEY_X": "from-env-key"}, "from-env-key"),
    ],
    ids=["unset", "empty", "set"],
)
def test_an_env_reference_may_carry_a_default(env: dict[str, str], expected: str) -> None:
    raw = design_raw()
    raw["sellers"][0]["api_key"] = "${SELLER_KEY_X:-fallback-key-1}"
    config = parse_config(raw, {**SECRETS, **env})
    assert config.sellers[0].api_key.get_secret_value() == expected
