"""Vertical schemas (config/verticals.py, lead.apply_schema): what a vertical's lead must carry,
typed as declared, and which of its attributes are PII. Pure tables."""

from __future__ import annotations

from typing import Any

import pytest

from pingtree.config import parse_config
from pingtree.config.verticals import VerticalSchema
from pingtree.core.errors import ConfigError, LeadInvalid
from pingtree.core.lead import apply_schema, parse_lead
from tests.conftest import make_buyer, make_config, sample

FINAL_EXPENSE = VerticalSchema.model_validate(
    {
        "required": ["dob"],
        "attributes": {
            "coverage_interest": {"type": "integer", "required": True},
            "tobacco_use": {"type": "boolean"},
            "beneficiary_name": {"type": "string", "pii": True},
            "plan": {"type": "string", "values": ["basic", "premium"]},
            "quote_date": {"type": "date"},
            "bmi": {"type": "number"},
        },
        "derived": ["age_band"],
    }
)


def lead_with(**changes: Any) -> dict[str, Any]:
    body = sample("final-expense")
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(
    ("changes", "attribute", "typed"),
    [
        ({}, "coverage_interest", 15000),  # "15000" from the sample: text becomes a number
        ({"coverage_interest": 15000.0}, "coverage_interest", 15000),
        ({"coverage_interest": "25,000"}, "coverage_interest", 25000),
        ({"tobacco_use": "yes"}, "tobacco_use", True),
        ({"tobacco_use": "0"}, "tobacco_use", False),
        ({"tobacco_use": 1}, "tobacco_use", True),
        ({"plan": "Premium"}, "plan", "Premium"),
        ({"quote_date": "03/02/2026"}, "quote_date", "2026-03-02"),
        ({"quote_date": "2026-03-02"}, "quote_date", "2026-03-02"),
        ({"bmi": "27.5"}, "bmi", 27.5),
        ({"bmi": 27}, "bmi", 27),
    ],
)
def test_attributes_are_typed_as_the_schema_declares(
    changes: dict[str, Any], attribute: str, typed: Any
) -> None:
    lead = apply_schema(parse_lead(lead_with(**changes)), FINAL_EXPENSE)
    assert lead.attributes[attribute] == typed
    assert type(lead.attributes[attribute]) is type(typed)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"dob": None}, "dob", "is required for vertical final_expense"),
        ({"coverage_interest": None}, "coverage_interest", "is required"),
        ({"coverage_interest": ""}, "coverage_interest", "is required"),
        ({"coverage_interest": "lots"}, "coverage_interest", "must be a whole number"),
        ({"coverage_interest": "1.5"}, "coverage_interest", "must be a whole number"),
        ({"coverage_interest": True}, "coverage_interest", "must be a whole number"),
        ({"coverage_interest": "nan"}, "coverage_interest", "must be a whole number"),
        ({"tobacco_use": "sometimes"}, "tobacco_use", "must be true or false"),
        ({"tobacco_use": 2}, "tobacco_use", "must be true or false"),
        ({"plan": "gold"}, "plan", "must be one of basic, premium"),
        ({"plan": 3}, "plan", "must be text"),
        ({"quote_date": "2026-02-30"}, "quote_date", "must be a date"),
        ({"bmi": "inf"}, "bmi", "must be a number"),
    ],
)
def test_a_lead_that_breaks_its_schema_is_refused_naming_the_field(
    changes: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(LeadInvalid) as raised:
        apply_schema(parse_lead(lead_with(**changes)), FINAL_EXPENSE)
    assert raised.value.fields[field].startswith(message)


def test_every_broken_field_is_named_at_once() -> None:
    body = lead_with(dob=None, coverage_interest="x", plan="gold")
    with pytest.raises(LeadInvalid) as raised:
        apply_schema(parse_lead(body), FINAL_EXPENSE)
    assert set(raised.value.fields) == {"dob", "coverage_interest", "plan"}


def test_no_schema_takes_the_lead_as_it_is() -> None:
    lead = parse_lead(lead_with())
    assert apply_schema(lead, None) is lead


def test_attributes_the_schema_does_not_name_pass_unchanged() -> None:
    lead = apply_schema(parse_lead(lead_with(favourite_color="blue")), FINAL_EXPENSE)
    assert lead.attributes["favourite_color"] == "blue"


def test_schema_pii_joins_what_a_buyer_of_the_vertical_never_gets_in_a_ping() -> None:
    config = make_config(
        [make_buyer("fe", verticals=["final_expense"]), make_buyer("mva", verticals=["mva"])],
        verticals={"final_expense": FINAL_EXPENSE.model_dump()},
    )
    fe, mva = config.buyers
    assert "beneficiary_name" in config.pii_for(fe)
    assert "beneficiary_name" not in config.pii_for(mva)
    assert "beneficiary_name" in config.pii_for(mva, "final_expense")


@pytest.mark.parametrize(
    ("schema", "path", "message"),
    [
        ({"required": ["favourite_color"]}, "verticals.x.required", "unknown lead field"),
        ({"attributes": {"a b": {}}}, "verticals.x.attributes", "plain identifier"),
        ({"attributes": {"zip3": {}}}, "verticals.x.attributes", "derived field"),
        ({"attributes": {"n": {"type": "decimal"}}}, "verticals.x.attributes.n.type", "Input"),
        ({"derived": ["income"]}, "verticals.x.derived[0]", "Input"),
        (
            {"colour": 1},
            "verticals.x.colour",
            "unknown key; the keys here are attributes, derived, max_buyers, required, sell",
        ),
        ({"atributes": {}}, "verticals.x.atributes", "unknown key; did you mean 'attributes'?"),
    ],
)
def test_a_bad_schema_is_refused_at_its_path(
    schema: dict[str, Any], path: str, message: str
) -> None:
    raw = {
        "sellers": [{"id": "s", "api_key": "12345678"}],
        "buyers": [{"id": "b", "ping": {"url": "http://x/p"}, "post": {"url": "http://x/q"}}],
        "verticals": {"X": schema},
    }
    with pytest.raises(ConfigError) as raised:
        parse_config(raw, env={})
    assert any(p == path and message in m for p, m in raised.value.errors), raised.value.errors


def test_a_ping_mapping_reading_a_schema_pii_attribute_is_refused_at_load() -> None:
    raw = {
        "sellers": [{"id": "s", "api_key": "12345678"}],
        "verticals": {"final_expense": FINAL_EXPENSE.model_dump()},
        "buyers": [
            {
                "id": "b",
                "verticals": ["final_expense"],
                "ping": {
                    "url": "http://x/p",
                    "fields": [
                        {"to": "Coverage", "from": "attributes.coverage_interest"},
                        {"to": "Beneficiary", "from": "attributes.beneficiary_name"},
                    ],
                },
                "post": {"url": "http://x/q"},
            }
        ],
    }
    with pytest.raises(ConfigError) as raised:
        parse_config(raw, env={})
    assert raised.value.errors == [
        (
            "buyers[0:b].ping.fields[1].from",
            "'attributes.beneficiary_name' is PII: it can go in a post, never in a ping",
        )
    ]
