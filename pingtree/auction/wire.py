"""What the router sends each buyer, and what the answer means.

Two paths. A buyer on the native protocol (DESIGN §8) gets the lead's one pre-serialized ping,
its ping_id spliced in (`codec.PingBody`): no per-buyer encoding on the hot path. A buyer that
speaks its own dialect (config/dialect.py) gets a request built from its field map, with its
method, query, headers, auth and signature, and its answer is read with its response map. Both
paths end in the same answer types, so the router does not know which one a buyer is on.
"""

from __future__ import annotations

import base64
import re
import time
from datetime import date
from urllib.parse import parse_qsl, unquote, urlsplit

from pingtree.auction.live import LiveAuction
from pingtree.config import BuyerConfig, Endpoint
from pingtree.config.dialect import BasicAuth, secret_header
from pingtree.config.reads import ping_pii
from pingtree.core.codec import (
    Failure,
    PingAnswer,
    PingBody,
    PostAnswer,
    Unknown,
    encode_post,
    post_body,
)
from pingtree.core.codec.native import unread_post
from pingtree.core.codec.request import Sources, build_request, derived_fields
from pingtree.core.codec.response import read_ping_answer, read_post_answer
from pingtree.core.codec.transforms import MappingError, email_domain
from pingtree.core.errors import BuyerCallFailed
from pingtree.core.lead import anonymize
from pingtree.core.ranking import Offer
from pingtree.transport.client import Call, Request

Target = str | Request  # a native buyer's URL, or a dialect's whole request


class Wire:
    """One auction's outgoing calls: native ping bodies serialized once per set of attributes
    withheld (not once per buyer), dialect requests built per buyer."""

    def __init__(self, auction: LiveAuction) -> None:
        self._auction = auction
        # By (attributes withheld, PII opted in): most buyers share the first body.
        self._bodies: dict[tuple[frozenset[str], frozenset[str]], PingBody] = {}
        self._today: date = auction.received_at.date()
        schema = auction.tree.config.verticals.get(auction.lead.vertical)
        # Derived fields (zip3, age_band) a vertical's schema adds to every native ping.
        self._derived: dict[str, str] = (
            {
                str(name): value
                for name, value in derived_fields(auction.lead, self._today).items()
                if name in schema.derived and value is not None
            }
            if schema is not None and schema.derived
            else {}
        )

    def ping(self, buyer: BuyerConfig, ping_id: str) -> tuple[Target, bytes] | MappingError:
        endpoint = buyer.ping
        assert endpoint is not None
        if endpoint.native:
            body = self._native_ping(buyer).with_ping_id(ping_id)
            return endpoint.url_for(self._auction.lead.test), body
        # A dialect without `fields` still sends the native ping (with its own headers, auth…).
        native = None if endpoint.fields else self._native_ping(buyer).with_ping_id(ping_id)
        return self._request(endpoint, self._sources(buyer, ping_id), ping_id, native)

    def post(self, buyer: BuyerConfig, offer: Offer) -> tuple[Target, bytes] | MappingError:
        auction, endpoint = self._auction, buyer.post
        assert endpoint is not None, "a delivery buyer is assigned, never posted to"
        if endpoint.native:
            body = post_body(
                auction.lead,
                lead_id=auction.id,
                seller_id=auction.seller.id,
                ping_id=offer.ping_id,
                bid_id=offer.bid_id,
                price=offer.price,
            )
            return endpoint.url_for(auction.lead.test), encode_post(body)
        sources = Sources(
            lead=auction.lead,
            today=self._today,
            lead_id=auction.id,
            seller=auction.seller.id,
            ping_id=offer.ping_id,
            bid_id=offer.bid_id,
            price=offer.price,
            carried=dict(offer.carried),
        )
        # One message id per (lead, buyer): a receiver that sees it twice knows it is a repeat.
        return self._request(endpoint, sources, f"{auction.id}-{buyer.id}")

    def ping_pii(self, buyer: BuyerConfig) -> tuple[str, ...]:
        """The PII this buyer's ping carries for this lead, by name (what its `ping_pii_allowed`
        lets in and the lead has): the trace marks the ping with it."""
        read = ping_pii(buyer)
        if not read:
            return ()
        values = self._opted_in(read)
        return tuple(sorted(name for name, value in values.items() if value))

    def _opted_in(self, names: frozenset[str]) -> dict[str, str | None]:
        lead = self._auction.lead
        values = {"city": lead.city, "ip_address": lead.ip_address}
        values["email_domain"] = email_domain(lead.email)
        return {name: values[name] for name in sorted(names)}

    def _native_ping(self, buyer: BuyerConfig) -> PingBody:
        auction = self._auction
        # Check attributes are withheld like pii ones: only a buyer's ping map may read them.
        pii = (
            auction.tree.config.pii_for(buyer, auction.lead.vertical)
            | auction.tree.check_attributes
        )
        key = (pii, buyer.ping_pii_allowed)
        if key not in self._bodies:
            ping = anonymize(auction.lead, seller_id=auction.seller.id, ping_id="", pii=pii)
            ping.update(self._derived)
            opted_in = self._opted_in(buyer.ping_pii_allowed)
            ping.update((name, value) for name, value in opted_in.items() if value)
            self._bodies[key] = PingBody(ping)
        return self._bodies[key]

    def _sources(self, buyer: BuyerConfig, ping_id: str) -> Sources:
        auction = self._auction
        return Sources(
            lead=auction.lead,
            today=self._today,
            lead_id=auction.id,
            seller=auction.seller.id,
            ping_id=ping_id,
            pii_allowed=buyer.ping_pii_allowed,
        )

    def _request(
        self,
        endpoint: Endpoint,
        sources: Sources,
        message_id: str,
        native_body: bytes | None = None,
    ) -> tuple[Target, bytes] | MappingError:
        try:
            request = build_request(
                endpoint,
                sources,
                test=self._auction.lead.test,
                message_id=message_id,
                timestamp=int(time.time()),
                native_body=native_body,
            )
        except MappingError as exc:
            return exc
        return Request(request.method, request.url, request.headers, request.body), b""


def read_ping(buyer: BuyerConfig, answered: Call) -> PingAnswer:
    """What a ping's answer means; a call that failed in transport is a Failure like the rest."""
    if isinstance(answered.outcome, BuyerCallFailed):
        return Failure(answered.outcome.reason, answered.outcome.detail)
    assert buyer.ping is not None
    return read_ping_answer(buyer.ping.response, answered.outcome.status, answered.outcome.body)


def read_post(buyer: BuyerConfig, answered: Call) -> PostAnswer:
    """What a post's answer means. A call that failed once the buyer may have acted on it (a
    timeout, a connection lost, a 2xx broken in transit) is Unknown, not a failure: the buyer
    may have taken the lead."""
    outcome = answered.outcome
    if isinstance(outcome, BuyerCallFailed):
        if not outcome.ambiguous:
            return Failure(outcome.reason, outcome.detail)
        if outcome.http_status is None:
            return Unknown(outcome.detail)
        # The transport marks a broken answer ambiguous only when it began as a 2xx.
        return unread_post(outcome.http_status, Failure(outcome.reason, outcome.detail))
    assert buyer.post is not None
    return read_post_answer(buyer.post.response, outcome.status, outcome.body)


# Shorter values are not masked: a "1" or a "yes" would blank out every "1" or "yes" of a text.
_SHORTEST_SECRET = 4


def secret_values(endpoint: Endpoint) -> set[str]:
    """What pingtree sends this endpoint that a buyer must not see quoted back in a trace: its
    auth (the password or token, and the Basic header's base64 too), its signing secret,
    header values whose names sound secret, every query value (of `query:` and of the URL
    itself, where buyers often put a key) and the URL's password. A value read per lead
    (`{from: ping.ping_id}`) is none of these: it is the buyer's own id for this ping, or a
    lead's value whose PII `lead.redact` masks, and quoting it back helps the operator."""
    values: set[str] = set()
    auth = endpoint.auth
    if isinstance(auth, BasicAuth):
        password = auth.password.get_secret_value()
        pair = f"{auth.username}:{password}".encode()
        values |= {password, base64.b64encode(pair).decode()}
    elif auth is not None:
        values.add(auth.token.get_secret_value())
    if endpoint.sign is not None:
        secret = endpoint.sign.secret.get_secret_value()
        values |= {secret, secret.removeprefix("whsec_")}
    values |= {
        value
        for name, value in endpoint.headers.items()
        if secret_header(name) and isinstance(value, str)
    }
    values |= {value for value in endpoint.query.values() if isinstance(value, str)}
    for url in (endpoint.url, endpoint.sandbox_url):
        if url:
            parts = urlsplit(url)
            values |= {value for _, value in parse_qsl(parts.query)}
            if parts.password:
                values |= {parts.password, unquote(parts.password)}
    return {value for value in values if len(value) >= _SHORTEST_SECRET}


def mask_secrets(text: str, buyer: BuyerConfig) -> str:
    """`text` (a buyer's words, quoted in the trace) with the secret values of its ping and post
    as ***: a buyer answering "bad key KEY" does not hand KEY to everyone who reads the trace."""
    if not text:
        return text
    values: set[str] = set()
    for endpoint in (buyer.ping, buyer.post):
        if endpoint is not None:
            values |= secret_values(endpoint)
    for value in sorted(values, key=len, reverse=True):  # a longer secret before its parts
        text = re.sub(re.escape(value), "***", text, flags=re.IGNORECASE)
    return text
