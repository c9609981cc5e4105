"""The typed transforms of a field mapping (pingtree/codec/transforms.py), one table per family.

Every transform in config.dialect.TRANSFORMS has rows here, including the values it refuses; a
refusal names the field and the transform, never the value (it may be a consumer's phone).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from pingtree.config.dialect import TRANSFORMS
from pingtree.core.codec.transforms import MappingError, apply, text_of


def case(story: str, value: Any, spec: str, expected: Any) -> Any:
    return pytest.param(value, spec, expected, id=story)


APPLIED = [
    # phone: the lead's phone is E.164 (+13055551234) after normalization
    case("E.164 stays E.164", "+13055551234", "phone:e164", "+13055551234"),
    case("a UK number stays E.164", "+442071838750", "phone:e164", "+442071838750"),
    case("dashed US number -> E.164", "305-555-1234", "phone:e164", "+13055551234"),
    case("E.164 -> 10 digits", "+13055551234", "phone:10", "3055551234"),
    case("11 digits with the leading 1 -> 10", "13055551234", "phone:10", "3055551234"),
    case("an integer phone -> 10 digits", 3055551234, "phone:10", "3055551234"),
    case("E.164 -> (305) 555-1234", "+13055551234", "phone:us", "(305) 555-1234"),
    case("dotted -> (305) 555-1234", "305.555.1234", "phone:us", "(305) 555-1234"),
    case("E.164 -> 305-555-1234", "+13055551234", "phone:dashes", "305-555-1234"),
    # state
    case("FL -> Florida", "FL", "state:name", "Florida"),
    case("a name stays a name", "florida", "state:name", "Florida"),
    case("DC -> District of Columbia", "DC", "state:name", "District of Columbia"),
    case("Florida -> FL", "Florida", "state:code", "FL"),
    case("' new york ' -> NY", " new york ", "state:code", "NY"),
    case("fl -> FL", "fl", "state:code", "FL"),
    # date and datetime: ISO in, the buyer's pattern out
    case("ISO date -> US date", "2026-02-20", "date:%m/%d/%Y", "02/20/2026"),
    case("ISO date -> day first", "2026-02-20", "date:%d.%m.%Y", "20.02.2026"),
    case("a date object", date(1951, 6, 14), "date:%Y%m%d", "19510614"),
    case("an ISO datetime's date", "2026-02-26T14:04:12Z", "date:%Y-%m-%d", "2026-02-26"),
    case(
        "datetime with Z keeps UTC",
        "2026-02-26T14:04:12Z",
        "datetime:%Y-%m-%d %H:%M:%S %z",
        "2026-02-26 14:04:12 +0000",
    ),
    case(
        "datetime keeps its offset (no time zone is converted)",
        "2026-03-02T09:12:44-05:00",
        "datetime:%m/%d/%Y %I:%M %p",
        "03/02/2026 09:12 AM",
    ),
    case("a date as a datetime is midnight", "2026-02-20", "datetime:%H:%M", "00:00"),
    case("a datetime object", datetime(2026, 1, 2, 3, 4, 5), "datetime:%H:%M:%S", "03:04:05"),
    # booleans: bools and the lead's words in, the buyer's words out (as text)
    case("true -> yes", True, "bool:yes/no", "yes"),
    case("false -> no", False, "bool:yes/no", "no"),
    case("true -> Yes", True, "bool:Yes/No", "Yes"),
    case("false -> No", False, "bool:Yes/No", "No"),
    case("true -> '1'", True, "bool:1/0", "1"),
    case("false -> '0'", False, "bool:1/0", "0"),
    case("true -> 'true'", True, "bool:true/false", "true"),
    case("'yes' from a form -> Yes", "yes", "bool:Yes/No", "Yes"),
    case("' NO ' -> 0", " NO ", "bool:1/0", "0"),
    case("'1' -> true", "1", "bool:true/false", "true"),
    case("'False' -> no", "False", "bool:yes/no", "no"),
    case("integer 1 -> yes", 1, "bool:yes/no", "yes"),
    case("integer 0 -> No", 0, "bool:Yes/No", "No"),
    # case
    case("upper", "mva", "upper", "MVA"),
    case("lower", "MARIA.G@EXAMPLE.COM", "lower", "maria.g@example.com"),
    case("upper of a boolean is its word", True, "upper", "TRUE"),
    case("title: jane doe", "jane doe", "title", "Jane Doe"),
    case("title: JANE DOE", "JANE DOE", "title", "Jane Doe"),
    case("title: o'brien", "o'brien", "title", "O'Brien"),
    case("title: hyphenated", "mary-jane smith", "title", "Mary-Jane Smith"),
    case("title: 3rd street stays 3rd", "1200 3rd street", "title", "1200 3rd Street"),
    case("title: don't stays don't", "don't call", "title", "Don't Call"),
    case("title: accents", "josé álvarez", "title", "José Álvarez"),
    # truncate
    case("truncate:5", "Sunset Boulevard", "truncate:5", "Sunse"),
    case("truncate longer than the text", "Sun", "truncate:20", "Sun"),
    case("truncate a number's text", 123456, "truncate:3", "123"),
    # string and number
    case("string of an int", 42, "string", "42"),
    case("string of a float", 42.5, "string", "42.5"),
    case("string of a Decimal keeps its cents", Decimal("12.50"), "string", "12.50"),
    case("string of a bool", False, "string", "false"),
    case("string of a string", "x", "string", "x"),
    case("number of '42.5'", "42.5", "number", Decimal("42.5")),
    case("number of ' 42 '", " 42 ", "number", Decimal("42")),
    case("number of '1,250.00'", "1,250.00", "number", Decimal("1250.00")),
    case("number of '-3'", "-3", "number", Decimal("-3")),
    case("number of an int stays an int", 240, "number", 240),
    case("number of a float is exact", 0.1, "number", Decimal("0.1")),
    case("number of a Decimal", Decimal("12.50"), "number", Decimal("12.50")),
    # email_domain: what a buyer that prices by the consumer's mail provider asks for
    case("Jane@Example.COM -> example.com", "Jane@Example.COM", "email_domain", "example.com"),
    case("a subdomain is kept", "maria@Mail.Example.org", "email_domain", "mail.example.org"),
    case("spaces around are trimmed", " jane@example.com ", "email_domain", "example.com"),
    case("the last @ splits", '"a@b"@Example.net', "email_domain", "example.net"),
    case("a trailing dot goes", "jane@example.com.", "email_domain", "example.com"),
]


@pytest.mark.parametrize(("value", "spec", "expected"), APPLIED)
def test_apply(value: Any, spec: str, expected: Any) -> None:
    result = apply(value, spec, field="F")
    assert result == expected
    assert type(result) is type(expected)


REFUSED = [
    case("phone:10 of a UK number", "+442071838750", "phone:10", "phone:10"),
    case("phone:us of 7 digits", "5551234", "phone:us", "phone:us"),
    case("phone:e164 of words", "call me", "phone:e164", "phone:e164"),
    case("phone:10 of a boolean", True, "phone:10", "phone:10"),
    case("phone:dashes of None-like text", "", "phone:dashes", "phone:dashes"),
    case("state:name of XX", "XX", "state:name", "state:name"),
    case("state:code of a number", 12, "state:code", "state:code"),
    case("date of a US date (ISO only)", "02/20/2026", "date:%Y", "date:%Y"),
    case("date of words", "yesterday", "date:%Y", "date:%Y"),
    case("date of a number", 20260220, "date:%Y", "date:%Y"),
    case("datetime of garbage", "2026-13-45T99:00", "datetime:%H", "datetime:%H"),
    case("bool of 'maybe'", "maybe", "bool:yes/no", "bool:yes/no"),
    case("bool of 2", 2, "bool:1/0", "bool:1/0"),
    case("bool of a float", 1.0, "bool:1/0", "bool:1/0"),
    case("number of '12 apples'", "12 apples", "number", "number"),
    case("number of 'NaN'", "NaN", "number", "number"),
    case("number of '1e5' (no exponents)", "1e5", "number", "number"),
    case("number of a bool", True, "number", "number"),
    case("number of inf", float("inf"), "number", "number"),
    case("number of ''", "", "number", "number"),
    case("email_domain of a name", "jane doe", "email_domain", "email_domain"),
    case("email_domain with nothing before @", "@example.com", "email_domain", "email_domain"),
    case("email_domain with nothing after @", "jane@", "email_domain", "email_domain"),
    case("email_domain of a number", 42, "email_domain", "email_domain"),
    case("an unknown transform", "x", "reverse", "reverse"),
]


@pytest.mark.parametrize(("value", "spec", "names"), REFUSED)
def test_a_value_a_transform_cannot_handle_names_the_field_and_transform_not_the_value(
    value: Any, spec: str, names: str
) -> None:
    with pytest.raises(MappingError) as raised:
        apply(value, spec, field="Mobile")
    assert raised.value.field_to == "Mobile"
    message = str(raised.value)
    assert message.startswith("Mobile: ")
    assert names in message
    if isinstance(value, str) and len(value) > 2:
        assert value not in message


def test_every_documented_transform_has_a_row() -> None:
    tried = {spec.partition(":")[0] if spec.startswith(("date", "datetime", "truncate")) else spec
             for _, spec, _ in (p.values for p in APPLIED)}  # fmt: skip
    assert set(TRANSFORMS) <= tried


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(True, "true", id="True -> true"),
        pytest.param(False, "false", id="False -> false"),
        pytest.param(Decimal("12.50"), "12.50", id="Decimal keeps its cents"),
        pytest.param(Decimal("1E+2"), "100", id="Decimal without exponent"),
        pytest.param(12.5, "12.5", id="float"),
        pytest.param(7, "7", id="int"),
    ],
)
def test_text_of(value: Any, text: str) -> None:
    assert text_of(value) == text
