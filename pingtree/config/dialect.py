"""How a buyer that does not speak the native protocol is described: the request it wants (here:
what each field, query and header value reads, and the auth and signature it carries) and how to
read its answer (dialect_response.py). Models only; codec/ turns them into bytes and back.

A buyer's `ping:` and `post:` each take, besides `url` and `timeout_ms`:

    method: POST              # POST | PUT | GET (GET sends the fields as the query string)
    format: json              # json | form | xml: the body's encoding
    root: lead                # xml only: the document element
    query: {src: pingtree}    # added to the URL's query string
    headers: {X-Api-Key: "${ACME_KEY}"}
    auth: {type: bearer, token: "${ACME_TOKEN}"}    # or {type: basic, username:, password:}
    sign: {secret: "${ACME_WHSEC}"}                 # Standard Webhooks signature headers
    sandbox_url: https://sandbox.acme.example/ping  # test leads go here instead
    fields:                   # absent: the native body of DESIGN §8 (json only)
      - {to: Mobile, from: phone, transform: [phone:10]}
      - {to: State, from: state, transform: [state:name]}
      - {to: contact.email, from: email}             # dotted: nested JSON objects / XML elements
      - {to: Source, value: pingtree}                # a fixed value
      - {to: Token, from: ping.token}                # carried from the ping's answer (posts)
    # A `query:` or `headers:` value is fixed text, or read per lead like a field (no `to`):
    #   query: {lp_ping_id: {from: ping.ping_id}}    headers: {X-Ping-Token: {from: ping.token}}
    response:                 # absent: the native answer of DESIGN §8
      format: xml             # json | xml | text
      accepted: {xpath: status, values: [Accepted]}
      rejected: {xpath: status, values: [Rejected, Quota Reached]}
      duplicate: {xpath: status, values: [Duplicate]}
      price: {xpath: price}
      carry: {token: {xpath: token}}

Every string here may hold `${ENV}` references; values that came from the environment, auth,
signing secrets and header values with secret-sounding names are never printed back.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    field_validator,
    model_validator,
)

from pingtree.config.checked import ConfigModel
from pingtree.config.types import FrozenMap, Scalar

# Lead fields a mapping may read (besides `attributes.NAME`), and the other namespaces.
LEAD_SOURCES: frozenset[str] = frozenset(
    {
        "lead_id", "vertical", "sub_id", "first_name", "last_name", "phone", "email", "address",
        "city", "state", "zip", "dob", "ip_address", "tcpa_consent", "consent_timestamp",
        "trustedform_url", "jornaya_leadid", "source_url", "test",
    }
)  # fmt: skip
# Computed from the lead, never PII: the first three digits of the zip, the consumer's age band.
DERIVED_SOURCES: frozenset[str] = frozenset({"zip3", "age_band"})
# Computed from the lead and PII all the same (the domain of a small firm's address names it).
PII_DERIVED_SOURCES: frozenset[str] = frozenset({"email_domain"})
# What the router knows of this auction: its lead id, the seller, and (posts) the winning ping.
AUCTION_SOURCES: frozenset[str] = frozenset(
    {"auction.lead_id", "auction.seller", "auction.ping_id", "auction.bid_id", "auction.price"}
)
# Known only to a delivery: which attempt this request is (1, 2, …) and when the lead was sold.
DELIVERY_SOURCES: frozenset[str] = frozenset({"delivery_attempt", "sold_at"})

# A transform is a name and, for some, an argument after a colon: `date:%m/%d/%Y`, `truncate:20`.
TRANSFORMS: Mapping[str, str] = MappingProxyType(
    {
        "phone:e164": "+13055551234",
        "phone:10": "3055551234",
        "phone:us": "(305) 555-1234",
        "phone:dashes": "305-555-1234",
        "state:name": "FL → Florida",
        "state:code": "Florida → FL",
        "date": "date:%m/%d/%Y (strftime pattern; the value is an ISO date)",
        "datetime": "datetime:%Y-%m-%d %H:%M:%S (the value is an ISO datetime)",
        "bool:yes/no": "true → yes",
        "bool:Yes/No": "true → Yes",
        "bool:1/0": "true → 1",
        "bool:true/false": "true → true (as text)",
        "upper": "abc → ABC",
        "lower": "ABC → abc",
        "title": "jane doe → Jane Doe",
        "truncate": "truncate:20 (at most 20 characters)",
        "string": "42 → '42'",
        "number": "'42.5' → 42.5",
        "email_domain": "Jane@Example.COM → example.com",
    }
)
_WITH_ARGUMENT = ("date", "datetime", "truncate")


def check_transform(spec: str) -> str:
    name, _, argument = spec.partition(":")
    if name in _WITH_ARGUMENT:
        if not argument:
            raise ValueError(f"transform {name!r} needs an argument ({TRANSFORMS[name]})")
        if name == "truncate" and not (argument.isdigit() and int(argument) > 0):
            raise ValueError("truncate needs a positive length: truncate:20")
        if name in ("date", "datetime") and "%" not in argument:
            raise ValueError(f"{name} needs a strftime pattern: {TRANSFORMS[name]}")
        return spec
    if spec not in TRANSFORMS:
        known = [t for t in TRANSFORMS if t not in _WITH_ARGUMENT]
        known += ["date:PATTERN", "datetime:PATTERN", "truncate:N"]
        raise ValueError(f"unknown transform {spec!r}; known: {', '.join(known)}")
    return spec


_PATH = re.compile(r"^[A-Za-z0-9_@$-][A-Za-z0-9_.@$ -]*$")


class DialectModel(ConfigModel):
    """The base of a dialect's models: a key may also be given by its field's name (`source` for
    `from`), as code building a mapping does."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class MappedValue(DialectModel):
    """A value read for each request: where it comes from (`from` or a fixed `value`), and how it
    is changed on the way (`map` first, then `transform`s). A field of the body (`FieldMap`), or a
    `query:` or `headers:` value given as a mapping: `{from: ping.ping_id}`."""

    source: str | None = Field(None, alias="from", min_length=1, max_length=200)
    value: Scalar | None = None
    default: Scalar | None = None
    map: FrozenMap[str, Scalar] = Field(default_factory=dict)
    transform: tuple[str, ...] = ()

    @field_validator("transform", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("transform")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_transform(spec) for spec in value)

    @field_validator("map", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        # YAML reads `true: Yes` with a boolean key: keys compare with the value's text form.
        if isinstance(value, dict):
            return {yaml_text(k): v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _one_source(self) -> MappedValue:
        if (self.source is None) == (self.value is None):
            raise ValueError("give `from` (a lead field) or `value` (a fixed value), not both")
        if self.source is not None:
            check_source(self.source)
        if self.source == "delivery_attempt" and (
            self.map or set(self.transform) - {"string", "number"}
        ):
            # The number is written in at each attempt, after the mapping ran (codec cannot
            # know it at the sale): only a change of its JSON type can apply to it.
            raise ValueError(
                "delivery_attempt takes no map, and only the string or number transform"
            )
        return self


class FieldMap(MappedValue):
    """One field of the buyer's body: a mapped value and where it goes (`to`)."""

    to: str = Field(min_length=1, max_length=200)

    @field_validator("to")
    @classmethod
    def _no_empty_segment(cls, value: str) -> str:
        if "" in value.split("."):
            raise ValueError(f"{value!r} has an empty segment: dots separate nested names")
        return value


# The tags of a TextOrMapped: pydantic puts the one chosen in an error's location, which the
# loader leaves out of the path it shows (`post.query.lp_ping_id.from`).
VALUE_TAGS = ("(text)", "(mapped)")


def _text_or_mapped(value: Any) -> str:
    return VALUE_TAGS[1] if isinstance(value, dict | MappedValue) else VALUE_TAGS[0]


# A `query:` or `headers:` value: fixed text, or a mapping read per request ({from: ping.NAME}).
# Tagged so that an error in a mapping is reported once, at its own path, not once per member.
TextOrMapped = Annotated[
    Annotated[str, Tag(VALUE_TAGS[0])] | Annotated[MappedValue, Tag(VALUE_TAGS[1])],
    Discriminator(_text_or_mapped),
]


def yaml_text(value: Any) -> str:
    """A YAML scalar as the text it stands for: booleans as YAML writes them (true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_source(source: str) -> str:
    """A `from` must name something a mapping can read; the error lists what can be."""
    if source in LEAD_SOURCES or source in DERIVED_SOURCES or source in AUCTION_SOURCES:
        return source
    if source in PII_DERIVED_SOURCES or source in DELIVERY_SOURCES:
        return source
    head, _, name = source.partition(".")
    if head in ("attributes", "ping") and name and _PATH.match(name):
        return source
    raise ValueError(
        f"unknown source {source!r}: a lead field ({', '.join(sorted(LEAD_SOURCES))}), "
        "attributes.NAME, zip3, age_band, email_domain, "
        "auction.(lead_id|seller|ping_id|bid_id|price), "
        "ping.NAME (a value carried from the ping's answer) or, in deliveries, "
        "delivery_attempt and sold_at"
    )


class BasicAuth(DialectModel):
    type: Literal["basic"]
    username: str = Field(min_length=1)
    password: SecretStr


class BearerAuth(DialectModel):
    type: Literal["bearer"]
    token: SecretStr

    @field_validator("token")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("token must not be empty")
        return value


Auth = Annotated[BasicAuth | BearerAuth, Field(discriminator="type")]


class Signing(DialectModel):
    """Standard Webhooks (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp`
    and `webhook-signature` (v1, HMAC-SHA256) headers, with a `whsec_…` secret."""

    secret: SecretStr

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: SecretStr) -> SecretStr:
        secret_key(value)
        return value


def secret_key(secret: SecretStr) -> bytes:
    """The HMAC key of a `whsec_…` secret: the base64 after the prefix."""
    text = secret.get_secret_value()
    if not text.startswith("whsec_"):
        raise ValueError("secret must be a Standard Webhooks secret: whsec_ then base64")
    try:
        key = base64.b64decode(text.removeprefix("whsec_"), validate=True)
    except ValueError:
        raise ValueError("secret must be whsec_ followed by base64") from None
    if len(key) < 16:
        raise ValueError("secret is too short: at least 16 bytes once decoded")
    return key


_SECRET_HEADER = re.compile(r"auth|key|token|secret|signature|password|cookie|session", re.I)


def secret_header(name: str) -> bool:
    """Header names whose values are credentials: never printed back."""
    return bool(_SECRET_HEADER.search(name))


__all__ = [
    "AUCTION_SOURCES",
    "DELIVERY_SOURCES",
    "DERIVED_SOURCES",
    "LEAD_SOURCES",
    "PII_DERIVED_SOURCES",
    "TRANSFORMS",
    "VALUE_TAGS",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "DialectModel",
    "FieldMap",
    "MappedValue",
    "Signing",
    "TextOrMapped",
    "check_source",
    "check_transform",
    "secret_header",
    "secret_key",
    "yaml_text",
]
