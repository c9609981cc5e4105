"""A buyer's dialect (config/dialect.py) → the request it wants: what each field reads
(`Sources`), the field mapping (`build_body`), then URL, body bytes and headers
(`build_request`). PURE: the message id and the timestamp a signature needs are arguments.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any

from pingtree.config.dialect import (
    AUCTION_SOURCES,
    DELIVERY_SOURCES,
    LEAD_SOURCES,
    BasicAuth,
    MappedValue,
    check_source,
    secret_header,
)
from pingtree.config.models import Endpoint, masked_url
from pingtree.config.reads import PING_PII_SOURCES
from pingtree.core.codec.bodies import form_body, form_pairs, json_body, with_query, xml_body
from pingtree.core.codec.native import encode_post, post_body
from pingtree.core.codec.transforms import MappingError, apply, email_domain, text_of
from pingtree.core.lead import Lead, anonymize
from pingtree.core.signing import signature_headers

CONTENT_TYPES = {
    "json": "application/json",
    "form": "application/x-www-form-urlencoded",
    "xml": "application/xml; charset=utf-8",
}

# (upper bound of the age, band): the bands buyers of age-sensitive verticals price by.
_AGE_BANDS = ((18, "under_18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"),
              (65, "55-64"), (75, "65-74"))  # fmt: skip


def age_band(dob: str | None, today: date) -> str | None:
    """The consumer's age band on `today`, from the lead's ISO dob; None without a dob (or with
    one in the future)."""
    if not dob:
        return None
    born = date.fromisoformat(dob)
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age < 0:
        return None
    return next((band for limit, band in _AGE_BANDS if age < limit), "75+")


def derived_fields(lead: Lead, today: date) -> dict[str, str | None]:
    """The values computed from a lead that are never PII: `zip3` (the zip's first three digits)
    and `age_band`. Both keys are always there; a value is None when the lead lacks its input."""
    return {"zip3": lead.zip[:3] if lead.zip else None, "age_band": age_band(lead.dob, today)}


class Placeholder(str):
    """Stands for a value not known yet (`pingtree try` without --send shows `<carried:token>`
    where the ping's answer will go): it goes into the request as it is, past `default`, `map`
    and the transforms, which would refuse it or change it."""

    __slots__ = ()


@dataclass(frozen=True)
class Sources:
    """Everything a field mapping may read (config.dialect.check_source lists it): the lead, the
    values derived from it, this auction's ids and, for a post, the winning ping's bid and the
    values its answer carried. A request without a `price` is a ping: it never reads PII but what
    the buyer's `ping_pii_allowed` names (the config refuses other mappings at load; this is the
    second lock) and reads attributes as the native ping sends them (lead.anonymize drops those
    repeating the lead's PII)."""

    lead: Lead
    today: date
    lead_id: str
    seller: str
    ping_id: str | None = None
    bid_id: str | None = None
    price: Decimal | None = None
    carried: Mapping[str, str] = field(default_factory=dict)
    pii_allowed: frozenset[str] = frozenset()  # the buyer's ping_pii_allowed (pings only)
    # A delivery's own (deliveries/jobs.py): which attempt it is, and when the lead was sold.
    delivery_attempt: int | None = None
    sold_at: str | None = None

    @property
    def for_ping(self) -> bool:
        return self.price is None

    @cached_property
    def _attributes(self) -> Mapping[str, Any]:
        if not self.for_ping:
            return self.lead.attributes
        ping = anonymize(self.lead, seller_id=self.seller, ping_id="", pii=frozenset())
        attributes: dict[str, Any] = ping["attributes"]
        return attributes

    @cached_property
    def _derived(self) -> dict[str, str | None]:
        return derived_fields(self.lead, self.today)

    def read(self, source: str) -> Any:
        """The value a `from:` names, or None when the lead (or the ping's answer) has none."""
        if self.for_ping and source in PING_PII_SOURCES and source not in self.pii_allowed:
            raise MappingError(source, "is PII: never read for a ping")
        if source in LEAD_SOURCES:
            # A ping reads the lead as pingtree's summary does; a post or delivery as sent.
            return getattr(self.lead, source) if self.for_ping else self.lead.sent_value(source)
        if source == "email_domain":  # derived, but PII: a ping reads it only when opted in
            return email_domain(self.lead.email)
        if source in self._derived:
            return self._derived[source]
        if source in AUCTION_SOURCES:
            name = source.removeprefix("auction.")
            return getattr(self, name) if name != "lead_id" else self.lead_id
        if source in DELIVERY_SOURCES:
            return getattr(self, source)
        head, _, name = source.partition(".")
        if head == "attributes" and name:
            return self._attributes.get(name)
        if head == "ping" and name:
            return self.carried.get(name)
        check_source(source)  # raises with the list of what can be read
        raise ValueError(f"unreadable source {source!r}")  # pragma: no cover


def build_body(endpoint: Endpoint, sources: Sources) -> dict[str, Any]:
    """The buyer's fields, by its names (`to`, dotted when nested), in the mapping's order, each
    its `mapped_value`. A field whose value is None is left out."""
    if endpoint.fields is None:
        raise ValueError("this endpoint has no field mapping: it sends the native body")
    body: dict[str, Any] = {}
    for mapping in endpoint.fields:
        value = mapped_value(mapping, sources, mapping.to)
        if value is not None:
            body[mapping.to] = value
    return body


def mapped_value(mapping: MappedValue, sources: Sources, name: str) -> Any:
    """The fixed `value` or what `from` reads → `default` when that is missing (None or empty
    text) → `map` → each transform in turn. A transform's refusal names `name`."""
    value = mapping.value
    if mapping.source is not None:
        value = sources.read(mapping.source)
        if isinstance(value, Placeholder):
            return str(value)
        if value is None or value == "":
            value = mapping.default
    if value is not None and mapping.map:
        value = _mapped(mapping.map, value)
    for spec in mapping.transform:
        if value is None:
            break
        value = apply(value, spec, field=name)
    return value


def _mapped(table: Mapping[str, Any], value: Any) -> Any:
    """Keys compare with the value's text (true/false for booleans), exactly, then in any case;
    a value the table does not list goes through unchanged."""
    key = text_of(value).strip()
    if key in table:
        return table[key]
    folded = key.casefold()
    return next((mapped for k, mapped in table.items() if k.casefold() == folded), value)


@dataclass(frozen=True, slots=True, repr=False)
class OutboundRequest:
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def __repr__(self) -> str:
        # URLs and headers carry buyers' credentials: a repr may end up in a log line.
        shown = [(n, "***" if secret_header(n) else v) for n, v in self.headers]
        return (
            f"OutboundRequest({self.method} {masked_url(self.url)}, headers={shown}, "
            f"{len(self.body)} bytes)"
        )


def build_request(
    endpoint: Endpoint,
    sources: Sources,
    *,
    test: bool,
    message_id: str,
    timestamp: int,
    native_body: bytes | None = None,
) -> OutboundRequest:
    """The whole request for one buyer. `native_body` is the native protocol's body for an
    endpoint without `fields` (a ping's is built by the router, which knows what each buyer may
    not see; a post's is `native.post_body` of `sources` when not given). `message_id` and
    `timestamp` (Unix seconds) go into the Standard Webhooks signature when the endpoint signs."""
    query = list(_text_pairs(endpoint.query, sources, "query."))
    content_type: str | None = CONTENT_TYPES[endpoint.format]
    if endpoint.fields is None:
        body = native_body if native_body is not None else _native_post(sources)
        content_type = CONTENT_TYPES["json"]
    else:
        fields = build_body(endpoint, sources)
        if endpoint.method == "GET":
            query += form_pairs(fields)
            body, content_type = b"", None
        elif endpoint.format == "form":
            body = form_body(fields)
        elif endpoint.format == "xml":
            body = xml_body(endpoint.root, fields)
        else:
            body = json_body(fields)
    headers = dict(_headers(endpoint, content_type, sources))
    if endpoint.sign is not None:
        signed = signature_headers(endpoint.sign.secret, message_id, timestamp, body)
        headers.update((name.lower(), (name, value)) for name, value in signed)
    url = with_query(endpoint.url_for(test), query)
    return OutboundRequest(endpoint.method, url, tuple(headers.values()), body)


def _text_pairs(
    given: Mapping[str, str | MappedValue], sources: Sources, where: str
) -> Iterator[tuple[str, str]]:
    """A `query:` or `headers:` map as text: fixed values as written, mapped ones read for this
    request (`{from: ping.ping_id}`) and left out when None, like a field."""
    for name, value in given.items():
        if isinstance(value, str):
            yield name, value
            continue
        mapped = mapped_value(value, sources, where + name)
        if mapped is not None:
            yield name, text_of(mapped)


# A header value read per lead must stay one header: no line break, no other control character.
_NOT_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _headers(
    endpoint: Endpoint, content_type: str | None, sources: Sources
) -> Iterator[tuple[str, tuple[str, str]]]:
    """(lower-case name, (name, value)): a later header replaces an earlier one of that name, so
    the endpoint's Content-Type wins over the format's and `auth` over an Authorization header."""
    if content_type is not None:
        yield "content-type", ("Content-Type", content_type)
    for name, value in _text_pairs(endpoint.headers, sources, "headers."):
        if _NOT_IN_HEADER.search(value):
            raise MappingError(f"headers.{name}", "the value holds a control character")
        yield name.lower(), (name, value)
    auth = endpoint.auth
    if isinstance(auth, BasicAuth):
        pair = f"{auth.username}:{auth.password.get_secret_value()}".encode()
        yield "authorization", ("Authorization", "Basic " + base64.b64encode(pair).decode())
    elif auth is not None:
        yield "authorization", ("Authorization", f"Bearer {auth.token.get_secret_value()}")


def _native_post(sources: Sources) -> bytes:
    if sources.price is None:
        raise ValueError("a native ping body comes from the router (native_body=…)")
    body = post_body(
        sources.lead,
        lead_id=sources.lead_id,
        seller_id=sources.seller,
        ping_id=sources.ping_id,
        bid_id=sources.bid_id,
        price=sources.price,
    )
    if sources.delivery_attempt is not None:  # a delivery's default body: which attempt it is
        body["delivery_attempt"] = sources.delivery_attempt
    return encode_post(body)


__all__ = [
    "CONTENT_TYPES",
    "OutboundRequest",
    "Placeholder",
    "Sources",
    "age_band",
    "build_body",
    "build_request",
    "derived_fields",
    "mapped_value",
]
