"""The lead: validation and normalization of what a seller sends, and the anonymized ping copy.

Owns which fields are PII. Knows nothing of buyers, auctions or HTTP.

The compliance fields (COMPLIANCE_FIELDS: the consent and the evidence of it) are kept twice:
normalized in the Lead's fields, which rules read (`require_consent` needs `tcpa_consent` a
boolean), and in `as_sent` exactly as the seller sent them (its text, or its JSON value), which
is what the lead carries out to buyers' posts, deliveries and exports (`sent_value`; DESIGN §8b):
a TCPA audit compares what a buyer holds with the consent certificate, byte for byte. The ping,
pingtree's anonymized summary, keeps the normalized values.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date, datetime
from typing import Any

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pingtree.core.errors import LeadInvalid
from pingtree.core.lead_schema import BOOLEAN_WORDS
from pingtree.core.lead_schema import apply_schema as apply_schema  # importable from here too
from pingtree.core.us_states import state_code

KNOWN_FIELDS: frozenset[str] = frozenset(
    {
        "lead_id", "vertical", "sub_id", "first_name", "last_name", "phone", "email", "address",
        "city", "state", "zip", "dob", "ip_address", "tcpa_consent", "consent_timestamp",
        "trustedform_url", "jornaya_leadid", "source_url", "test",
    }
)  # fmt: skip

# DESIGN §8: never in a ping, whatever the config says.
PII_FIELDS: frozenset[str] = frozenset(
    {
        "first_name", "last_name", "phone", "email", "address", "city", "dob", "ip_address",
        "trustedform_url", "jornaya_leadid",
    }
)  # fmt: skip

# Sent on as the seller sent them (see the module's docstring).
COMPLIANCE_FIELDS: tuple[str, ...] = (
    "ip_address", "tcpa_consent", "consent_timestamp", "trustedform_url", "jornaya_leadid",
)  # fmt: skip

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$")
_TOKEN = re.compile(r"^[A-Za-z0-9_.:-]+$")
_MAX_ATTRIBUTES = 100
_MAX_TEXT = 500


class Lead(BaseModel):
    """A valid, normalized lead. Frozen: the ping and the post are built from the same values."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    lead_id: str | None = Field(None, min_length=1, max_length=128)
    vertical: str = Field(min_length=1, max_length=64, pattern=_TOKEN.pattern)
    sub_id: str | None = Field(None, max_length=128)
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)
    phone: str
    email: str | None = Field(None, max_length=254)
    address: str | None = Field(None, max_length=_MAX_TEXT)
    city: str | None = Field(None, max_length=100)
    state: str | None = None
    zip: str | None = None
    dob: str | None = None
    ip_address: str | None = None
    tcpa_consent: bool | None = None
    consent_timestamp: str | None = None
    trustedform_url: str | None = Field(None, max_length=_MAX_TEXT)
    jornaya_leadid: str | None = Field(None, max_length=128)
    source_url: str | None = Field(None, max_length=2000)
    test: bool = False
    attributes: dict[str, Any] = Field(default_factory=dict)
    # The compliance fields the seller sent, as it sent them, by name (parse_lead fills it).
    # Not in model_dump: the normalized values are the lead's (and its idempotency fingerprint's).
    as_sent: dict[str, Any] = Field(default_factory=dict, exclude=True)

    def sent_value(self, name: str) -> Any:
        """What the lead carries out for field `name`: a compliance field as the seller sent
        it, any other as normalized."""
        return self.as_sent[name] if name in self.as_sent else getattr(self, name)

    @field_validator("vertical", mode="before")
    @classmethod
    def _vertical(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: Any) -> str:
        return phone_e164(value)

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ValueError("email is not an email address")
        return email_address(value)

    @field_validator("state", mode="before")
    @classmethod
    def _state(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        code = state_code(value) if isinstance(value, str) else None
        if code is None:
            raise ValueError("state is not a US state code or name")
        return code

    @field_validator("zip", mode="before")
    @classmethod
    def _zip(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:05d}"
        match = _ZIP.match(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise ValueError("zip must be 5 digits (or ZIP+4)")
        return match.group(1)

    @field_validator("dob", mode="before")
    @classmethod
    def _dob(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            for shape in ("%Y-%m-%d", "%m/%d/%Y"):
                try:
                    return datetime.strptime(value.strip(), shape).date().isoformat()
                except ValueError:
                    continue
        raise ValueError("dob must be a date, YYYY-MM-DD or MM/DD/YYYY")

    @field_validator("ip_address", mode="before")
    @classmethod
    def _ip(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        try:
            return str(ipaddress.ip_address(str(value).strip()))
        except ValueError:
            raise ValueError("ip_address is not an IP address") from None

    @field_validator("consent_timestamp", mode="before")
    @classmethod
    def _consent_timestamp(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).isoformat()
            except ValueError:
                pass
        raise ValueError("consent_timestamp must be an ISO 8601 date-time")

    @field_validator("tcpa_consent", "test", mode="before")
    @classmethod
    def _boolean(cls, value: Any) -> Any:
        if isinstance(value, str):
            word = value.strip().lower()
            if word in BOOLEAN_WORDS:
                return BOOLEAN_WORDS[word]
            raise ValueError("must be true or false")
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return bool(value)
        return value

    @field_validator("lead_id", "sub_id", mode="before")
    @classmethod
    def _reference(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


def _attribute_errors(attributes: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if len(attributes) > _MAX_ATTRIBUTES:
        errors["(body)"] = f"at most {_MAX_ATTRIBUTES} fields"
    for name, value in attributes.items():
        if not _TOKEN.match(name) or len(name) > 64:
            errors[name[:64] or "(empty)"] = "field names are letters, digits, _ . : -"
        elif isinstance(value, dict | list):
            errors[name] = "vertical attributes must be a string, number, boolean or null"
        elif isinstance(value, str) and len(value) > _MAX_TEXT:
            errors[name] = f"at most {_MAX_TEXT} characters"
    return errors


def parse_lead(body: dict[str, Any]) -> Lead:
    """Validate and normalize a decoded body; raise LeadInvalid naming every bad field."""
    known = {k: v for k, v in body.items() if k in KNOWN_FIELDS and v is not None}
    attributes = {k: v for k, v in body.items() if k not in KNOWN_FIELDS}
    fields = _attribute_errors(attributes)
    try:
        lead = Lead.model_validate({**known, "attributes": attributes})
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            name = ".".join(str(part) for part in error["loc"]) or "(body)"
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "is required"
            fields.setdefault(name, message)
        raise LeadInvalid("the lead has invalid fields", fields=fields) from None
    if fields:
        raise LeadInvalid("the lead has invalid fields", fields=fields)
    # Only what stands: a value normalized away (an empty ip_address) is not sent either.
    as_sent = {
        name: known[name]
        for name in COMPLIANCE_FIELDS
        if name in known and getattr(lead, name) is not None
    }
    return lead.model_copy(update={"as_sent": as_sent}) if as_sent else lead


def anonymize(lead: Lead, *, seller_id: str, ping_id: str, pii: frozenset[str]) -> dict[str, Any]:
    """The ping copy (DESIGN §8): no name, phone, email, address, city, IP, dob or consent ids, no
    attribute marked pii, and no attribute whose value repeats one of this lead's PII values (a
    seller who puts the phone in `mobile` must not leak it to every bidder)."""
    secrets = _pii_values(lead)
    attributes = {
        name: value
        for name, value in lead.attributes.items()
        if name not in pii and not _carries_pii(value, secrets)
    }
    return {
        "ping_id": ping_id,
        "vertical": lead.vertical,
        "state": lead.state,
        "zip": lead.zip,
        "seller": seller_id,
        "sub_id": lead.sub_id,
        "attributes": attributes,
        "tcpa_consent": lead.tcpa_consent,
        "has_trustedform": lead.trustedform_url is not None,
        "test": lead.test,
    }


def phone_e164(value: Any) -> str:
    """A phone number as E.164 (US by default); ValueError saying why it is not one."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("phone must be a phone number")
    try:
        number = phonenumbers.parse(value, "US")
    except phonenumbers.NumberParseException:
        raise ValueError("phone is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("phone is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def email_address(value: str) -> str:
    """An email as leads keep it (trimmed, lower-cased); ValueError when it is not one."""
    if not _EMAIL.match(value.strip()):
        raise ValueError("email is not an email address")
    return value.strip().lower()


def split_pii(lead: Lead, marked: frozenset[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The lead as the ledger keeps it: (facts, pii). PII is every field of PII_FIELDS the lead
    has, every attribute `marked` pii and every attribute that repeats one of its PII values (the
    same test as the ping's); erasing the second part leaves nothing that names the consumer."""
    secrets = _pii_values(lead)
    facts = lead.model_dump(exclude=set(PII_FIELDS) | {"attributes"})
    pii = {name: getattr(lead, name) for name in sorted(PII_FIELDS) if getattr(lead, name)}
    kept: dict[str, Any] = {}
    for name, value in lead.attributes.items():
        hidden = name in marked or _carries_pii(value, secrets)
        (pii.setdefault("attributes", {}) if hidden else kept)[name] = value
    facts["attributes"] = kept
    # The compliance fields as the seller sent them (what deliveries and the export carry out).
    for name, value in lead.as_sent.items():
        (pii if name in PII_FIELDS else facts).setdefault("as_sent", {})[name] = value
    return facts, pii


def _pii_values(lead: Lead) -> tuple[str, ...]:
    """The lead's PII as text, lower-case, in the spellings a seller or buyer may repeat it in,
    longest first (so a last name inside the email never leaves the rest of the email visible)."""
    values = {str(getattr(lead, name)).lower() for name in PII_FIELDS if getattr(lead, name)}
    # A buyer echoes what it was sent: the seller's own spelling (an IPv6 address not in its
    # canonical form) as well.
    values |= {str(value).lower() for name, value in lead.as_sent.items() if name in PII_FIELDS}
    values.add(_national_digits(lead.phone))
    if lead.dob:
        born = date.fromisoformat(lead.dob)
        values.update({f"{born:%m/%d/%Y}", f"{born.month}/{born.day}/{born.year}"})
    return tuple(sorted((v for v in values if len(v) >= 3), key=len, reverse=True))


def _national_digits(phone: str) -> str:
    return phone.removeprefix("+1") if phone.startswith("+1") else phone.removeprefix("+")


def _phone_spelled(lead: Lead) -> re.Pattern[str]:
    """The phone's digits with any punctuation between them: 404-555-0123, (404) 555 0123…"""
    digits = _national_digits(lead.phone)
    return re.compile(r"(?:\+?1[\s().-]{0,3})?" + r"[\s().-]{0,3}".join(digits))


def _carries_pii(value: Any, secrets: tuple[str, ...]) -> bool:
    """Whether an attribute's value repeats one of the lead's PII values (`_pii_values`), as
    written or, for those made of digits, among its digits (a phone inside other words). Run for
    every attribute of every lead, twice (the ping, the ledger's record): one pass of C-level
    substring tests, and the digits only extracted when the text has any."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    if isinstance(value, float):  # 4045550123.0 is the phone too
        text = str(int(value)) if value.is_integer() else repr(value)
    else:
        text = str(value).lower()
    if any(secret in text for secret in secrets):
        return True
    digits = _NOT_DIGITS.sub("", text)
    return bool(digits) and any(secret in digits for secret in secrets if secret.isdigit())


_NOT_DIGITS = re.compile(r"\D")

# The same test for an exchange ping's attributes, against the PII its body sent (core/exchange.py).
carries_pii = _carries_pii


def redact(text: str, lead: Lead) -> str:
    """A buyer's words about a lead (a post refusal may echo the phone) without the lead's PII."""
    text = _phone_spelled(lead).sub(lambda m: "*" * len(m.group()), text)
    for secret in _pii_values(lead):
        text = re.sub(re.escape(secret), "*" * len(secret), text, flags=re.IGNORECASE)
    return text
