"""The compliance gates a lead passes before any buyer is looked at (DESIGN §16): the consent
evidence it must carry (`consent:` on `router:` or on a seller, the seller's wins) and the
outside checks it is put through (`checks:` at the top level: verification or enrichment calls
described with a buyer's dialect vocabulary, config/dialect.py).

A check is an Endpoint (url, method, format, fields, query, headers, auth, sign, tls,
timeout_ms) with an `id`, a `response` map (dialect_response.py's, plus `attributes`: values read
from the answer that join the lead as `<id>_<name>`) and `on_error`. Unlike a ping, a check may
read the lead's PII (a phone lookup needs the phone, a certificate claim the certificate): it is
the operator's own service. It reads nothing only an auction's ping or a delivery knows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Literal

from pydantic import Field, field_validator

from pingtree.config.checked import ConfigModel, Problem, across
from pingtree.config.dialect import DELIVERY_SOURCES
from pingtree.config.dialect_response import Locator, ResponseMap
from pingtree.config.models.endpoints import Endpoint
from pingtree.config.reads import endpoint_reads
from pingtree.config.types import FrozenMap

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Known only once a buyer has been pinged or bid: a check runs before any of that.
_AUCTION_ONLY = frozenset({"auction.ping_id", "auction.bid_id", "auction.price"})


class ConsentEvidence(ConfigModel):
    """What a lead must carry as evidence of its consent: a TrustedForm certificate URL, a
    Jornaya LeadiD, or either (`any`); with `max_age_s`, a `consent_timestamp` no older than that
    when the lead is received (core/consent.py has the shapes)."""

    require: Literal["trustedform", "jornaya", "any"]
    max_age_s: int | None = Field(None, gt=0, le=10 * 365 * 86400)


class CheckResponse(ResponseMap):
    """A check's answer: `accepted` passes the lead, `rejected` (or, without it, an `accepted`
    value found that is not an accepting one) rejects it; anything else is an error, which
    `on_error` decides. `attributes: {name: locator}` are read from an answer that passed."""

    attributes: FrozenMap[str, Locator] = Field(default_factory=dict)

    @field_validator("attributes")
    @classmethod
    def _attribute_names(cls, value: Mapping[str, Locator]) -> Mapping[str, Locator]:
        for name in value:
            if not _NAME.match(name) or len(name) > 40:
                raise ValueError(f"attribute name {name!r} must be a plain identifier")
        return value

    @across("format", "attributes")
    def _attributes_fit_format(self) -> Iterator[Problem]:
        wanted = {"json": "path", "xml": "xpath", "text": "regex"}[self.format]
        for name, locator in self.attributes.items():
            if locator.kind != wanted:
                yield ("attributes", name), f"a {self.format} answer is read with `{wanted}`"


class CheckConfig(Endpoint):
    id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    timeout_ms: int = Field(250, ge=10, le=60_000)
    response: CheckResponse  # a check's answer is always mapped
    # A check that times out, fails or answers what its map cannot read: the lead goes on
    # (`pass`) or is rejected (`reject`, the default: a compliance gate fails closed).
    on_error: Literal["pass", "reject"] = "reject"

    @field_validator("id")
    @classmethod
    def _not_the_consent_gate(cls, value: str) -> str:
        if value == "consent":
            raise ValueError(
                "'consent' names the consent-evidence gate in the trace: pick another id"
            )
        return value

    @across("fields")
    def _fields_given(self) -> Iterator[Problem]:
        if self.fields is None:
            yield ("fields",), "a check has no native body: give `fields` (what it is sent)"

    @across("fields", "query", "headers")
    def _reads_what_is_known(self) -> Iterator[Problem]:
        for path, source in endpoint_reads(self):
            if source.startswith("ping.") or source in _AUCTION_ONLY:
                yield path, f"{source!r} is only known once buyers are pinged: a check runs before"
            elif source in DELIVERY_SOURCES:
                yield path, f"{source!r} is known only to deliveries"

    def attribute_names(self) -> tuple[str, ...]:
        """The lead attributes this check's answer may add: `<id>_<name>`."""
        return tuple(f"{self.id}_{name}" for name in self.response.attributes)


__all__ = ["CheckConfig", "CheckResponse", "ConsentEvidence"]
