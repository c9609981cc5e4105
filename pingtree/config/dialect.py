"""How a buyer that does not speak the native protocol is described: the request it wants and
how to read its answer. Models only; codec/ turns them into bytes and back.

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
from xml.etree import ElementTree

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
from pingtree.config.types import FrozenMap

Scalar = str | int | float | bool

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


class _Frozen(ConfigModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class MappedValue(_Frozen):
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
            return {_as_key(k): v for k, v in value.items()}
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


def _as_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


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


class Locator(_Frozen):
    """Where a value sits in the buyer's answer: a dotted JSON path (`data.result.price`,
    `items.0.id`), an XPath for XML (ElementTree's subset; `lead/@id` reads an attribute), or a
    regex for text (group 1 if it has one, else the whole match)."""

    path: str | None = Field(None, min_length=1)
    xpath: str | None = Field(None, min_length=1)
    regex: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> Locator:
        given = [k for k in ("path", "xpath", "regex") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of path (JSON), xpath (XML) or regex (text)")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex does not compile: {exc}") from None
        if self.path is not None and "" in self.path.split("."):
            raise ValueError(f"path {self.path!r} has an empty segment: data.result.price")
        if self.xpath is not None:
            _check_xpath(self.xpath)
        return self

    @property
    def kind(self) -> Literal["path", "xpath", "regex"]:
        return "path" if self.path is not None else "xpath" if self.xpath is not None else "regex"


_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


# `b:status` → `status`: answers are read with their namespaces stripped, so the prefixes an
# operator copies from a buyer's documentation are stripped from the path too.
_PREFIX = re.compile(r"(^|[/\[@])[A-Za-z_][\w.-]*:(?=[A-Za-z_*])")


def split_xpath(xpath: str) -> tuple[str, str | None]:
    """An answer's XPath as (element path without namespace prefixes, attribute name or None):
    `lead/@id` → ("lead", "id"), `@code` → ("", "code"), `/b:response/b:status` →
    ("/response/status", None). A `@` in a predicate (`item[@id='1']`) belongs to the path."""
    path, attribute = xpath.strip(), None
    head, at, tail = path.rpartition("@")
    name = tail.rpartition(":")[2]  # `@xlink:href` reads `href`: namespaces are stripped
    if at and (not head or head.endswith("/")) and _XML_NAME.match(name):
        path, attribute = head.rstrip("/"), name
    return _PREFIX.sub(r"\1", path), attribute


def _check_xpath(xpath: str) -> None:
    # ElementTree understands a subset of XPath: refuse at load what it would refuse per answer.
    path, _ = split_xpath(xpath)
    relative = "." + path if path.startswith("//") else path.lstrip("/") or "."
    try:
        ElementTree.Element("answer").find(relative)
    except Exception:  # its path compiler raises SyntaxError, KeyError, TypeError… by case
        raise ValueError(f"xpath {xpath!r} is not one ElementTree can read") from None


class Matcher(Locator):
    """A test on the answer: the value found is one of `values` (trimmed, any case; `true` matches
    a JSON true). Without `values`: the value is found (a regex matches, a path exists)."""

    values: tuple[str, ...] | None = None

    @field_validator("values", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(_as_key(v) for v in value)
        if isinstance(value, str | int | float | bool):
            return (_as_key(value),)
        return value

    @field_validator("values")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError("values is empty, so nothing would ever match: list the words")
        return value


class ResponseMap(_Frozen):
    """How to read the buyer's answer. A 2xx is needed, then: `accepted` matches → a bid (ping;
    `price` must read as a price) or a sale (post); else `duplicate` → declined `duplicate`; else
    `rejected` → declined with `reason`; else the answer is unknown, quoted in the trace: to a
    ping a failure, to a post `post_unknown` (the buyer may have taken the lead). Without
    `rejected`, a ping's answer whose `accepted` value is found but not among its values is a
    decline; a post's is unknown, since only a refusal the map names lets the lead go on."""

    format: Literal["json", "xml", "text"] = "json"
    accepted: Matcher
    rejected: Matcher | None = None
    duplicate: Matcher | None = None
    price: Locator | None = None
    bid_id: Locator | None = None
    reason: Locator | None = None
    buyer_lead_id: Locator | None = None
    redirect_url: Locator | None = None
    expires_in_ms: Locator | None = None
    carry: FrozenMap[str, Locator] = Field(default_factory=dict)

    @field_validator("carry")
    @classmethod
    def _carry_names(cls, value: Mapping[str, Locator]) -> Mapping[str, Locator]:
        for name in value:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                raise ValueError(f"carry name {name!r} must be a plain identifier")
        return value

    @model_validator(mode="after")
    def _locators_fit_format(self) -> ResponseMap:
        wanted = {"json": "path", "xml": "xpath", "text": "regex"}[self.format]
        for name in (
            "accepted", "rejected", "duplicate", "price", "bid_id", "reason",
            "buyer_lead_id", "redirect_url", "expires_in_ms",
        ):  # fmt: skip
            locator = getattr(self, name)
            if locator is not None and locator.kind != wanted:
                raise ValueError(
                    f"{name}: a {self.format} answer is read with `{wanted}`, not `{locator.kind}`"
                )
        for name, locator in self.carry.items():
            if locator.kind != wanted:
                raise ValueError(f"carry.{name}: a {self.format} answer is read with `{wanted}`")
        return self


class BasicAuth(_Frozen):
    type: Literal["basic"]
    username: str = Field(min_length=1)
    password: SecretStr


class BearerAuth(_Frozen):
    type: Literal["bearer"]
    token: SecretStr

    @field_validator("token")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("token must not be empty")
        return value


Auth = Annotated[BasicAuth | BearerAuth, Field(discriminator="type")]


class Signing(_Frozen):
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
    "FieldMap",
    "Locator",
    "MappedValue",
    "Matcher",
    "ResponseMap",
    "Signing",
    "TextOrMapped",
    "check_source",
    "check_transform",
    "secret_header",
    "secret_key",
    "split_xpath",
]
