"""Exchange mode's pure part (DESIGN §14): the seller's ping without its PII, the quote, what a
post must match, and the held bids' stored form. PURE: no I/O, no clock (times are arguments).

A seller's ping is a lead without the consumer: every PII field (PII_FIELDS) and every attribute
the config marks pii is dropped from the body before it is validated, so nothing downstream (the
buyers' pings, the held bids, the trace, the ledger's quote) ever holds them. The post carries the
full lead; its non-PII facts must be the ping's (`mismatched`), or it is a 409.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import ROUND_DOWN, Decimal
from typing import Any

from pingtree.config import SellerConfig
from pingtree.core import jsonenc
from pingtree.core.lead import PII_FIELDS, Lead, carries_pii, parse_lead, split_pii
from pingtree.core.money import seller_payout
from pingtree.core.outcome import Outcome, decode_outcome, encode_outcome
from pingtree.core.ranking import Offer

# A Lead has a phone; a ping has none. This one (a valid US number, not the consumer's) stands in:
# no ping carries a phone, the ping phase makes no dedup hash (its auction has none) and no lead
# record, and the trace's redaction masks only this number.
STAND_IN_PHONE = "+12025550123"
# The facts a post must repeat: everything of the lead but its PII and the seller's own
# reference (a seller may give its lead_id only with the post).
_NOT_FACTS = set(PII_FIELDS) | {"lead_id", "attributes"}
_NOT_DIGITS = re.compile(r"\D")


def without_pii(body: dict[str, Any], marked: frozenset[str]) -> dict[str, Any]:
    """The ping's body with every PII field left out, and every attribute marked pii or repeating
    a PII value the body gave (a `mobile` beside the `phone`: the ping's own test, lead.py's)."""
    sent = {name: body[name] for name in PII_FIELDS & body.keys() if body[name] is not None}
    secrets = _sent_values(sent)
    return {
        name: value
        for name, value in body.items()
        if name not in PII_FIELDS | marked and not (secrets and carries_pii(value, secrets))
    }


def _sent_values(sent: dict[str, Any]) -> tuple[str, ...]:
    """PII values as a seller sent them, lower-case, and a phone's national digits."""
    values = {str(value).strip().lower() for value in sent.values()}
    if "phone" in sent:
        digits = _NOT_DIGITS.sub("", str(sent["phone"]))
        values.add(digits[1:] if len(digits) == 11 and digits.startswith("1") else digits)
    return tuple(sorted((v for v in values if len(v) >= 3), key=len, reverse=True))


def parse_ping(body: dict[str, Any]) -> Lead:
    """A ping body (its PII already left out: `without_pii`) validated as a lead with no phone.
    LeadInvalid (422) names bad fields as for /v1/leads, never the phone, which a ping lacks."""
    return parse_lead({**body, "phone": STAND_IN_PHONE})


def lead_facts(lead: Lead, marked: frozenset[str]) -> dict[str, Any]:
    """The lead's non-PII fields, what a post must share with its ping (JSON-ready)."""
    facts = lead.model_dump(exclude=_NOT_FACTS, mode="json")
    attributes = {k: v for k, v in lead.attributes.items() if k not in marked}
    return {**facts, **attributes}


def mismatched(pinged: dict[str, Any], posted: Lead, marked: frozenset[str]) -> dict[str, str]:
    """The fields whose value in the post is not the ping's (missing in one counts), by name.
    An attribute that repeats the posted consumer's PII is not compared: the ping left it out
    when it came with the PII, or could not tell it apart when it came without."""
    _, pii = split_pii(posted, marked)
    hidden = set(pii.get("attributes", ()))
    facts = lead_facts(posted, marked)
    names = sorted((set(pinged) | set(facts)) - hidden)
    differ = [name for name in names if pinged.get(name) != facts.get(name)]
    return dict.fromkeys(differ, "differs from the ping's")


def quote(price: Decimal, seller: SellerConfig) -> Decimal:
    """What the seller earns if the lead sells at `price`: its payout rule (a share of the price,
    or its fixed payout), rounded down to its `price_step`."""
    step = seller.price_step
    earned = seller_payout(price, seller)
    return (earned / step).to_integral_value(rounding=ROUND_DOWN) * step


def held_until(received_at: float, offers: list[Offer], ping_ttl_s: float) -> float:
    """When the held bids lapse (Unix seconds): at the earliest bid's expiry, and at the latest
    `ping_ttl_s` after the ping. Offers' expiries are ms after the ping's receipt."""
    expiries = [o.expires_at_ms / 1000 for o in offers if o.expires_at_ms is not None]
    return received_at + min([ping_ttl_s, *expiries])


def rebased(offer: Offer, shift_ms: float) -> Offer:
    """An offer made `shift_ms` before the post's receipt, its times counted from the post's."""
    expires = None if offer.expires_at_ms is None else offer.expires_at_ms - shift_ms
    return replace(offer, answered_ms=offer.answered_ms - shift_ms, expires_at_ms=expires)


@dataclass(frozen=True, slots=True)
class Quote:
    """A seller's ping answered: the quote when `accepted`, else the reason (no_valid_bid…);
    `lead_pk` the lead its post became, once posted. Times are Unix seconds; `expires_at` when
    the held bids lapse (accepted only). What the seller is told, and the ledger's `quotes` row
    (it carries no PII: a ping has none)."""

    ping_id: str
    seller_id: str
    vertical: str
    sub_id: str | None
    received_at: float
    accepted: bool
    bid: Decimal | None = None
    expires_at: float | None = None
    reason: str | None = None
    test: bool = False
    lead_pk: str | None = None


def encode_quote(quoted: Quote) -> bytes:
    fields = {name: getattr(quoted, name) for name in Quote.__dataclass_fields__}
    fields["bid"] = None if quoted.bid is None else str(quoted.bid)
    return jsonenc.dumps(fields)


def decode_quote(data: bytes) -> Quote:
    fields = jsonenc.loads(data)
    bid = fields.pop("bid")
    return Quote(**fields, bid=None if bid is None else Decimal(bid))


def posted_quote(held: HeldPing, lead_pk: str) -> Quote:
    """The quote of a held ping as the lead `lead_pk` its post became."""
    return Quote(
        ping_id=held.ping_id,
        seller_id=held.seller_id,
        vertical=str(held.facts.get("vertical")),
        sub_id=held.facts.get("sub_id"),
        received_at=held.received_at,
        accepted=True,
        bid=held.quote,
        expires_at=held.expires_at,
        test=bool(held.facts.get("test")),
        lead_pk=lead_pk,
    )


@dataclass(frozen=True, slots=True)
class HeldPing:
    """A seller's ping answered with a quote: its bids, held for the post. `ping` is the ping
    phase as an outcome (its trace, its receipt, who it excluded): the post's trace starts
    with it. Times are Unix seconds."""

    ping_id: str
    seller_id: str
    received_at: float
    expires_at: float
    quote: Decimal
    facts: dict[str, Any]
    offers: tuple[Offer, ...]
    ping: Outcome


def encode_held(held: HeldPing) -> bytes:
    """The stored form: a JSON line of the hold, then the ping phase's encoded outcome."""
    head = {
        "ping_id": held.ping_id,
        "seller_id": held.seller_id,
        "received_at": held.received_at,
        "expires_at": held.expires_at,
        "quote": str(held.quote),
        "facts": held.facts,
        "offers": [_offer_row(offer) for offer in held.offers],
    }
    return jsonenc.dumps(head) + b"\n" + encode_outcome(held.ping)


def decode_held(data: bytes) -> HeldPing:
    line, _, ping = data.partition(b"\n")
    head = jsonenc.loads(line)
    return HeldPing(
        ping_id=head["ping_id"],
        seller_id=head["seller_id"],
        received_at=head["received_at"],
        expires_at=head["expires_at"],
        quote=Decimal(head["quote"]),
        facts=head["facts"],
        offers=tuple(_offer_of(row) for row in head["offers"]),
        ping=decode_outcome(ping),
    )


def _offer_row(offer: Offer) -> dict[str, Any]:
    return {
        "buyer_id": offer.buyer_id,
        "price": str(offer.price),
        "priority": offer.priority,
        "answered_ms": offer.answered_ms,
        "order": offer.order,
        "ping_id": offer.ping_id,
        "bid_id": offer.bid_id,
        "expires_at_ms": offer.expires_at_ms,
        "carried": [list(pair) for pair in offer.carried],
    }


def _offer_of(row: dict[str, Any]) -> Offer:
    carried = tuple((str(name), str(value)) for name, value in row.pop("carried"))
    return Offer(**{**row, "price": Decimal(row["price"])}, carried=carried)
