"""A buyer's answer → what it means, read with its ResponseMap (config/dialect_response.py states
the rules), or with the native rules of DESIGN §8 when it has none. PURE.

Strict like the native protocol: a status code never means acceptance, and an answer the map
cannot place is never a bid and never a sale: a Failure whose detail quotes the start of the body
(quote.py; the router redacts the lead's PII from it before tracing). To a post, a 2xx the map
cannot place is not a no either: it is Unknown (native.py). The Content-Type a buyer sends is
ignored: buyers that answer JSON as text/html are common, HTML error pages with a 200 too.

XML is read by defusedxml: a DOCTYPE naming an outside DTD is read (nothing outside is fetched:
expat does no I/O of its own, and defusedxml refuses any external reference it is handed), while
entity declarations (an entity bomb, an external entity) stay refused (DESIGN §8b).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from pingtree.config.dialect_response import Locator, Matcher, ResponseMap
from pingtree.core import jsonenc
from pingtree.core.codec.locate import as_text, find, strip_namespaces
from pingtree.core.codec.native import (
    Accepted,
    Bid,
    Decline,
    Failure,
    PingAnswer,
    PostAnswer,
    parse_ping_answer,
    parse_post_answer,
    unread_post,
    web_url,
)
from pingtree.core.codec.quote import snippet
from pingtree.core.money import cents, parse_price

_BOM = b"\xef\xbb\xbf"
_TEXT_MAX = 200
_ACCEPTED: Literal["accepted"] = "accepted"


def read_ping_answer(response: ResponseMap | None, status: int, body: bytes) -> PingAnswer:
    if response is None:
        return parse_ping_answer(status, body)
    document = _document(response.format, status, body)
    if isinstance(document, Failure):
        return document
    verdict = _verdict(response, document, body, refusal="declined", implied=True)
    if isinstance(verdict, Decline | Failure):
        return verdict
    if response.price is None:
        return Failure("bad_response", "accepted, but the response map reads no price")
    price = read_price(find(document, response.price))
    if price is None:
        return Failure("bad_response", "accepted without a readable price")
    expires = _number(_found(document, response.expires_in_ms))
    if isinstance(expires, Failure):
        return expires
    carried = {
        name: text
        for name, locator in response.carry.items()
        if (text := as_text(find(document, locator))) is not None
    }
    return Bid(
        price=cents(price),
        bid_id=_short_text(_found(document, response.bid_id)),
        expires_in_ms=expires,
        carried=carried,
    )


def read_post_answer(response: ResponseMap | None, status: int, body: bytes) -> PostAnswer:
    if response is None:
        return parse_post_answer(status, body)
    document = _document(response.format, status, body)
    if isinstance(document, Failure):
        return unread_post(status, document)
    verdict = _verdict(response, document, body, refusal="rejected", implied=False)
    if isinstance(verdict, Failure):
        return unread_post(status, verdict)
    if isinstance(verdict, Decline):
        return verdict
    redirect = _short_text(_found(document, response.redirect_url), limit=None)
    return Accepted(
        buyer_lead_id=_short_text(_found(document, response.buyer_lead_id)),
        redirect_url=web_url(redirect),
    )


@dataclass(frozen=True, slots=True)
class CheckPassed:
    """A check's answer that lets the lead go on, and the attributes its map read from it (a
    scalar each, as found: a JSON number stays a number; what is not there is left out)."""

    attributes: Mapping[str, str | int | float | bool] = field(default_factory=dict)


def read_check_answer(
    response: ResponseMap, attributes: Mapping[str, Locator], status: int, body: bytes
) -> CheckPassed | Decline | Failure:
    """A compliance check's answer (gates/checks.py), read like a ping's: `accepted` passes,
    `rejected` (or, without it, an `accepted` value that is not an accepting one) is a Decline,
    anything else a Failure. `attributes` are read only from an answer that passed."""
    document = _document(response.format, status, body)
    if isinstance(document, Failure):
        return document
    verdict = _verdict(response, document, body, refusal="rejected", implied=True)
    if isinstance(verdict, Decline | Failure):
        return verdict
    found = {name: _scalar(find(document, locator)) for name, locator in attributes.items()}
    return CheckPassed({name: value for name, value in found.items() if value is not None})


def _scalar(found: Any) -> str | int | float | bool | None:
    if isinstance(found, str):
        return found.strip()[:_TEXT_MAX] or None
    if isinstance(found, bool | int | float):
        return found
    return None  # an object or a list is no attribute


def _document(format: Literal["json", "xml", "text"], status: int, body: bytes) -> Any:
    """The parsed answer (JSON value, XML document element with namespaces stripped, or text),
    or the Failure that says why there is none."""
    if not 200 <= status < 300:
        return Failure("http_error", f"HTTP {status}")
    body = body.removeprefix(_BOM)
    if not body.strip():
        return Failure("bad_response", "empty body")
    if format == "json":
        try:
            return jsonenc.loads(body)
        except jsonenc.JSONDecodeError:
            return Failure("bad_response", f"not JSON: {snippet(body)}")
    if format == "xml":
        try:
            # A DOCTYPE naming an outside DTD is read (never fetched); entities are refused, so
            # an entity bomb never expands and an external entity is never resolved.
            document = fromstring(
                body, forbid_dtd=False, forbid_entities=True, forbid_external=True
            )
            return strip_namespaces(document)
        except DefusedXmlException:
            return Failure("bad_response", f"XML declaring entities refused: {snippet(body)}")
        except (ParseError, ValueError, RecursionError):
            return Failure("bad_response", f"not XML: {snippet(body)}")
    return body.decode("utf-8", errors="replace")


def reads_as_refusal(response: ResponseMap, status: int, body: bytes) -> bool:
    """Whether a 2xx answer reads as a no, a refusal its map names or (without `rejected`) an
    `accepted` value that is not an accepting one: for a delivery's note, where nothing is at
    stake. An auction's post reads the strict way (read_post_answer)."""
    document = _document(response.format, status, body)
    if isinstance(document, Failure):
        return False
    verdict = _verdict(response, document, body, refusal="rejected", implied=True)
    return isinstance(verdict, Decline)


def _verdict(
    response: ResponseMap, document: Any, body: bytes, *, refusal: str, implied: bool
) -> Literal["accepted"] | Decline | Failure:
    """accepted → duplicate → rejected, in that order (ResponseMap's docstring). `implied`:
    without `rejected`, an `accepted` value found but not among its values is a no. So it is to
    a ping, never to a post: a word the map does not know may be the buyer's way to say yes."""
    accepted = find(document, response.accepted)
    if _matches(response.accepted, accepted):
        return _ACCEPTED
    reason = _short_text(_found(document, response.reason))
    if response.duplicate is not None and _matches(
        response.duplicate, find(document, response.duplicate)
    ):
        return Decline(reason or "duplicate", code="duplicate")
    if response.rejected is not None:
        if _matches(response.rejected, find(document, response.rejected)):
            return Decline(reason or refusal)
    elif implied and accepted is not None:
        return Decline(reason or refusal)  # it said something, and not the accepting word
    return Failure("bad_response", f"unknown answer: {snippet(body)}")


def _matches(matcher: Matcher, found: Any) -> bool:
    if found is None:
        return False
    if matcher.values is None:
        return True
    text = as_text(found)
    if text is None:
        return False
    wanted = text.strip().casefold()
    return any(value.strip().casefold() == wanted for value in matcher.values)


def _found(document: Any, locator: Locator | None) -> Any:
    return None if locator is None else find(document, locator)


def _short_text(found: Any, *, limit: int | None = _TEXT_MAX) -> str | None:
    text = as_text(found)
    if text is None or not text.strip():
        return None
    return text.strip()[:limit]


# $12.50, 12.50 USD, US$ 1,250.00: currency marks around digits, thousands with commas. No sign:
# a negative price is not a price. "12,50" is refused rather than guessed at.
_PRICE = re.compile(
    r"(?:US\$|\$|USD)?\s*(?P<whole>\d{1,3}(?:,\d{3})+|\d*)(?P<fraction>\.\d*)?\s*(?:USD)?",
    re.IGNORECASE,
)


def read_price(found: Any) -> Decimal | None:
    """A price as a buyer writes one: a JSON number, or text like "12.50", "$12.50",
    "12.50 USD", "1,250.00". Negative, NaN, infinite, empty or words: None."""
    if isinstance(found, str):
        match = _PRICE.fullmatch(found.strip())
        if match is None or not any(c.isdigit() for c in match.group(0)):
            return None
        digits = match.group("whole").replace(",", "") + (match.group("fraction") or "")
        try:
            amount: Decimal | None = Decimal(digits.rstrip(".") or "0")
        except InvalidOperation:  # pragma: no cover - the pattern admits only digits
            return None
    else:
        amount = parse_price(found)
    return amount if amount is not None and amount >= 0 else None


def _number(found: Any) -> float | Failure | None:
    """expires_in_ms: a JSON number, or text holding one; absent (or empty text) is None."""
    if found is None or (isinstance(found, str) and not found.strip()):
        return None
    if isinstance(found, int | float) and not isinstance(found, bool):
        return found
    if isinstance(found, str):
        try:
            number = Decimal(found.strip())
        except InvalidOperation:
            number = None
        # Bounded before int(): "1e999999999" would be a billion-digit integer.
        if number is not None and number.is_finite() and number.adjusted() < 16:
            return int(number) if number == number.to_integral_value() else float(number)
    return Failure("bad_response", "'expires_in_ms' is not a number")


__all__ = [
    "CheckPassed",
    "read_check_answer",
    "read_ping_answer",
    "read_post_answer",
    "read_price",
    "reads_as_refusal",
    "snippet",
]
