"""A lead's PII as a viewer sees it (pingtree/web/masking.py, DESIGN §13): enough to tell two
consumers apart, not enough to reach either."""

from __future__ import annotations

from typing import Any

import pytest

from pingtree.web.masking import mask, mask_value, masked

BY_SHAPE = [
    pytest.param("john@example.com", "j***@e***.com", id="an email: first letters and the TLD"),
    pytest.param("a@b.co.uk", "a***@b***.uk", id="a subdomain: only the last label is kept"),
    pytest.param("root@localhost", "r***@l***", id="a domain without a dot"),
    pytest.param("@example.com", "***@e***.com", id="no local part"),
    pytest.param("+13055550123", "+1******0123", id="a US phone: country code and last four"),
    pytest.param("+442071838750", "+4*******8750", id="another country's phone"),
    pytest.param("John", "J***", id="a name: its first letter"),
    pytest.param("12 Main St", "1***", id="an address"),
    pytest.param("  Miami ", "M***", id="spaces around are not the first character"),
    pytest.param("1990-04-01", "1***", id="a date of birth as text"),
    pytest.param("203.0.113.9", "2***", id="an IP address"),
    pytest.param("305-555-0123", "3***", id="a phone not in E.164: text"),
    pytest.param("", "", id="empty stays empty"),
    pytest.param(None, None, id="nothing to hide"),
    pytest.param(19900401, "***", id="a number"),
    pytest.param(True, "***", id="a boolean"),
]


@pytest.mark.parametrize(("value", "expected"), BY_SHAPE)
def test_mask_value(value: Any, expected: Any) -> None:
    assert mask_value(value) == expected


BY_FIELD = [
    pytest.param("phone", "+13055550123", "+1******0123", id="a phone"),
    pytest.param("phone", "(305) 555-0123", "(3********0123", id="a phone as typed: its field"),
    pytest.param("phone", "0123", "***", id="a phone too short to keep any of"),
    pytest.param("email", "Jane.Doe@Mail.Example.org", "J***@M***.org", id="an email"),
    pytest.param("email", "not-an-address", "n***", id="an email field without an @"),
    pytest.param("first_name", "Jane", "J***", id="a name"),
    pytest.param("last_name", "o'brien@home", "o***@h***", id="an @ in another field: by shape"),
    pytest.param("city", None, None, id="no city"),
    pytest.param("income", 52000, "***", id="a PII attribute's number"),
]


@pytest.mark.parametrize(("name", "value", "expected"), BY_FIELD)
def test_mask(name: str, value: Any, expected: Any) -> None:
    assert mask(name, value) == expected


def test_a_leads_pii_is_masked_field_by_field() -> None:
    pii = {"first_name": "Jane", "phone": "+13055550199", "email": "jane.doe@mail.example.org"}
    assert masked(pii) == {
        "first_name": "J***",
        "phone": "+1******0199",
        "email": "j***@m***.org",
    }
