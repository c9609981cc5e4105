"""pingtree/core/lead.py: what a seller sends becomes a valid, normalized lead (DESIGN §5), and the
ping copy carries nothing that identifies the consumer (DESIGN §8)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError

import pingtree.core.lead as lead_module
from pingtree.core.errors import LeadInvalid
from pingtree.core.lead import PII_FIELDS, Lead, anonymize, parse_lead, redact
from tests.conftest import sample

# The keys of a native ping, DESIGN §8: exactly these, nothing else.
PING_KEYS = {
    "ping_id",
    "vertical",
    "state",
    "zip",
    "seller",
    "sub_id",
    "attributes",
    "tcpa_consent",
    "has_trustedform",
    "test",
}
# Every PII field DESIGN §8 names; the module's own list must cover them.
DESIGN_PII = {
    "first_name",
    "last_name",
    "phone",
    "email",
    "address",
    "city",
    "ip_address",
    "dob",
    "trustedform_url",
    "jornaya_leadid",
}

MINIMAL = {"vertical": "mva", "phone": "404-555-0123"}


def lead_with(**fields: Any) -> Lead:
    return parse_lead({**MINIMAL, **fields})


def invalid_fields(body: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(LeadInvalid) as caught:
        parse_lead(body)
    assert caught.value.status == 422
    assert caught.value.code == "lead_invalid"
    return caught.value.fields


def assert_refused(field: str, value: Any) -> None:
    """The one bad field is named, and its message does not echo what the seller sent."""
    fields = invalid_fields({**MINIMAL, field: value})
    assert set(fields) == {field}, fields
    if isinstance(value, str) and len(value.strip()) >= 4:
        assert value.strip() not in fields[field]


# phone -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "e164"),
    [
        ("(602) 555-0147", "+16025550147"),  # the solar sample's format
        ("404-555-0123", "+14045550123"),  # the final-expense sample's format
        ("+13055551234", "+13055551234"),  # already E.164
        ("404.555.0123", "+14045550123"),
        ("404 555 0123", "+14045550123"),
        ("1-404-555-0123", "+14045550123"),  # with the trunk prefix
        ("+1 (404) 555-0123", "+14045550123"),
        ("  4045550123  ", "+14045550123"),  # padded
        (4045550123, "+14045550123"),  # a JSON number
        (14045550123, "+14045550123"),  # a JSON number with the country code
    ],
)
def test_phone_is_normalized_to_e164(sent: Any, e164: str) -> None:
    assert lead_with(phone=sent).phone == e164


@pytest.mark.parametrize(
    "sent",
    [
        "1234567890",  # ten digits, but area code 123 does not exist
        "0000000000",
        "555-0123",  # seven digits: no area code
        "+1 123 456 7890",
        "call me maybe",
        "",
        "   ",
        True,  # a JSON boolean is not a number
        ["4045550123"],
    ],
)
def test_a_phone_that_is_not_a_real_number_is_refused(sent: Any) -> None:
    assert_refused("phone", sent)


# state -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "code"),
    [
        ("FL", "FL"),
        ("fl", "FL"),
        (" ga ", "GA"),
        ("Florida", "FL"),
        ("florida", "FL"),
        ("Arizona", "AZ"),  # the solar sample's state
        ("new york", "NY"),
        ("  North   Carolina ", "NC"),
        ("District of Columbia", "DC"),
    ],
)
def test_state_names_and_codes_become_the_two_letter_code(sent: str, code: str) -> None:
    assert lead_with(state=sent).state == code


@pytest.mark.parametrize("sent", ["XX", "Floridaa", "F", "Ontario", 12, True])
def test_an_unknown_state_is_refused(sent: Any) -> None:
    assert_refused("state", sent)


def test_an_empty_state_is_no_state() -> None:
    assert lead_with(state="").state is None


# email -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("John.Smith@Example.com", "john.smith@example.com"),
        ("  MARIA.GONZALEZ@EXAMPLE.COM ", "maria.gonzalez@example.com"),
        ("dhill@example.net", "dhill@example.net"),
        ("a+tag@sub.example.co", "a+tag@sub.example.co"),
    ],
)
def test_email_is_lower_cased(sent: str, stored: str) -> None:
    assert lead_with(email=sent).email == stored


@pytest.mark.parametrize(
    "sent",
    ["not-an-email", "a@b", "@example.com", "john@", "john smith@example.com", "a@@b.com", 12],
)
def test_a_malformed_email_is_refused(sent: Any) -> None:
    assert_refused("email", sent)


# zip -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("33101", "33101"),
        (" 33101 ", "33101"),
        ("33101-1234", "33101"),  # ZIP+4 keeps its five digits
        ("331011234", "33101"),
        (33101, "33101"),  # a JSON number
        (2101, "02101"),  # a JSON number that lost its leading zero
    ],
)
def test_zip_is_five_digits(sent: Any, stored: str) -> None:
    assert lead_with(zip=sent).zip == stored


@pytest.mark.parametrize(
    "sent", ["3310", "331012", "33101-12", "abcde", "FL 33101", 33101.5, True, 1234567]
)
def test_a_bad_zip_is_refused(sent: Any) -> None:
    assert_refused("zip", sent)


# dob, ip, consent timestamp ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("1951-06-14", "1951-06-14"),
        ("06/14/1951", "1951-06-14"),
        ("6/4/1951", "1951-06-04"),
        (" 1980-01-31 ", "1980-01-31"),
    ],
)
def test_dob_is_an_iso_date(sent: str, stored: str) -> None:
    assert lead_with(dob=sent).dob == stored


@pytest.mark.parametrize("sent", ["14/06/1951", "1951-02-30", "yesterday", "1951", 19510614])
def test_a_bad_dob_is_refused(sent: Any) -> None:
    assert_refused("dob", sent)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("198.51.100.42", "198.51.100.42"),
        (" 203.0.113.7 ", "203.0.113.7"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
    ],
)
def test_ip_address_is_normalized(sent: str, stored: str) -> None:
    assert lead_with(ip_address=sent).ip_address == stored


@pytest.mark.parametrize("sent", ["999.1.1.1", "198.51.100", "localhost", "not an ip"])
def test_a_bad_ip_address_is_refused(sent: str) -> None:
    assert_refused("ip_address", sent)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2026-02-26T14:04:12Z", "2026-02-26T14:04:12+00:00"),
        ("2026-03-02T09:12:44-05:00", "2026-03-02T09:12:44-05:00"),
        ("2026-01-28T14:30:00.250+00:00", "2026-01-28T14:30:00.250000+00:00"),
    ],
)
def test_consent_timestamp_is_iso_8601(sent: str, stored: str) -> None:
    assert lead_with(consent_timestamp=sent).consent_timestamp == stored


@pytest.mark.parametrize(
    "sent", ["yesterday", "2026-13-01T00:00:00Z", "02/26/2026 2pm", 1700000000]
)
def test_a_bad_consent_timestamp_is_refused(sent: Any) -> None:
    assert_refused("consent_timestamp", sent)


# booleans --------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["tcpa_consent", "test"])
@pytest.mark.parametrize(
    ("sent", "meaning"),
    [
        ("true", True),
        ("false", False),
        ("yes", True),
        ("no", False),
        ("1", True),
        ("0", False),
        ("TRUE", True),
        ("Yes", True),
        (" no ", False),
        (True, True),
        (False, False),
        (1, True),
        (0, False),
    ],
)
def test_form_words_are_booleans(field: str, sent: Any, meaning: bool) -> None:
    assert getattr(lead_with(**{field: sent}), field) is meaning


@pytest.mark.parametrize("field", ["tcpa_consent", "test"])
@pytest.mark.parametrize("sent", ["maybe", "on?", "2", 2, -1, "yess"])
def test_other_words_are_not_booleans(field: str, sent: Any) -> None:
    assert_refused(field, sent)


def test_test_defaults_to_false_and_consent_to_unknown() -> None:
    lead = lead_with()
    assert lead.test is False
    assert lead.tcpa_consent is None


# required fields and several errors at once ----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({}, {"vertical", "phone"}),
        ({"phone": "404-555-0123"}, {"vertical"}),
        ({"vertical": "mva"}, {"phone"}),
        ({"vertical": "mva", "phone": None}, {"phone"}),  # JSON null is not a phone
        ({"first_name": "Maria", "email": "m@example.com"}, {"vertical", "phone"}),
    ],
)
def test_vertical_and_phone_are_required(body: dict[str, Any], missing: set[str]) -> None:
    fields = invalid_fields(body)
    assert set(fields) == missing
    assert all(fields[name] for name in missing)


def test_every_bad_field_is_named_at_once() -> None:
    body = {
        "phone": "1234567890",
        "email": "maria at example",
        "state": "Atlantis",
        "zip": "3310",
        "dob": "31/12/1980",
        "ip_address": "999.0.0.1",
        "tcpa_consent": "maybe",
        "consent_timestamp": "last week",
        "details": {"nested": True},
        "history": [1, 2],
    }
    fields = invalid_fields(body)
    assert set(fields) == {
        "vertical",
        "phone",
        "email",
        "state",
        "zip",
        "dob",
        "ip_address",
        "tcpa_consent",
        "consent_timestamp",
        "details",
        "history",
    }


def test_error_messages_name_fields_without_echoing_pii() -> None:
    body = {**MINIMAL, "phone": "1234567890", "email": "maria.gonzalez@@example.com"}
    with pytest.raises(LeadInvalid) as caught:
        parse_lead(body)
    text = str(caught.value) + caught.value.detail + orjson.dumps(caught.value.fields).decode()
    assert "1234567890" not in text
    assert "maria.gonzalez" not in text.lower()


# vertical attributes ---------------------------------------------------------------------------


def test_every_other_field_is_a_vertical_attribute_kept_with_its_json_type() -> None:
    lead = parse_lead(sample("mva-legal"))
    assert lead.attributes == {
        "case_type": "mva",
        "accident_date": "2026-02-20",
        "injury_reported": True,
        "at_fault": False,
        "has_attorney": False,
        "medical_treatment": "er_visit",
        "exclusivity": "exclusive",
    }


@pytest.mark.parametrize(
    "value", [True, False, 240, 0, -3, 1.5, "240", "", "er_visit", None], ids=repr
)
def test_an_attribute_keeps_its_json_type(value: Any) -> None:
    kept = lead_with(monthly_electric_bill=value).attributes["monthly_electric_bill"]
    assert kept == value
    assert type(kept) is type(value)


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2], [], {}], ids=repr)
def test_nested_attributes_are_refused(value: Any) -> None:
    assert_refused("household", value)


def test_known_fields_are_not_attributes() -> None:
    lead = parse_lead(sample("solar"))
    assert not set(lead.attributes) & set(Lead.model_fields)
    assert lead.attributes == {
        "homeowner": True,
        "monthly_electric_bill": 240,
        "roof_shade": "none",
    }


@pytest.mark.parametrize(
    ("name", "phone", "email", "state", "zip_code"),
    [
        ("mva-legal", "+13055551234", "maria.gonzalez@example.com", "FL", "33101"),
        ("solar", "+16025550147", "john.smith@example.com", "AZ", "85004"),
        ("final-expense", "+14045550123", "dhill@example.net", "GA", "30303"),
    ],
)
def test_the_samples_normalize(
    name: str, phone: str, email: str, state: str, zip_code: str
) -> None:
    lead = parse_lead(sample(name))
    assert (lead.phone, lead.email, lead.state, lead.zip) == (phone, email, state, zip_code)
    assert lead.tcpa_consent is True


# (field, as the seller sent it, as the lead keeps it for rules)
COMPLIANCE_AS_SENT = [
    ("consent_timestamp", "2026-02-26T14:04:12.000Z", "2026-02-26T14:04:12+00:00"),
    ("consent_timestamp", "2026-03-02T09:12:44-05:00", "2026-03-02T09:12:44-05:00"),
    ("tcpa_consent", "yes", True),
    ("tcpa_consent", "1", True),
    ("tcpa_consent", 1, True),
    ("tcpa_consent", "No", False),
    ("ip_address", "2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
    ("ip_address", "::FFFF:192.0.2.1", "::ffff:c000:201"),
    ("ip_address", " 198.51.100.42", "198.51.100.42"),
    (
        "trustedform_url",
        "https://cert.trustedform.com/0f3c?a=1&b= 2",
        "https://cert.trustedform.com/0f3c?a=1&b= 2",
    ),
    ("jornaya_leadid", "LEADID_7F3A-11 ", "LEADID_7F3A-11"),
]


@pytest.mark.parametrize(("field", "sent", "kept"), COMPLIANCE_AS_SENT)
def test_compliance_fields_are_kept_as_sent_beside_their_normalized_value(
    field: str, sent: Any, kept: Any
) -> None:
    lead = lead_with(**{field: sent})
    assert getattr(lead, field) == kept  # what rules read
    assert lead.sent_value(field) == sent and type(lead.sent_value(field)) is type(sent)
    # Out of the dump: the idempotency fingerprint compares the lead as normalized.
    assert field not in lead.model_dump()["attributes"] and "as_sent" not in lead.model_dump()
    assert lead.model_dump() == lead_with(**{field: kept}).model_dump()


def test_other_fields_go_out_normalized_and_an_empty_compliance_field_not_at_all() -> None:
    lead = lead_with(phone="(404) 555-0123", ip_address="", state="Georgia")
    assert (lead.sent_value("phone"), lead.sent_value("state")) == ("+14045550123", "GA")
    assert lead.sent_value("ip_address") is None and lead.as_sent == {}


def test_redact_hides_the_ip_in_the_sellers_spelling_too() -> None:
    lead = lead_with(ip_address="2001:DB8:0:0:0:0:0:1")
    for said in ("blocked 2001:DB8:0:0:0:0:0:1", "blocked 2001:db8::1"):
        assert "2001" not in redact(said, lead)


def test_a_lead_is_frozen() -> None:
    lead = lead_with()
    with pytest.raises(ValidationError):
        lead.phone = "+13055551234"  # type: ignore[misc]


# anonymize -------------------------------------------------------------------------------------


def ping_of(lead: Lead, pii: frozenset[str] = frozenset()) -> dict[str, Any]:
    return anonymize(lead, seller_id="acme-media", ping_id="pg_TEST", pii=pii)


def test_the_module_knows_every_pii_field_of_the_design() -> None:
    assert DESIGN_PII <= PII_FIELDS


@pytest.mark.parametrize("name", ["mva-legal", "solar", "final-expense"])
def test_a_ping_carries_exactly_the_design_keys_and_no_pii(name: str) -> None:
    body = sample(name)
    lead = parse_lead(body)
    ping = ping_of(lead)
    assert set(ping) == PING_KEYS
    assert not set(ping) & DESIGN_PII
    assert not set(ping["attributes"]) & DESIGN_PII
    raw = orjson.dumps(ping).decode().lower()
    for field in DESIGN_PII:
        for value in (body.get(field), getattr(lead, field)):
            if value is not None:
                assert str(value).lower() not in raw, field
    assert lead.phone.removeprefix("+1") not in raw


def test_a_ping_carries_the_lead_values_it_should() -> None:
    lead = parse_lead({**sample("mva-legal"), "sub_id": "fb-12", "test": "yes"})
    ping = ping_of(lead)
    assert ping == {
        "ping_id": "pg_TEST",
        "vertical": "mva",
        "state": "FL",
        "zip": "33101",
        "seller": "acme-media",
        "sub_id": "fb-12",
        "attributes": {
            "case_type": "mva",
            "accident_date": "2026-02-20",
            "injury_reported": True,
            "at_fault": False,
            "has_attorney": False,
            "medical_treatment": "er_visit",
            "exclusivity": "exclusive",
        },
        "tcpa_consent": True,
        "has_trustedform": True,
        "test": True,
    }


def test_has_trustedform_is_false_without_a_certificate() -> None:
    assert ping_of(parse_lead(sample("solar")))["has_trustedform"] is False


def test_attributes_marked_pii_are_dropped() -> None:
    lead = parse_lead(sample("mva-legal"))
    ping = ping_of(lead, pii=frozenset({"accident_date", "medical_treatment", "not_sent"}))
    assert "accident_date" not in ping["attributes"]
    assert "medical_treatment" not in ping["attributes"]
    assert ping["attributes"]["case_type"] == "mva"


FINAL_EXPENSE_PII_COPIES = [
    ("mobile", "404-555-0123"),
    ("mobile", "(404) 555-0123"),
    ("mobile", "404.555.0123"),
    ("mobile", "4045550123"),
    ("mobile", "+14045550123"),
    ("mobile", "1-404-555-0123"),
    ("mobile", 4045550123),
    ("mobile", 14045550123),
    ("contact", "call 404 555 0123 after 5"),
    ("contact_email", "dhill@example.net"),
    ("contact_email", "DHill@Example.NET"),
    ("insured_name", "Dorothy"),
    ("insured_name", "dorothy hill"),
    ("insured_name", "HILL"),
    ("beneficiary", "Dorothy Hill (self)"),
    ("birthdate", "1951-06-14"),
    ("cert", "https://cert.trustedform.com/7d2e11aa90c3b8f4"),
]


@pytest.mark.parametrize(("name", "value"), FINAL_EXPENSE_PII_COPIES, ids=repr)
def test_an_attribute_repeating_the_leads_pii_is_dropped(name: str, value: Any) -> None:
    lead = parse_lead({**sample("final-expense"), name: value, "coverage_interest": "15000"})
    attributes = ping_of(lead)["attributes"]
    assert name not in attributes
    assert attributes == {"coverage_interest": "15000", "tobacco_use": False}


@pytest.mark.parametrize(
    ("field", "value", "copy"),
    [
        ("address", "1200 Sunset Blvd", "1200 SUNSET BLVD"),
        ("city", "Phoenix", "phoenix"),
        ("ip_address", "198.51.100.42", "198.51.100.42"),
        ("jornaya_leadid", "A1B2C3D4-E5F6-7890", "a1b2c3d4-e5f6-7890"),
    ],
)
def test_an_attribute_repeating_any_pii_field_is_dropped(field: str, value: str, copy: str) -> None:
    lead = lead_with(**{field: value, "echo": copy, "roof_shade": "none"})
    assert ping_of(lead)["attributes"] == {"roof_shade": "none"}


def test_an_attribute_repeating_the_dob_as_sent_is_dropped() -> None:
    lead = parse_lead({**sample("final-expense"), "dob": "06/14/1951", "birthdate": "06/14/1951"})
    assert "birthdate" not in ping_of(lead)["attributes"]


def test_an_attribute_repeating_the_phone_as_a_float_is_dropped() -> None:
    lead = parse_lead({**sample("final-expense"), "mobile": 4045550123.0})
    assert "4045550123" not in orjson.dumps(ping_of(lead)).decode()


def test_non_pii_attributes_that_look_numeric_are_kept() -> None:
    lead = lead_with(monthly_electric_bill=240, coverage_interest="15000", zip="30303")
    assert ping_of(lead)["attributes"] == {
        "monthly_electric_bill": 240,
        "coverage_interest": "15000",
    }


# redact ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "secret"),
    [
        ("Duplicate: +14045550123", "+14045550123"),
        ("Duplicate phone 4045550123 on file", "4045550123"),
        ("Dorothy Hill already bought", "dorothy"),
        ("dhill@example.net is on our DNC list", "dhill@example.net"),
        ("DHILL@EXAMPLE.NET is on our DNC list", "dhill@example.net"),
    ],
)
def test_redact_hides_the_leads_pii_in_a_buyers_words(said: str, secret: str) -> None:
    lead = parse_lead(sample("final-expense"))
    redacted = redact(said, lead)
    assert secret not in redacted.lower()
    assert "*" in redacted


def test_redact_leaves_other_words_alone() -> None:
    lead = parse_lead(sample("final-expense"))
    assert redact("Quota Reached", lead) == "Quota Reached"
    assert redact("", lead) == ""


@pytest.mark.parametrize(
    "said",
    ["Duplicate: 404-555-0123", "Duplicate: (404) 555-0123", "dup 404.555.0123", "+1 404 555 0123"],
)
def test_redact_hides_a_formatted_phone(said: str) -> None:
    lead = parse_lead(sample("final-expense"))
    redacted = redact(said, lead)
    assert "555-0123" not in redacted
    assert "4045550123" not in "".join(ch for ch in redacted if ch.isdigit())


@pytest.mark.parametrize(
    "order",
    ["longest_first", "shortest_first"],
)
def test_redact_hides_an_email_that_contains_the_name(
    order: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PII_FIELDS is a frozenset, so its order changes with PYTHONHASHSEED; pin both orders.
    fields = sorted(PII_FIELDS, key=lambda f: f in ("first_name", "last_name"))
    if order == "shortest_first":
        fields.reverse()
    monkeypatch.setattr(lead_module, "PII_FIELDS", tuple(fields))
    lead = parse_lead(sample("final-expense"))  # last_name Hill, email dhill@example.net
    redacted = redact("DHILL@EXAMPLE.NET is on our DNC list", lead)
    assert "example.net" not in redacted.lower()
