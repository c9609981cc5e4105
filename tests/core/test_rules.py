"""Eligibility and valid bids (pingtree/core/rules.py): tables of stories an operator would
recognise.

Every row builds its buyer from buyers.yaml-shaped keys and its lead from what a seller would send,
so a row reads like a ticket: "FL lead, buyer wants GA only -> filter:state".
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from pingtree.config import BuyerConfig, Caps, Filters, Range, Schedule, SellerConfig
from pingtree.core.lead import Lead, parse_lead
from pingtree.core.rules import (
    BID_REASONS,
    REJECTION_REASONS,
    SKIP_REASONS,
    BidLimits,
    as_number,
    bid_reason,
    cap_reason,
    cap_windows,
    filter_reason,
    filters_reason,
    local_time,
    pause_reason,
    rejection,
    schedule_open,
)

DROP = object()  # a lead field the seller did not send


def make_buyer(**overrides: Any) -> BuyerConfig:
    """A bidding buyer; keyword arguments are buyers.yaml keys."""
    raw: dict[str, Any] = {
        "id": "lawfirm-a",
        "ping": {"url": "https://a.example/ping"},
        "post": {"url": "https://a.example/post"},
    }
    raw.update(overrides)
    return BuyerConfig.model_validate(raw)


def make_lead(**fields: Any) -> Lead:
    """A valid Miami MVA lead; keyword arguments are what the seller sends (DROP removes one)."""
    body: dict[str, Any] = {
        "vertical": "mva",
        "phone": "+13055551234",
        "state": "FL",
        "zip": "33101",
        "tcpa_consent": True,
    }
    body.update(fields)
    return parse_lead({k: v for k, v in body.items() if v is not DROP})


# business rejections ------------------------------------------------------------------------------

BOUGHT = {"mva", "solar"}  # the verticals some buyer of the tree takes


def rejected(
    story: str,
    expected: str | None,
    *,
    lead: dict[str, Any] | None = None,
    seller: dict[str, Any] | None = None,
    require_consent: bool = True,
) -> Any:
    return pytest.param(lead or {}, seller or {}, require_consent, expected, id=story)


REJECTION_CASES = [
    rejected("consenting mva lead, tree buys mva -> goes to auction", None),
    rejected(
        "tcpa_consent false where consent is required -> consent_required",
        "consent_required",
        lead={"tcpa_consent": False},
    ),
    rejected(
        "no tcpa_consent sent where consent is required -> consent_required",
        "consent_required",
        lead={"tcpa_consent": DROP},
    ),
    rejected("form word 'yes' is consent -> goes to auction", None, lead={"tcpa_consent": "yes"}),
    rejected(
        "a test lead without consent meets the same rule -> consent_required",
        "consent_required",
        lead={"tcpa_consent": False, "test": True},
    ),
    rejected(
        "no consent, tree does not require it -> goes to auction",
        None,
        lead={"tcpa_consent": DROP},
        require_consent=False,
    ),
    rejected(
        "seller may send mva only, sends solar -> vertical_not_allowed",
        "vertical_not_allowed",
        lead={"vertical": "solar"},
        seller={"verticals": ["mva"]},
    ),
    rejected(
        "seller may send mva and solar, sends solar -> goes to auction",
        None,
        lead={"vertical": "solar"},
        seller={"verticals": ["mva", "solar"]},
    ),
    rejected(
        "seller's list written 'MVA', sends mva -> goes to auction",
        None,
        seller={"verticals": ["MVA"]},
    ),
    rejected(
        "pet-insurance lead, no buyer takes it -> no_buyer_for_vertical",
        "no_buyer_for_vertical",
        lead={"vertical": "pet-insurance"},
    ),
    rejected(
        "no consent and a vertical nobody buys -> consent_required is named first",
        "consent_required",
        lead={"tcpa_consent": False, "vertical": "pet-insurance"},
    ),
    rejected(
        "vertical the seller may not send and nobody buys -> vertical_not_allowed first",
        "vertical_not_allowed",
        lead={"vertical": "pet-insurance"},
        seller={"verticals": ["mva"]},
    ),
    rejected(
        "no consent needed, vertical nobody buys -> no_buyer_for_vertical",
        "no_buyer_for_vertical",
        lead={"tcpa_consent": DROP, "vertical": "pet-insurance"},
        require_consent=False,
    ),
]


@pytest.mark.parametrize(("lead", "seller", "require_consent", "expected"), REJECTION_CASES)
def test_rejection(
    lead: dict[str, Any], seller: dict[str, Any], require_consent: bool, expected: str | None
) -> None:
    acme = SellerConfig.model_validate({"id": "acme-media", "api_key": "k" * 16, **seller})
    found = rejection(
        make_lead(**lead), acme, require_consent=require_consent, buys=BOUGHT.__contains__
    )
    assert found == expected


def test_every_rejection_in_the_table_is_a_documented_reason() -> None:
    """A rejected lead's `reason` is a closed list (DESIGN §2), all three of it in the table."""
    expected = {row.values[-1] for row in REJECTION_CASES if row.values[-1] is not None}
    assert expected == set(REJECTION_REASONS)


# filters ------------------------------------------------------------------------------------------


def case(
    story: str,
    expected: str | None,
    *,
    buyer: dict[str, Any] | None = None,
    lead: dict[str, Any] | None = None,
    seller: str = "acme-media",
) -> Any:
    return pytest.param(buyer or {}, lead or {}, seller, expected, id=story)


def wants(**filters: Any) -> dict[str, Any]:
    return {"filters": filters}


NO_ATTORNEY = wants(require={"has_attorney": False})
INJURED = wants(require={"injury_reported": True})
BILL_OVER_100 = wants(ranges={"monthly_electric_bill": {"min": 100}})
BILL_100_TO_500 = wants(ranges={"monthly_electric_bill": {"min": 100, "max": 500}})

FILTER_CASES = [
    # verticals
    case("buyer with no filters takes any lead", None),
    case("mva lead, buyer buys mva -> eligible", None, buyer={"verticals": ["mva"]}),
    case(
        "mva lead, buyer buys solar only -> filter:vertical",
        "filter:vertical",
        buyer={"verticals": ["solar"]},
    ),
    case(
        "mva lead, buyer buys solar and mva -> eligible",
        None,
        buyer={"verticals": ["solar", "mva"]},
    ),
    case(
        "seller writes vertical 'MVA', buyer buys mva -> eligible",
        None,
        buyer={"verticals": ["mva"]},
        lead={"vertical": "MVA"},
    ),
    # sellers
    case(
        "buyer takes acme-media only, lead from acme-media -> eligible",
        None,
        buyer=wants(sellers=["acme-media"]),
    ),
    case(
        "buyer takes acme-media only, lead from other-media -> filter:seller",
        "filter:seller",
        buyer=wants(sellers=["acme-media"]),
        seller="other-media",
    ),
    case(
        "buyer takes two sellers, lead from the second -> eligible",
        None,
        buyer=wants(sellers=["acme-media", "other-media"]),
        seller="other-media",
    ),
    # states
    case(
        "FL lead, buyer wants GA only -> filter:state", "filter:state", buyer=wants(states=["GA"])
    ),
    case("FL lead, buyer wants FL and GA -> eligible", None, buyer=wants(states=["FL", "GA"])),
    case(
        "FL lead, operator wrote states in lower case -> eligible",
        None,
        buyer=wants(states=["fl", "ga"]),
    ),
    case(
        "seller sends state 'Florida', buyer wants FL -> eligible",
        None,
        buyer=wants(states=["FL"]),
        lead={"state": "Florida"},
    ),
    case(
        "lead without a state, buyer filters on states -> filter:state",
        "filter:state",
        buyer=wants(states=["FL"]),
        lead={"state": DROP},
    ),
    case("lead without a state, buyer has no state filter -> eligible", None, lead={"state": DROP}),
    # zip prefixes
    case("Miami 33101, buyer wants 331xx -> eligible", None, buyer=wants(zip_prefixes=["331"])),
    case(
        "Orlando 32801, buyer wants 331xx -> filter:zip",
        "filter:zip",
        buyer=wants(zip_prefixes=["331"]),
        lead={"zip": "32801"},
    ),
    case(
        "33101, buyer wants 330xx or 331xx -> eligible on the second prefix",
        None,
        buyer=wants(zip_prefixes=["330", "331"]),
    ),
    case(
        "buyer lists the exact 5-digit zip -> eligible",
        None,
        buyer=wants(zip_prefixes=["33101"]),
    ),
    case(
        "buyer lists 33102 only, lead is 33101 -> filter:zip",
        "filter:zip",
        buyer=wants(zip_prefixes=["33102"]),
    ),
    case(
        "ZIP+4 33101-1234 is cut to 33101 and matches 331 -> eligible",
        None,
        buyer=wants(zip_prefixes=["331"]),
        lead={"zip": "33101-1234"},
    ),
    case(
        "prefix 1331 is not 'contains 331': 33101 -> filter:zip",
        "filter:zip",
        buyer=wants(zip_prefixes=["1331"]),
    ),
    case(
        "lead without a zip, buyer filters on zip -> filter:zip",
        "filter:zip",
        buyer=wants(zip_prefixes=["331"]),
        lead={"zip": DROP},
    ),
    # which filter speaks first
    case(
        "solar-only buyer also wanting GA, FL mva lead -> filter:vertical first",
        "filter:vertical",
        buyer={"verticals": ["solar"], **wants(states=["GA"])},
    ),
    case(
        "wrong seller and wrong state -> filter:seller first",
        "filter:seller",
        buyer=wants(sellers=["acme-media"], states=["GA"]),
        seller="other-media",
    ),
    case(
        "wrong state and wrong zip -> filter:state first",
        "filter:state",
        buyer=wants(states=["GA"], zip_prefixes=["303"]),
    ),
    case(
        "right state, wrong zip -> filter:zip",
        "filter:zip",
        buyer=wants(states=["FL"], zip_prefixes=["328"]),
    ),
    case(
        "every filter passes -> eligible",
        None,
        buyer={
            "verticals": ["mva"],
            **wants(
                states=["FL", "GA"],
                zip_prefixes=["331"],
                sellers=["acme-media"],
                require={"has_attorney": False, "case_type": ["mva", "truck"]},
                ranges={"injury_count": {"min": 1}},
            ),
        },
        lead={"has_attorney": False, "case_type": "mva", "injury_count": 2},
    ),
    # require: a boolean, from JSON or from a form
    case(
        "no attorney (JSON false), buyer wants none -> eligible",
        None,
        buyer=NO_ATTORNEY,
        lead={"has_attorney": False},
    ),
    case(
        "has an attorney (JSON true), buyer wants none -> filter:field",
        "filter:field",
        buyer=NO_ATTORNEY,
        lead={"has_attorney": True},
    ),
    case(
        "form lead has_attorney='false', buyer wants false -> eligible",
        None,
        buyer=NO_ATTORNEY,
        lead={"has_attorney": "false"},
    ),
    case(
        "form lead has_attorney='no' -> eligible",
        None,
        buyer=NO_ATTORNEY,
        lead={"has_attorney": "no"},
    ),
    case(
        "form lead has_attorney=' No ' (case, spaces) -> eligible",
        None,
        buyer=NO_ATTORNEY,
        lead={"has_attorney": " No "},
    ),
    case(
        "form lead has_attorney='0' -> eligible",
        None,
        buyer=NO_ATTORNEY,
        lead={"has_attorney": "0"},
    ),
    case(
        "has_attorney sent as the number 0 -> eligible",
        None,
        buyer=NO_ATTORNEY,
        lead={"has_attorney": 0},
    ),
    case(
        "form lead has_attorney='yes', buyer wants false -> filter:field",
        "filter:field",
        buyer=NO_ATTORNEY,
        lead={"has_attorney": "yes"},
    ),
    case(
        "form lead has_attorney='TRUE', buyer wants false -> filter:field",
        "filter:field",
        buyer=NO_ATTORNEY,
        lead={"has_attorney": "TRUE"},
    ),
    case(
        "has_attorney='maybe' is not a boolean -> filter:field",
        "filter:field",
        buyer=NO_ATTORNEY,
        lead={"has_attorney": "maybe"},
    ),
    case(
        "has_attorney=2 is not a boolean -> filter:field",
        "filter:field",
        buyer=NO_ATTORNEY,
        lead={"has_attorney": 2},
    ),
    case(
        "seller left has_attorney out, buyer requires false -> filter:field",
        "filter:field",
        buyer=NO_ATTORNEY,
    ),
    case(
        "seller sent has_attorney: null, buyer requires false -> filter:field",
        "filter:field",
        buyer=NO_ATTORNEY,
        lead={"has_attorney": None},
    ),
    case(
        "injury_reported JSON true, buyer requires true -> eligible",
        None,
        buyer=INJURED,
        lead={"injury_reported": True},
    ),
    case(
        "form lead injury_reported='yes' -> eligible",
        None,
        buyer=INJURED,
        lead={"injury_reported": "yes"},
    ),
    case(
        "form lead injury_reported='1' -> eligible",
        None,
        buyer=INJURED,
        lead={"injury_reported": "1"},
    ),
    case(
        "form lead injury_reported='false', buyer requires true -> filter:field",
        "filter:field",
        buyer=INJURED,
        lead={"injury_reported": "false"},
    ),
    # require: text and lists of allowed values
    case(
        "case_type truck, buyer takes [mva, truck] -> eligible",
        None,
        buyer=wants(require={"case_type": ["mva", "truck"]}),
        lead={"case_type": "truck"},
    ),
    case(
        "case_type 'Truck ' (case, space), buyer takes [mva, truck] -> eligible",
        None,
        buyer=wants(require={"case_type": ["mva", "truck"]}),
        lead={"case_type": "Truck "},
    ),
    case(
        "case_type slip_and_fall, buyer takes [mva, truck] -> filter:field",
        "filter:field",
        buyer=wants(require={"case_type": ["mva", "truck"]}),
        lead={"case_type": "slip_and_fall"},
    ),
    case(
        "medical_treatment 'ER_VISIT', buyer requires er_visit -> eligible",
        None,
        buyer=wants(require={"medical_treatment": "er_visit"}),
        lead={"medical_treatment": "ER_VISIT"},
    ),
    case(
        "medical_treatment 'none', buyer requires er_visit -> filter:field",
        "filter:field",
        buyer=wants(require={"medical_treatment": "er_visit"}),
        lead={"medical_treatment": "none"},
    ),
    case(
        "vehicles 2 sent as text '2', buyer takes [1, 2] -> eligible",
        None,
        buyer=wants(require={"vehicles": [1, 2]}),
        lead={"vehicles": "2"},
    ),
    case(
        "vehicles 3, buyer takes [1, 2] -> filter:field",
        "filter:field",
        buyer=wants(require={"vehicles": [1, 2]}),
        lead={"vehicles": 3},
    ),
    # require: a number
    case(
        "age '65' from a form, buyer requires 65 -> eligible",
        None,
        buyer=wants(require={"age": 65}),
        lead={"age": "65"},
    ),
    case(
        "age 65.0, buyer requires 65 -> eligible",
        None,
        buyer=wants(require={"age": 65}),
        lead={"age": 65.0},
    ),
    case(
        "age 64, buyer requires 65 -> filter:field",
        "filter:field",
        buyer=wants(require={"age": 65}),
        lead={"age": 64},
    ),
    case(
        "age 'sixty-five' is not a number -> filter:field",
        "filter:field",
        buyer=wants(require={"age": 65}),
        lead={"age": "sixty-five"},
    ),
    case(
        "homeowner JSON true, buyer requires the number 1 -> filter:field (a bool is no number)",
        "filter:field",
        buyer=wants(require={"homeowner": 1}),
        lead={"homeowner": True},
    ),
    case(
        "two requires, the second fails -> filter:field",
        "filter:field",
        buyer=wants(require={"has_attorney": False, "injury_reported": True}),
        lead={"has_attorney": False, "injury_reported": False},
    ),
    # ranges
    case(
        "bill 240, buyer wants at least 100 -> eligible",
        None,
        buyer=BILL_OVER_100,
        lead={"monthly_electric_bill": 240},
    ),
    case(
        "bill '240' from a form counts as 240 -> eligible",
        None,
        buyer=BILL_OVER_100,
        lead={"monthly_electric_bill": "240"},
    ),
    case(
        "bill ' 240.50 ' with spaces -> eligible",
        None,
        buyer=BILL_OVER_100,
        lead={"monthly_electric_bill": " 240.50 "},
    ),
    case(
        "bill '1,200' with a thousands comma -> eligible",
        None,
        buyer=BILL_OVER_100,
        lead={"monthly_electric_bill": "1,200"},
    ),
    case(
        "bill exactly 100, min 100 is inclusive -> eligible",
        None,
        buyer=BILL_OVER_100,
        lead={"monthly_electric_bill": 100},
    ),
    case(
        "bill 99.99, buyer wants at least 100 -> filter:field",
        "filter:field",
        buyer=BILL_OVER_100,
        lead={"monthly_electric_bill": 99.99},
    ),
    case(
        "bill '99' from a form, buyer wants at least 100 -> filter:field",
        "filter:field",
        buyer=BILL_OVER_100,
        lead={"monthly_electric_bill": "99"},
    ),
    case(
        "bill exactly 500, max 500 is inclusive -> eligible",
        None,
        buyer=BILL_100_TO_500,
        lead={"monthly_electric_bill": 500},
    ),
    case(
        "bill 500.01, buyer takes 100..500 -> filter:field",
        "filter:field",
        buyer=BILL_100_TO_500,
        lead={"monthly_electric_bill": 500.01},
    ),
    case(
        "bill '1,200', buyer takes 100..500 -> filter:field",
        "filter:field",
        buyer=BILL_100_TO_500,
        lead={"monthly_electric_bill": "1,200"},
    ),
    case(
        "bill 'n/a' is not a number -> filter:field",
        "filter:field",
        buyer=BILL_OVER_100,
        lead={"monthly_electric_bill": "n/a"},
    ),
    case(
        "bill '' (blank form field) -> filter:field",
        "filter:field",
        buyer=BILL_OVER_100,
        lead={"monthly_electric_bill": ""},
    ),
    case(
        "bill 'NaN' is not a number -> filter:field",
        "filter:field",
        buyer=BILL_OVER_100,
        lead={"monthly_electric_bill": "NaN"},
    ),
    case(
        "bill 'inf' is not a number -> filter:field",
        "filter:field",
        buyer=BILL_OVER_100,
        lead={"monthly_electric_bill": "inf"},
    ),
    case(
        "bill JSON true is not a number -> filter:field",
        "filter:field",
        buyer=BILL_OVER_100,
        lead={"monthly_electric_bill": True},
    ),
    case(
        "bill missing, buyer has a range on it -> filter:field",
        "filter:field",
        buyer=BILL_OVER_100,
    ),
    case(
        "credit score 580, buyer takes at most 600 -> eligible",
        None,
        buyer=wants(ranges={"credit_score": {"max": 600}}),
        lead={"credit_score": 580},
    ),
    case(
        "negative debt '-50', buyer wants at least 0 -> filter:field",
        "filter:field",
        buyer=wants(ranges={"unsecured_debt": {"min": 0}}),
        lead={"unsecured_debt": "-50"},
    ),
]


@pytest.mark.parametrize(("buyer", "lead", "seller_id", "expected"), FILTER_CASES)
def test_filter_reason(
    buyer: dict[str, Any], lead: dict[str, Any], seller_id: str, expected: str | None
) -> None:
    assert filter_reason(make_buyer(**buyer), make_lead(**lead), seller_id) == expected


@pytest.mark.parametrize(
    ("filters", "lead", "seller_id", "expected"),
    [
        pytest.param(Filters(), {}, "acme-media", None, id="empty filters pass everything"),
        pytest.param(
            Filters(states=frozenset({"TX"})),
            {"state": "TX"},
            "acme-media",
            None,
            id="Texas lead, Texas filter -> eligible",
        ),
        pytest.param(
            Filters(sellers=frozenset({"acme-media"})),
            {},
            "acme-media",
            None,
            id="seller on the list -> eligible",
        ),
        pytest.param(
            Filters(sellers=frozenset()),
            {},
            "acme-media",
            "filter:seller",
            id="empty sellers list takes no seller",
        ),
        pytest.param(
            Filters(ranges={"age": Range(min=18, max=64)}),
            {"age": "70"},
            "acme-media",
            "filter:field",
            id="age 70 outside 18..64 -> filter:field",
        ),
        pytest.param(
            Filters(require={"has_attorney": False}, ranges={"age": Range(min=18)}),
            {"has_attorney": "no", "age": "30"},
            "acme-media",
            None,
            id="form words and numeric text pass require and ranges together",
        ),
    ],
)
def test_filters_reason(
    filters: Filters, lead: dict[str, Any], seller_id: str, expected: str | None
) -> None:
    assert filters_reason(filters, make_lead(**lead), seller_id) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(240, 240.0, id="int"),
        pytest.param(240.5, 240.5, id="float"),
        pytest.param("240", 240.0, id="numeric text"),
        pytest.param(" 240 ", 240.0, id="numeric text with spaces"),
        pytest.param("1,200", 1200.0, id="thousands comma"),
        pytest.param("-3.5", -3.5, id="negative text"),
        pytest.param(True, None, id="true is not a number"),
        pytest.param(False, None, id="false is not a number"),
        pytest.param("n/a", None, id="words are not a number"),
        pytest.param("", None, id="blank is not a number"),
        pytest.param("NaN", None, id="NaN text is not a number"),
        pytest.param(float("nan"), None, id="NaN float is not a number"),
        pytest.param("Infinity", None, id="infinity text is not a number"),
        pytest.param(float("inf"), None, id="inf float is not a number"),
        pytest.param(None, None, id="null is not a number"),
        pytest.param([240], None, id="a list is not a number"),
    ],
)
def test_as_number(value: Any, expected: float | None) -> None:
    assert as_number(value) == expected


# schedules ----------------------------------------------------------------------------------------

# 2024-06-03 is a Monday; the week's days are the 3rd to the 9th, the next Monday the 10th.
JUNE_WEEK = {"mon": 3, "tue": 4, "wed": 5, "thu": 6, "fri": 7, "sat": 8, "sun": 9, "next-mon": 10}
WEEKDAYS_ONLY = {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": "08:00-20:00"}
FRIDAY_NIGHT = {"days": ["fri"], "hours": "20:00-02:00"}
SUNDAY_NIGHT = {"days": ["sun"], "hours": "22:00-06:00"}


def local(day: str, hhmm: str, seconds: int = 0) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(2024, 6, JUNE_WEEK[day], hour, minute, seconds, tzinfo=ZoneInfo("UTC"))


def when(story: str, schedule: dict[str, Any] | None, at: datetime, expected: bool) -> Any:
    return pytest.param(schedule, at, expected, id=story)


SCHEDULE_CASES = [
    when("no schedule -> open at 3 am Sunday", None, local("sun", "03:00"), True),
    when("weekday 08-20, Monday 08:00 sharp -> open", WEEKDAYS_ONLY, local("mon", "08:00"), True),
    when("weekday 08-20, Monday 07:59 -> closed", WEEKDAYS_ONLY, local("mon", "07:59"), False),
    when(
        "weekday 08-20, Monday 19:59:59 -> open",
        WEEKDAYS_ONLY,
        local("mon", "19:59", 59),
        True,
    ),
    when(
        "weekday 08-20, Monday 20:00 -> closed (end exclusive)",
        WEEKDAYS_ONLY,
        local("mon", "20:00"),
        False,
    ),
    when("weekday 08-20, Friday noon -> open", WEEKDAYS_ONLY, local("fri", "12:00"), True),
    when("weekday 08-20, Saturday noon -> closed", WEEKDAYS_ONLY, local("sat", "12:00"), False),
    when("weekday 08-20, Sunday noon -> closed", WEEKDAYS_ONLY, local("sun", "12:00"), False),
    when(
        "weekends all day, Sunday 23:59 -> open",
        {"days": ["sat", "sun"]},
        local("sun", "23:59"),
        True,
    ),
    when(
        "weekends all day, Monday 00:00 -> closed",
        {"days": ["sat", "sun"]},
        local("next-mon", "00:00"),
        False,
    ),
    when(
        "days written 'Monday', 'TUE' -> Tuesday open",
        {"days": ["Monday", "TUE"]},
        local("tue", "10:00"),
        True,
    ),
    when(
        "every day 00:00-24:00, midnight -> open",
        {"hours": "00:00-24:00"},
        local("wed", "00:00"),
        True,
    ),
    when(
        "half hours 09:30-17:30, 09:29 -> closed",
        {"hours": "09:30-17:30"},
        local("wed", "09:29"),
        False,
    ),
    when(
        "half hours 09:30-17:30, 09:30 -> open",
        {"hours": "09:30-17:30"},
        local("wed", "09:30"),
        True,
    ),
    when(
        "half hours 09:30-17:30, 17:30 -> closed",
        {"hours": "09:30-17:30"},
        local("wed", "17:30"),
        False,
    ),
    # windows that span midnight belong to the day they start on
    when("Friday 20:00-02:00, Friday 20:00 -> open", FRIDAY_NIGHT, local("fri", "20:00"), True),
    when("Friday 20:00-02:00, Friday 23:59 -> open", FRIDAY_NIGHT, local("fri", "23:59"), True),
    when(
        "Friday 20:00-02:00, Saturday 00:00 -> open (Friday's window)",
        FRIDAY_NIGHT,
        local("sat", "00:00"),
        True,
    ),
    when(
        "Friday 20:00-02:00, Saturday 01:59 -> open",
        FRIDAY_NIGHT,
        local("sat", "01:59"),
        True,
    ),
    when(
        "Friday 20:00-02:00, Saturday 02:00 -> closed",
        FRIDAY_NIGHT,
        local("sat", "02:00"),
        False,
    ),
    when(
        "Friday 20:00-02:00, Friday 01:00 -> closed (that is Thursday's night)",
        FRIDAY_NIGHT,
        local("fri", "01:00"),
        False,
    ),
    when(
        "Friday 20:00-02:00, Saturday 20:00 -> closed",
        FRIDAY_NIGHT,
        local("sat", "20:00"),
        False,
    ),
    when(
        "Friday 20:00-02:00, Friday 19:59 -> closed",
        FRIDAY_NIGHT,
        local("fri", "19:59"),
        False,
    ),
    when(
        "Sunday 22:00-06:00, Monday 05:59 -> open across the week boundary",
        SUNDAY_NIGHT,
        local("next-mon", "05:59"),
        True,
    ),
    when(
        "Sunday 22:00-06:00, Monday 06:00 -> closed",
        SUNDAY_NIGHT,
        local("next-mon", "06:00"),
        False,
    ),
    when(
        "Sunday 22:00-06:00, Sunday 05:00 -> closed (Saturday has no window)",
        SUNDAY_NIGHT,
        local("sun", "05:00"),
        False,
    ),
    when(
        "Sunday 22:00-06:00, Sunday 22:00 -> open",
        SUNDAY_NIGHT,
        local("sun", "22:00"),
        True,
    ),
    when(
        "every night 20:00-02:00, Tuesday 01:00 -> open (Monday's window)",
        {"hours": "20:00-02:00"},
        local("tue", "01:00"),
        True,
    ),
    when(
        "every night 20:00-02:00, Tuesday 12:00 -> closed",
        {"hours": "20:00-02:00"},
        local("tue", "12:00"),
        False,
    ),
    when(
        "Monday 08:00-00:00, Monday 23:59 -> open",
        {"days": ["mon"], "hours": "08:00-00:00"},
        local("mon", "23:59"),
        True,
    ),
    when(
        "Monday 08:00-00:00, Tuesday 00:00 -> closed",
        {"days": ["mon"], "hours": "08:00-00:00"},
        local("tue", "00:00"),
        False,
    ),
]


@pytest.mark.parametrize(("schedule", "at", "expected"), SCHEDULE_CASES)
def test_schedule_open(schedule: dict[str, Any] | None, at: datetime, expected: bool) -> None:
    model = None if schedule is None else Schedule.model_validate(schedule)
    assert schedule_open(model, at) is expected


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "timezone", "schedule", "expected"),
    [
        pytest.param(
            utc("2024-06-03T13:00"),
            "America/New_York",
            WEEKDAYS_ONLY,
            True,
            id="Monday 13:00Z is 09:00 in New York -> open",
        ),
        pytest.param(
            utc("2024-06-03T01:00"),
            "America/New_York",
            WEEKDAYS_ONLY,
            False,
            id="Monday 01:00Z is still Sunday 21:00 in New York -> closed",
        ),
        pytest.param(
            utc("2024-06-03T11:59"),
            "America/New_York",
            WEEKDAYS_ONLY,
            False,
            id="Monday 11:59Z is 07:59 in New York -> closed",
        ),
        pytest.param(
            utc("2024-06-08T02:00"),
            "America/Los_Angeles",
            WEEKDAYS_ONLY,
            True,
            id="Saturday 02:00Z is Friday 19:00 in Los Angeles -> open",
        ),
        pytest.param(
            utc("2024-06-08T03:00"),
            "America/Los_Angeles",
            WEEKDAYS_ONLY,
            False,
            id="Saturday 03:00Z is Friday 20:00 in Los Angeles -> closed",
        ),
        pytest.param(
            utc("2024-06-03T02:30"),
            "Asia/Kolkata",
            WEEKDAYS_ONLY,
            True,
            id="Monday 02:30Z is 08:00 in Kolkata (+05:30) -> open",
        ),
        pytest.param(
            utc("2024-06-03T02:29"),
            "Asia/Kolkata",
            WEEKDAYS_ONLY,
            False,
            id="Monday 02:29Z is 07:59 in Kolkata -> closed",
        ),
        pytest.param(
            utc("2024-06-02T21:00"),
            "Pacific/Auckland",
            WEEKDAYS_ONLY,
            True,
            id="Sunday 21:00Z is Monday 09:00 in Auckland -> open",
        ),
        pytest.param(
            utc("2024-03-08T12:30"),
            "America/New_York",
            WEEKDAYS_ONLY,
            False,
            id="Friday before DST, 12:30Z is 07:30 EST -> closed",
        ),
        pytest.param(
            utc("2024-03-11T12:30"),
            "America/New_York",
            WEEKDAYS_ONLY,
            True,
            id="Monday after DST starts, 12:30Z is 08:30 EDT -> open",
        ),
        pytest.param(
            utc("2024-11-01T12:30"),
            "America/New_York",
            WEEKDAYS_ONLY,
            True,
            id="Friday before DST ends, 12:30Z is 08:30 EDT -> open",
        ),
        pytest.param(
            utc("2024-11-04T12:30"),
            "America/New_York",
            WEEKDAYS_ONLY,
            False,
            id="Monday after DST ends, 12:30Z is 07:30 EST -> closed",
        ),
        pytest.param(
            utc("2024-06-08T03:30"),
            "America/Chicago",
            FRIDAY_NIGHT,
            True,
            id="Saturday 03:30Z is Friday 22:30 in Chicago -> Friday night window open",
        ),
    ],
)
def test_schedule_in_the_buyer_timezone(
    now: datetime, timezone: str, schedule: dict[str, Any], expected: bool
) -> None:
    assert schedule_open(Schedule.model_validate(schedule), local_time(now, timezone)) is expected


@pytest.mark.parametrize(
    ("now", "timezone", "expected"),
    [
        pytest.param(
            utc("2024-06-03T13:00"), "UTC", "2024-06-03T13:00:00+00:00", id="UTC stays UTC"
        ),
        pytest.param(
            utc("2024-06-03T13:00"),
            "America/New_York",
            "2024-06-03T09:00:00-04:00",
            id="New York summer is UTC-4",
        ),
        pytest.param(
            utc("2024-01-03T13:00"),
            "America/New_York",
            "2024-01-03T08:00:00-05:00",
            id="New York winter is UTC-5",
        ),
        pytest.param(
            utc("2024-01-01T18:15"),
            "Asia/Kathmandu",
            "2024-01-02T00:00:00+05:45",
            id="Kathmandu is UTC+5:45 and already tomorrow",
        ),
    ],
)
def test_local_time(now: datetime, timezone: str, expected: str) -> None:
    assert local_time(now, timezone).isoformat() == expected


# cap windows --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "timezone", "hour", "day"),
    [
        pytest.param(
            utc("2024-06-03T13:45"),
            "UTC",
            "2024-06-03T13+0000",
            "2024-06-03",
            id="UTC buyer, 13:45 -> hour 13 of June 3",
        ),
        pytest.param(
            utc("2024-06-04T02:30"),
            "America/New_York",
            "2024-06-03T22-0400",
            "2024-06-03",
            id="02:30Z on June 4 still counts in New York's June 3",
        ),
        pytest.param(
            utc("2024-01-01T07:59"),
            "America/Los_Angeles",
            "2023-12-31T23-0800",
            "2023-12-31",
            id="07:59Z on New Year's Day is still New Year's Eve in Los Angeles",
        ),
        pytest.param(
            utc("2024-03-10T06:59"),
            "America/New_York",
            "2024-03-10T01-0500",
            "2024-03-10",
            id="DST starts: 01:59 EST is the last minute before the jump",
        ),
        pytest.param(
            utc("2024-03-10T07:00"),
            "America/New_York",
            "2024-03-10T03-0400",
            "2024-03-10",
            id="DST starts: the next minute is 03:00 EDT, hour 02 never happens",
        ),
        pytest.param(
            utc("2024-11-03T05:30"),
            "America/New_York",
            "2024-11-03T01-0400",
            "2024-11-03",
            id="DST ends: first 01:30 (EDT)",
        ),
        pytest.param(
            utc("2024-11-03T06:30"),
            "America/New_York",
            "2024-11-03T01-0500",
            "2024-11-03",
            id="DST ends: second 01:30 (EST) is another hour window, same day",
        ),
        pytest.param(
            utc("2024-01-01T18:29"),
            "Asia/Kolkata",
            "2024-01-01T23+0530",
            "2024-01-01",
            id="Kolkata +05:30: 18:29Z is 23:59 on Jan 1",
        ),
        pytest.param(
            utc("2024-01-01T18:30"),
            "Asia/Kolkata",
            "2024-01-02T00+0530",
            "2024-01-02",
            id="Kolkata +05:30: 18:30Z starts Jan 2",
        ),
        pytest.param(
            utc("2024-01-01T18:14"),
            "Asia/Kathmandu",
            "2024-01-01T23+0545",
            "2024-01-01",
            id="Kathmandu +05:45: 18:14Z is 23:59 on Jan 1",
        ),
        pytest.param(
            utc("2024-01-01T18:15"),
            "Asia/Kathmandu",
            "2024-01-02T00+0545",
            "2024-01-02",
            id="Kathmandu +05:45: 18:15Z starts Jan 2",
        ),
        pytest.param(
            utc("2024-01-02T03:29"),
            "America/St_Johns",
            "2024-01-01T23-0330",
            "2024-01-01",
            id="Newfoundland -03:30: 03:29Z is still Jan 1",
        ),
        pytest.param(
            utc("2024-01-02T03:30"),
            "America/St_Johns",
            "2024-01-02T00-0330",
            "2024-01-02",
            id="Newfoundland -03:30: 03:30Z starts Jan 2",
        ),
        pytest.param(
            utc("2024-04-06T14:45"),
            "Australia/Lord_Howe",
            "2024-04-07T01+1100",
            "2024-04-07",
            id="Lord Howe half-hour DST end: 01:45 at +11",
        ),
        pytest.param(
            utc("2024-04-06T15:15"),
            "Australia/Lord_Howe",
            "2024-04-07T01+1030",
            "2024-04-07",
            id="Lord Howe half-hour DST end: the repeated 01:45 at +10:30 is its own window",
        ),
    ],
)
def test_cap_windows(now: datetime, timezone: str, hour: str, day: str) -> None:
    windows = cap_windows(now, timezone)
    assert (windows.hour, windows.day) == (hour, day)


@pytest.mark.parametrize(
    ("first", "second", "timezone", "same_hour", "same_day"),
    [
        pytest.param(
            utc("2024-01-01T18:30"),
            utc("2024-01-01T19:29"),
            "Asia/Kolkata",
            True,
            True,
            id="Kolkata's local hour runs 18:30Z-19:29Z: one hourly window",
        ),
        pytest.param(
            utc("2024-01-01T19:29"),
            utc("2024-01-01T19:30"),
            "Asia/Kolkata",
            False,
            True,
            id="Kolkata: 19:30Z opens the next local hour, not 19:00Z",
        ),
        pytest.param(
            utc("2024-01-01T18:59"),
            utc("2024-01-01T19:00"),
            "Asia/Kolkata",
            True,
            True,
            id="Kolkata: the UTC hour turning over is no local boundary",
        ),
        pytest.param(
            utc("2024-11-03T05:30"),
            utc("2024-11-03T06:30"),
            "America/New_York",
            False,
            True,
            id="New York fall-back: the two 01:30s are two hourly windows of one day",
        ),
        pytest.param(
            utc("2024-06-03T04:00"),
            utc("2024-06-04T03:59"),
            "America/New_York",
            False,
            True,
            id="New York summer day runs 04:00Z to 03:59Z next day",
        ),
        pytest.param(
            utc("2024-06-03T23:59"),
            utc("2024-06-04T00:00"),
            "America/New_York",
            False,
            True,
            id="UTC midnight is 20:00 in New York: a new local hour, the same day",
        ),
        pytest.param(
            utc("2024-06-04T03:59"),
            utc("2024-06-04T04:00"),
            "America/New_York",
            False,
            False,
            id="04:00Z is New York midnight: new hour, new day",
        ),
        pytest.param(
            utc("2024-06-03T23:59"),
            utc("2024-06-04T00:00"),
            "UTC",
            False,
            False,
            id="UTC buyer: midnight UTC starts a new day",
        ),
    ],
)
def test_cap_windows_group_sales(
    first: datetime, second: datetime, timezone: str, same_hour: bool, same_day: bool
) -> None:
    a, b = cap_windows(first, timezone), cap_windows(second, timezone)
    assert (a.hour == b.hour, a.day == b.day) == (same_hour, same_day)


# caps ---------------------------------------------------------------------------------------------


def capped(
    story: str,
    caps: dict[str, Any],
    expected: str | None,
    *,
    hour: int = 0,
    day: int = 0,
    spend: str = "0",
    price: str = "0",
) -> Any:
    return pytest.param(caps, hour, day, Decimal(spend), Decimal(price), expected, id=story)


CAP_CASES = [
    capped("no caps, 500 sold today -> not capped", {}, None, hour=100, day=500, spend="9999"),
    capped("hourly 10, 9 sold this hour -> one more fits", {"hourly": 10}, None, hour=9, day=9),
    capped("hourly 10, 10 sold this hour -> cap:hourly", {"hourly": 10}, "cap:hourly", hour=10),
    capped(
        "hourly cap lowered to 10 with 12 already sold -> cap:hourly",
        {"hourly": 10},
        "cap:hourly",
        hour=12,
    ),
    capped("hourly 0 pauses the buyer -> cap:hourly", {"hourly": 0}, "cap:hourly"),
    capped("daily 50, 49 sold today -> one more fits", {"daily": 50}, None, hour=3, day=49),
    capped("daily 50, 50 sold today -> cap:daily", {"daily": 50}, "cap:daily", hour=0, day=50),
    capped("daily 0 pauses the buyer -> cap:daily", {"daily": 0}, "cap:daily"),
    capped(
        "hourly and daily both full -> cap:hourly is named first",
        {"hourly": 10, "daily": 50},
        "cap:hourly",
        hour=10,
        day=50,
    ),
    capped(
        "hour has room, day is full -> cap:daily",
        {"hourly": 10, "daily": 50},
        "cap:daily",
        hour=2,
        day=50,
    ),
    capped(
        "budget 2000, 1960 spent, $40 bid lands exactly on it -> fits",
        {"daily_budget": 2000},
        None,
        spend="1960",
        price="40",
    ),
    capped(
        "budget 2000, 1960 spent, $40.01 bid -> cap:budget",
        {"daily_budget": 2000},
        "cap:budget",
        spend="1960",
        price="40.01",
    ),
    capped(
        "budget 2000, 1999.99 spent, before the ping (price 0) -> still pinged",
        {"daily_budget": 2000},
        None,
        spend="1999.99",
    ),
    capped(
        "budget 2000 fully spent, before the ping (price 0) -> cap:budget",
        {"daily_budget": 2000},
        "cap:budget",
        spend="2000",
    ),
    capped(
        "budget 2000 overspent after a config change -> cap:budget",
        {"daily_budget": 2000},
        "cap:budget",
        spend="2100",
    ),
    capped("budget 0 pauses the buyer -> cap:budget", {"daily_budget": 0}, "cap:budget"),
    capped(
        "budget 2000, 1990 spent, $15 bid -> cap:budget",
        {"daily_budget": "2000"},
        "cap:budget",
        spend="1990",
        price="15",
    ),
    capped(
        "hour full and budget gone -> cap:hourly first",
        {"hourly": 5, "daily_budget": 100},
        "cap:hourly",
        hour=5,
        spend="100",
    ),
    capped(
        "day full and budget gone -> cap:daily before cap:budget",
        {"daily": 5, "daily_budget": 100},
        "cap:daily",
        day=5,
        spend="100",
    ),
    capped(
        "all three caps with room -> not capped",
        {"hourly": 10, "daily": 50, "daily_budget": 2000},
        None,
        hour=9,
        day=49,
        spend="1000",
        price="35",
    ),
]


@pytest.mark.parametrize(("caps", "hour", "day", "spend", "price", "expected"), CAP_CASES)
def test_cap_reason(
    caps: dict[str, Any], hour: int, day: int, spend: Decimal, price: Decimal, expected: str | None
) -> None:
    assert cap_reason(Caps.model_validate(caps), hour, day, spend, price) == expected


# valid bids ---------------------------------------------------------------------------------------


def bid(
    story: str,
    price: str,
    expected: str | None,
    *,
    floor: str = "1.00",
    max_bid: str = "1000",
    breakeven: str | None = None,
    expires_at_ms: float | None = None,
    now_ms: float = 500,
) -> Any:
    limits = BidLimits(
        Decimal(floor), Decimal(max_bid), None if breakeven is None else Decimal(breakeven)
    )
    return pytest.param(Decimal(price), limits, expires_at_ms, now_ms, expected, id=story)


BID_CASES = [
    bid("$42.50 bid, floor $1, max $1000 -> valid", "42.50", None),
    bid("bid exactly at the floor -> valid", "1.00", None),
    bid("$0.99 under a $1 floor -> below_floor", "0.99", "below_floor"),
    bid("$0 bid -> below_floor", "0", "below_floor"),
    bid("$0 bid even with a zero floor -> below_floor", "0", "below_floor", floor="0"),
    bid("a cent with a zero floor -> valid", "0.01", None, floor="0"),
    bid("negative bid -> below_floor", "-5.00", "below_floor"),
    bid("bid exactly at max_bid -> valid", "1000.00", None),
    bid("$1000.01 over a $1000 max -> above_max_bid", "1000.01", "above_max_bid"),
    bid("absurd 1e308 bid -> above_max_bid", "1e308", "above_max_bid"),
    bid("floor raised to $25, $24.99 bid -> below_floor", "24.99", "below_floor", floor="25"),
    bid("max lowered to $100, $150 bid -> above_max_bid", "150", "above_max_bid", max_bid="100"),
    bid(
        "seller paid $20 fixed, margin $5: $24.99 -> below_breakeven",
        "24.99",
        "below_breakeven",
        breakeven="25.00",
    ),
    bid("seller paid $20 fixed, margin $5: $25.00 -> valid", "25.00", None, breakeven="25.00"),
    bid(
        "seller paid $20 fixed, no margin: $19.99 -> below_breakeven",
        "19.99",
        "below_breakeven",
        breakeven="20",
    ),
    bid("revshare seller (no breakeven), $1.50 bid -> valid", "1.50", None),
    bid(
        "under the floor and under breakeven -> below_floor is named first",
        "0.50",
        "below_floor",
        breakeven="20",
    ),
    bid(
        "breakeven above max_bid, $1000 bid -> below_breakeven",
        "1000",
        "below_breakeven",
        breakeven="1500",
    ),
    bid("no expiry given -> valid whenever", "42.50", None, now_ms=10_000_000),
    bid(
        "bid expires at 60000 ms, now 59999 -> valid",
        "42.50",
        None,
        expires_at_ms=60_000,
        now_ms=59_999,
    ),
    bid(
        "bid expires at 60000 ms, now exactly 60000 -> still valid",
        "42.50",
        None,
        expires_at_ms=60_000,
        now_ms=60_000,
    ),
    bid(
        "bid expired at 60000 ms, now 60001 -> bid_expired",
        "42.50",
        "bid_expired",
        expires_at_ms=60_000,
        now_ms=60_001,
    ),
    bid(
        "expired and above max -> above_max_bid is named first",
        "5000",
        "above_max_bid",
        expires_at_ms=100,
        now_ms=200,
    ),
    bid(
        "expired and under breakeven -> below_breakeven is named first",
        "10",
        "below_breakeven",
        breakeven="20",
        expires_at_ms=100,
        now_ms=200,
    ),
]


@pytest.mark.parametrize(("price", "limits", "expires_at_ms", "now_ms", "expected"), BID_CASES)
def test_bid_reason(
    price: Decimal,
    limits: BidLimits,
    expires_at_ms: float | None,
    now_ms: float,
    expected: str | None,
) -> None:
    assert bid_reason(price, limits, expires_at_ms, now_ms) == expected


def test_every_reason_in_these_tables_is_a_documented_code() -> None:
    """Trace reason codes are a closed list (DESIGN §7): the module names every one it returns."""
    expected = {
        row.values[-1]
        for table in (FILTER_CASES, CAP_CASES, BID_CASES)
        for row in table
        if row.values[-1] is not None
    }
    assert expected <= set(SKIP_REASONS) | set(BID_REASONS)
    assert {"filter:vertical", "filter:state", "filter:zip", "filter:seller", "filter:field"} <= (
        expected
    )
    assert {"cap:hourly", "cap:daily", "cap:budget"} <= expected
    assert {"below_floor", "above_max_bid", "below_breakeven", "bid_expired"} <= expected


PAUSE_CASES = [
    pytest.param("a", frozenset(), None, id="nobody paused -> eligible"),
    pytest.param("a", frozenset({"b"}), None, id="another buyer paused -> eligible"),
    pytest.param("a", frozenset({"a"}), "paused", id="this buyer paused -> paused"),
    pytest.param("a", frozenset({"a", "b"}), "paused", id="paused with others -> paused"),
]


@pytest.mark.parametrize(("buyer_id", "paused", "expected"), PAUSE_CASES)
def test_pause_reason(buyer_id: str, paused: frozenset[str], expected: str | None) -> None:
    assert pause_reason(make_buyer(id=buyer_id), paused) == expected
    if expected is not None:
        assert expected in SKIP_REASONS


def test_an_unquoted_zip_prefix_is_refused_at_load() -> None:
    """YAML reads 021 as the octal 17: a number is never trusted as a zip prefix."""
    with pytest.raises(ValidationError, match="quote zip prefixes"):
        make_buyer(filters={"zip_prefixes": [331]})
