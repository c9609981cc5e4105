"""`consent:` and `checks:` in buyers.yaml (config/models/compliance.py): every mistake reported
at its own path, all at once, by the loader and by `pingtree validate`, whose summary lists the
checks and consent rules without a secret."""

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
from tests.conftest import config_dict, make_buyer

URL = "http://127.0.0.1:9/check"


def check(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "phone",
        "url": URL,
        "fields": [{"to": "PhoneNumber", "from": "phone"}],
        "response": {
            "accepted": {"path": "valid", "values": [True]},
            "attributes": {"type": {"path": "line_type_intelligence.type"}},
        },
        **overrides,
    }


def errors_of(raw: dict[str, Any], env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, env or {})
    return caught.value.errors


CASES = [
    pytest.param(
        {"router": {"budget_ms": 1000, "post_reserve_ms": 300, "checks_budget_ms": 1000}},
        "router.checks_budget_ms",
        "less than budget_ms",
        id="checks budget as long as the whole budget",
    ),
    pytest.param(
        {"router": {"budget_ms": 1000, "post_reserve_ms": 700}, "checks": [check()]},
        "router.checks_budget_ms",
        "leaves no time to ping buyers",
        id="checks and the post reserve take the whole budget",
    ),
    pytest.param(
        {"checks": [check(), check(url=URL + "2")]},
        "checks[1:phone].id",
        "the same id 'phone' as checks[0]",
        id="two checks of one id",
    ),
    pytest.param(
        {"checks": [check(fields=None)]},
        "checks[0:phone].fields",
        "give `fields`",
        id="a check without fields",
    ),
    pytest.param(
        {"checks": [check(fields=[{"to": "token", "from": "ping.token"}])]},
        "checks[0:phone].fields[0].from",
        "only known once buyers are pinged",
        id="a check reading a ping's answer",
    ),
    pytest.param(
        {"checks": [check(fields=[{"to": "n", "from": "delivery_attempt"}])]},
        "checks[0:phone].fields[0].from",
        "known only to deliveries",
        id="a check reading a delivery's attempt",
    ),
    pytest.param(
        {"checks": [check(on_error="ignore")]},
        "checks[0:phone].on_error",
        "'pass' or 'reject'",
        id="an on_error that is neither",
    ),
    pytest.param(
        {
            "checks": [
                check(
                    response={
                        "accepted": {"path": "valid"},
                        "attributes": {"type": {"xpath": "type"}},
                    }
                )
            ]
        },
        "checks[0:phone].response.attributes.type",
        "read with `path`",
        id="an xpath attribute in a JSON answer",
    ),
    pytest.param(
        {
            "checks": [
                check(
                    response={
                        "accepted": {"path": "valid"},
                        "attributes": {"line-type": {"path": "t"}},
                    }
                )
            ]
        },
        "checks[0:phone].response.attributes",
        "plain identifier",
        id="an attribute name that is no identifier",
    ),
    pytest.param(
        {"checks": [check(id="consent")]},
        "checks[0:consent].id",
        "consent-evidence gate",
        id="a check named like the consent gate",
    ),
    pytest.param(
        {"checks": [check(response=None)]},
        "checks[0:phone].response",
        "",
        id="a check without a response map",
    ),
    pytest.param(
        {"router": {"consent": {"require": "tcpa"}}},
        "router.consent.require",
        "'trustedform', 'jornaya' or 'any'",
        id="an unknown kind of evidence",
    ),
    pytest.param(
        {
            "sellers": [
                {
                    "id": "acme",
                    "api_key": "acme-key-0001",
                    "consent": {"require": "any", "max_age_s": 0},
                }
            ]
        },
        "sellers[0:acme].consent.max_age_s",
        "greater than 0",
        id="a seller's max_age_s of zero",
    ),
]


@pytest.mark.parametrize(("changes", "path", "fragment"), CASES)
def test_each_mistake_is_reported_at_its_path(
    changes: dict[str, Any], path: str, fragment: str
) -> None:
    raw = config_dict([make_buyer("firm")])
    raw.update({k: v for k, v in changes.items() if k != "router"})
    raw["router"].update(changes.get("router", {}))
    errors = errors_of(raw)
    assert any(where == path and fragment in message for where, message in errors), errors


def test_a_check_secret_from_the_environment_must_be_set() -> None:
    auth = {"type": "bearer", "token": "${LOOKUP_TOKEN}"}
    errors = errors_of(config_dict([make_buyer("firm")], checks=[check(auth=auth)]))
    assert ("checks[0:phone].auth.token", "environment variable LOOKUP_TOKEN is not set") in errors


def test_a_tight_budget_is_no_error_without_checks() -> None:
    raw = config_dict([make_buyer("firm")], router={"budget_ms": 1000, "post_reserve_ms": 700})
    assert parse_config(raw, env={}).router.checks_budget_ms == 300


def test_a_good_file_loads_with_its_defaults() -> None:
    config = parse_config(config_dict([make_buyer("firm")], checks=[check()]), env={})
    (loaded,) = config.checks
    assert (loaded.on_error, loaded.timeout_ms, loaded.method) == ("reject", 250, "POST")
    assert loaded.attribute_names() == ("phone_type",)
    assert config.router.checks_budget_ms == 300 and config.router.consent is None


def _validate(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pingtree", "validate", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def test_validate_lists_the_gates_and_never_a_secret(tmp_path: Path) -> None:
    auth = {"type": "basic", "username": "AC01", "password": "${LOOKUP_TOKEN}"}
    raw = config_dict(
        [make_buyer("firm")],
        router={"consent": {"require": "trustedform", "max_age_s": 900}},
        checks=[check(auth=auth, url=URL + "?key=${LOOKUP_TOKEN}", on_error="pass")],
    )
    raw["sellers"][1]["consent"] = {"require": "jornaya"}
    good = tmp_path / "buyers.yaml"
    good.write_text(yaml.safe_dump(raw))
    result = _validate(good, LOOKUP_TOKEN="lookup-secret-0123")
    assert result.returncode == 0, result.stderr
    assert "consent evidence: router trustedform within 900s" in result.stdout
    assert "consent evidence: seller other-media jornaya" in result.stdout
    assert "checks (1, within 300ms):" in result.stdout
    assert "phone: POST http://127.0.0.1:9/check" in result.stdout
    assert "on_error pass" in result.stdout and "adds phone_type" in result.stdout
    assert "lookup-secret-0123" not in result.stdout + result.stderr

    raw["checks"][0]["on_error"] = "ignore"
    raw["router"]["checks_budget_ms"] = 5000
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    result = _validate(bad, LOOKUP_TOKEN="lookup-secret-0123")
    assert result.returncode == 1
    for path in ("checks[0:phone].on_error", "router.checks_budget_ms"):
        assert path in result.stdout + result.stderr
    assert "lookup-secret-0123" not in result.stdout + result.stderr
