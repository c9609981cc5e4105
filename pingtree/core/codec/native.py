"""The native buyer protocol (DESIGN §8). PURE: lead → request body; response → what it means.

Strict by design: an HTTP status never means acceptance by itself, and anything that does not say
`"accepted": true` in the expected shape is not a bid and not a sale. Nor is it a no: a post's 2xx
that says neither (DESIGN §8, v3) is `Unknown`, since the buyer may have taken the lead. The answer
types here are shared with the buyer dialects (request.py, response.py): a dialect's answer means
the same things.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from pingtree.core import jsonenc
from pingtree.core.codec.quote import snippet
from pingtree.core.lead import Lead
from pingtree.core.money import cents, parse_price

_REASON_MAX = 200
_URL_MAX = 2000


@dataclass(frozen=True, slots=True)
class Bid:
    price: Decimal
    bid_id: str | None
    expires_in_ms: float | None
    # Values a dialect's `carry` read from the ping's answer, for the post (`from: ping.NAME`).
    # Not hashed: a bid is compared, never used as a key.
    carried: Mapping[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True, slots=True)
class Decline:
    """The buyer answered properly and said no; `code` is "duplicate" when it said it already has
    this consumer (a dialect's `duplicate` matcher), else "declined"."""

    reason: str
    code: str = "declined"


@dataclass(frozen=True, slots=True)
class Failure:
    """The answer cannot be understood; `reason` is a trace code, `detail` says why."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Accepted:
    buyer_lead_id: str | None
    redirect_url: str | None


@dataclass(frozen=True, slots=True)
class Unknown:
    """A post's outcome that is neither a sale nor a no: the buyer may have taken the lead, so it
    is not offered to another unless the buyer's config says so (DESIGN §3, §8). `status`: the
    HTTP status that came back, a 2xx whose body the buyer's config cannot place as accepted or
    refused (its `on_post_unknown` decides); None when none came back, a timeout or a connection
    lost once the post was out (its `on_post_timeout` decides). `detail` says why, quoting the
    buyer's words when there are any."""

    detail: str
    status: int | None = None


PingAnswer = Bid | Decline | Failure
PostAnswer = Accepted | Decline | Failure | Unknown


def unread_post(status: int, failure: Failure) -> Failure | Unknown:
    """A post's answer that could not be read as a yes or a no: a failure when its status was not
    a 2xx (that was the no), else Unknown, since a 2xx may be the buyer's yes in words not known."""
    if not 200 <= status < 300:
        return failure
    return Unknown(f"HTTP {status}, {failure.detail}", status)


def encode_ping(ping: dict[str, Any]) -> bytes:
    return jsonenc.dumps(ping)


class PingBody:
    """A lead's anonymized ping, serialized once: every buyer's copy differs only by its ping_id,
    which is spliced in front (the bytes are those `encode_ping` would give)."""

    __slots__ = ("_tail",)

    def __init__(self, ping: dict[str, Any]) -> None:
        rest = {name: value for name, value in ping.items() if name != "ping_id"}
        self._tail = b"," + jsonenc.dumps(rest)[1:] if rest else b"}"

    def with_ping_id(self, ping_id: str) -> bytes:
        return b'{"ping_id":' + jsonenc.dumps(ping_id) + self._tail


def post_body(
    lead: Lead,
    *,
    lead_id: str,
    seller_id: str,
    ping_id: str | None,
    bid_id: str | None,
    price: Decimal,
) -> dict[str, Any]:
    """The full lead for the winner, with the ping it answers and the price it bid; its
    compliance fields as the seller sent them (lead.py)."""
    body = lead.model_dump(exclude_none=True)
    body.update(lead.as_sent)
    body.update(id=lead_id, seller=seller_id, ping_id=ping_id, bid_id=bid_id, price=price)
    return body


def encode_post(body: dict[str, Any]) -> bytes:
    return jsonenc.dumps(body)


def _json_object(status: int, body: bytes) -> dict[str, Any] | Failure:
    if not 200 <= status < 300:
        return Failure("http_error", f"HTTP {status}")
    if not body or body.isspace():  # (no copy of the body: this runs on every answer)
        return Failure("bad_response", "empty body")
    try:
        decoded = jsonenc.loads(body)
    except jsonenc.JSONDecodeError:
        return Failure("bad_response", f"body is not JSON: {snippet(body)}")
    if not isinstance(decoded, dict):
        return Failure("bad_response", f"body is not a JSON object: {snippet(body)}")
    accepted = decoded.get("accepted")
    if not isinstance(accepted, bool):
        return Failure("bad_response", f"no boolean 'accepted': {snippet(body)}")
    return decoded


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value[:_REASON_MAX]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def parse_ping_answer(status: int, body: bytes) -> PingAnswer:
    decoded = _json_object(status, body)
    if isinstance(decoded, Failure):
        return decoded
    if not decoded["accepted"]:
        return Decline(_text(decoded.get("reason")) or "declined")
    price = parse_price(decoded.get("bid"))
    if price is None:
        return Failure("bad_response", "accepted without a finite numeric 'bid'")
    expires = decoded.get("expires_in_ms")
    if expires is not None and (isinstance(expires, bool) or not isinstance(expires, int | float)):
        return Failure("bad_response", "'expires_in_ms' is not a number")
    return Bid(price=cents(price), bid_id=_text(decoded.get("bid_id")), expires_in_ms=expires)


def parse_post_answer(status: int, body: bytes) -> PostAnswer:
    decoded = _json_object(status, body)
    if isinstance(decoded, Failure):
        return unread_post(status, decoded)
    if not decoded["accepted"]:
        return Decline(_text(decoded.get("reason")) or "rejected")
    return Accepted(
        buyer_lead_id=_text(decoded.get("buyer_lead_id")),
        redirect_url=web_url(decoded.get("redirect_url")),
    )


def web_url(value: Any) -> str | None:
    """A redirect the seller will send a consumer to: an absolute http(s) URL, or nothing."""
    if not isinstance(value, str) or len(value) > _URL_MAX:
        return None
    parts = urlsplit(value)
    return value if parts.scheme.lower() in ("http", "https") and parts.netloc else None
