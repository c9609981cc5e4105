"""DESIGN §8b: a buyer whose spec demands a field that is PII by default (city, IP address, email
domain) names it in `ping_pii_allowed`, and its pings, and only its pings, carry it. `pingtree
validate` lists every such opt-in; the trace marks each ping that carried one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from pingtree.config import parse_config
from pingtree.core.errors import ConfigError
from tests.buyers import BuyerServer
from tests.conftest import config_dict, make_buyer, make_config, sample

CITY = "Coral Gables"
EMAIL = "Maria.Gonzalez@Example.COM"


def buyers_for(server: BuyerServer | None) -> list[dict[str, Any]]:
    """Three buyers of one tier: one opted in to the city, one not, and one whose own dialect
    prices by the consumer's email domain."""
    return [
        make_buyer("firm-city", server, ping_pii_allowed=["city"]),
        make_buyer("firm-plain", server),
        make_buyer(
            "firm-domain",
            server,
            ping_pii_allowed=["email_domain"],
            ping={
                "fields": [
                    {"to": "state", "from": "state"},
                    {"to": "mail.domain", "from": "email_domain"},
                ]
            },
        ),
    ]


def lead() -> dict[str, Any]:
    return {**sample("mva-legal"), "city": CITY, "email": EMAIL}


async def test_only_the_opted_in_buyers_ping_carries_the_city_and_the_trace_says_so(
    buyers: BuyerServer, start_router
) -> None:
    for name, bid in (("firm-city", 30), ("firm-plain", 20), ("firm-domain", 10)):
        buyers.set(name, bid=bid)
    router = await start_router(make_config(buyers_for(buyers)))
    status, answer, _ = await router.send(lead())
    assert status == 200 and answer["status"] == "sold"

    (city_ping,) = buyers.recorded("firm-city").pings
    assert city_ping["city"] == CITY
    (plain_ping,) = buyers.recorded("firm-plain").pings
    (domain_ping,) = buyers.recorded("firm-domain").pings
    assert domain_ping == {"state": "FL", "mail": {"domain": "example.com"}}
    for raw in buyers.recorded("firm-plain").raw_pings + buyers.recorded("firm-domain").raw_pings:
        assert CITY.encode() not in raw
    assert "city" not in plain_ping
    for raw in (b for name in ("firm-city", "firm-plain", "firm-domain")
                for b in buyers.recorded(name).raw_pings):  # fmt: skip
        for pii in ("Maria", "Gonzalez", "5551234", "198.51.100.42", "Example.COM"):
            assert pii.encode() not in raw  # nothing else: no name, phone, IP, the address

    view = await router.admin(answer["id"])
    pings = {e["buyer_id"]: e for e in view["trace"] if e["step"] == "ping"}
    assert pings["firm-city"]["pii"] == ["city"]
    assert pings["firm-domain"]["pii"] == ["email_domain"]
    assert "pii" not in pings["firm-plain"]
    post = next(e for e in view["trace"] if e["step"] == "post")
    assert "pii" not in post  # a post carries the whole lead anyway: no mark


async def test_a_lead_without_the_field_is_not_marked(buyers: BuyerServer, start_router) -> None:
    router = await start_router(make_config(buyers_for(buyers)))
    status, answer, _ = await router.send({**lead(), "city": None})
    assert status == 200
    (city_ping,) = buyers.recorded("firm-city").pings
    assert "city" not in city_ping
    view = await router.admin(answer["id"])
    ping = next(e for e in view["trace"] if e["buyer_id"] == "firm-city")
    assert "pii" not in ping


def test_validate_lists_every_opt_in(tmp_path: Path) -> None:
    path = tmp_path / "buyers.yaml"
    path.write_text(yaml.safe_dump(config_dict(buyers_for(None))))  # validate calls no buyer
    result = subprocess.run(
        [sys.executable, "-m", "pingtree", "validate", str(path)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    opt_ins = result.stdout.split("ping PII opt-ins (ping_pii_allowed):\n")[1].splitlines()
    assert opt_ins == [
        "  firm-city: its ping carries city",
        "  firm-domain: its ping carries email_domain",
    ]


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        pytest.param(
            {"ping_pii_allowed": ["city", "phone", "email"]},
            "buyers[0:firm].ping_pii_allowed",
            "'email', 'phone' can never go in a ping; "
            "ping_pii_allowed takes city, email_domain, ip_address",
            id="phone and email can never be opted in",
        ),
        pytest.param(
            {"ping": {"fields": [{"to": "town", "from": "city"}]}},
            "buyers[0:firm].ping.fields[0].from",
            "'city' is PII: it can go in a post, never in a ping "
            "unless the buyer names it in ping_pii_allowed",
            id="a ping mapping reading the city without the opt-in",
        ),
        pytest.param(
            {
                "ping_pii_allowed": ["city"],
                "ping": {"fields": [{"to": "domain", "from": "email_domain"}]},
            },
            "buyers[0:firm].ping.fields[0].from",
            "'email_domain' is PII: it can go in a post, never in a ping "
            "unless the buyer names it in ping_pii_allowed",
            id="an opt-in to one field is not one to another",
        ),
        pytest.param(
            {"ping_pii_allowed": ["city"], "ping": {"headers": {"X-Ip": {"from": "ip_address"}}}},
            "buyers[0:firm].ping.headers.X-Ip.from",
            "'ip_address' is PII: it can go in a post, never in a ping "
            "unless the buyer names it in ping_pii_allowed",
            id="a ping header reading the IP without the opt-in",
        ),
        pytest.param(
            {"ping_pii_allowed": ["city"], "pricing": "fixed", "price": 20},
            "buyers[0:firm].ping_pii_allowed",
            "this buyer is never pinged (no ping.url)",
            id="a buyer that is never pinged",
        ),
    ],
)
def test_what_cannot_be_opted_in_is_refused_at_load_with_its_path(
    changes: dict[str, Any], path: str, message: str
) -> None:
    buyer = make_buyer("firm", **changes)
    with pytest.raises(ConfigError) as raised:
        parse_config(config_dict([buyer]), env={})
    assert raised.value.errors == [(path, message)]
