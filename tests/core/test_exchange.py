"""Exchange mode's pure part (pingtree/core/exchange.py): the ping's body without PII, the quote,
the hold's lapse, what a post must match, the stored forms. Tables of stories, and properties of
the quote (hypothesis): never above what the seller earns, a multiple of its step, less than a
step below it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pingtree.config import SellerConfig
from pingtree.core.exchange import (
    HeldPing,
    Quote,
    decode_held,
    decode_quote,
    encode_held,
    encode_quote,
    held_until,
    lead_facts,
    mismatched,
    parse_ping,
    quote,
    without_pii,
)
from pingtree.core.lead import parse_lead
from pingtree.core.money import seller_payout
from pingtree.core.outcome import Outcome, TraceEvent
from pingtree.core.ranking import Offer


def seller(**fields: Any) -> SellerConfig:
    return SellerConfig.model_validate({"id": "acme", "api_key": "acme-secret-key", **fields})


def offer(price: str = "30", expires_at_ms: float | None = None, **fields: Any) -> Offer:
    return Offer(
        buyer_id=fields.pop("buyer_id", "a"),
        price=Decimal(price),
        priority=1,
        answered_ms=12.0,
        order=0,
        expires_at_ms=expires_at_ms,
        **fields,
    )


@pytest.mark.parametrize(
    ("rule", "price", "quoted"),
    [
        ({"revshare": 0.8}, "30", "24.00"),  # 80% of 30
        ({"revshare": 0.8, "price_step": 0.5}, "30.70", "24.50"),  # 24.56 down to a half
        ({"revshare": 0.8, "price_step": 0.25}, "30.70", "24.50"),
        ({"revshare": 0.7, "price_step": 1}, "33.33", "23"),  # 23.331 down to a dollar
        ({"payout": 15}, "40", "15.00"),  # a fixed payout whatever the price
        ({"payout": 15.1, "price_step": 0.25}, "40", "15.00"),  # …rounded down to the step too
        ({}, "19.99", "19.99"),  # no rule: the whole price
        ({"revshare": 0}, "30", "0.00"),
    ],
)
def test_the_quote_is_the_payout_rounded_down_to_the_step(
    rule: dict[str, Any], price: str, quoted: str
) -> None:
    assert quote(Decimal(price), seller(**rule)) == Decimal(quoted)


@given(
    price=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(1000), places=2),
    revshare=st.decimals(min_value=Decimal(0), max_value=Decimal(1), places=2),
    step=st.sampled_from(["0.01", "0.05", "0.10", "0.25", "0.50", "1", "5"]),
)
def test_a_quote_never_exceeds_the_payout_and_is_within_a_step_of_it(
    price: Decimal, revshare: Decimal, step: str
) -> None:
    terms = seller(revshare=revshare, price_step=step)
    earned, quoted = seller_payout(price, terms), quote(price, terms)
    assert 0 <= quoted <= earned < quoted + Decimal(step)
    assert quoted % Decimal(step) == 0


@given(
    payout=st.decimals(min_value=Decimal(1), max_value=Decimal(500), places=2),
    margin=st.decimals(min_value=Decimal(0), max_value=Decimal(20), places=2),
    above=st.decimals(min_value=Decimal(0), max_value=Decimal(500), places=2),
)
def test_a_fixed_payout_quote_never_sells_below_breakeven(
    payout: Decimal, margin: Decimal, above: Decimal
) -> None:
    # Every held offer is a valid bid: at least breakeven (payout + min_margin).
    price = payout + margin + above
    assert quote(price, seller(payout=payout)) <= price - margin


@pytest.mark.parametrize(
    ("offers", "ttl_s", "lapse_s"),
    [
        ([offer()], 60, 60),  # no expiry given: ping_ttl_s
        ([offer(expires_at_ms=5000), offer(expires_at_ms=2000)], 60, 2),  # the earliest bid's
        ([offer(expires_at_ms=120_000)], 60, 60),  # never past ping_ttl_s
    ],
)
def test_a_hold_lapses_at_the_earliest_bid_expiry_or_the_ttl(
    offers: list[Offer], ttl_s: int, lapse_s: float
) -> None:
    assert held_until(1000.0, offers, ttl_s) == 1000.0 + lapse_s


MVA = {"vertical": "mva", "state": "FL", "zip": "33101", "case_type": "mva", "tcpa_consent": True}
PII = {"first_name": "Maria", "phone": "(305) 555-1234", "email": "m.g@example.com"}


@pytest.mark.parametrize(
    ("body", "marked", "kept"),
    [
        ({**MVA, **PII}, frozenset(), set(MVA)),
        ({**MVA, **PII, "mobile": "305.555.1234"}, frozenset(), set(MVA)),  # repeats the phone
        ({**MVA, "mobile": "305.555.1234"}, frozenset(), {*MVA, "mobile"}),  # nothing to tell by
        ({**MVA, "ssn": "123-45-6789"}, frozenset({"ssn"}), set(MVA)),  # marked pii
        ({**MVA, **PII, "ref": "maria"}, frozenset(), set(MVA)),  # the first name, any case
    ],
)
def test_a_pings_pii_is_left_out_before_it_is_read(
    body: dict[str, Any], marked: frozenset[str], kept: set[str]
) -> None:
    assert set(without_pii(body, marked)) == kept


def test_a_ping_needs_no_phone_and_keeps_its_facts() -> None:
    lead = parse_ping(without_pii({**MVA, **PII}, frozenset()))
    assert lead.email is None and lead.first_name is None
    facts = lead_facts(lead, frozenset())
    assert facts["state"] == "FL" and facts["case_type"] == "mva" and "phone" not in facts


@pytest.mark.parametrize(
    ("posted", "differ"),
    [
        ({**MVA, **PII}, set()),  # the same facts, with the consumer
        ({**MVA, **PII, "first_name": "Ana"}, set()),  # PII is not compared
        ({**MVA, **PII, "lead_id": "ref-9"}, set()),  # nor the seller's reference
        ({**MVA, **PII, "zip": "33102"}, {"zip"}),
        ({**MVA, **PII, "state": "Georgia"}, {"state"}),
        ({**MVA, **PII, "extra": 1}, {"extra"}),  # a field the ping had not
        ({**{k: v for k, v in MVA.items() if k != "case_type"}, **PII}, {"case_type"}),
        ({**MVA, **PII, "mobile": "305-555-1234"}, set()),  # repeats the posted phone
    ],
)
def test_a_post_must_repeat_the_pings_non_pii_fields(
    posted: dict[str, Any], differ: set[str]
) -> None:
    pinged = lead_facts(parse_ping(without_pii(MVA, frozenset())), frozenset())
    assert set(mismatched(pinged, parse_lead(posted), frozenset())) == differ


def test_a_hold_and_a_quote_read_back_as_they_were_kept() -> None:
    ping = Outcome(
        id="pg_1",
        seller_id="acme",
        status="unsold",
        received_at="2026-03-02T14:00:00.000Z",
        auction_ms=40,
        trace=(TraceEvent(12, "a", "ping", "bid", duration_ms=11, bid=Decimal("30")),),
    )
    held = HeldPing(
        ping_id="pg_1",
        seller_id="acme",
        received_at=1000.5,
        expires_at=1060.5,
        quote=Decimal("24.00"),
        facts={"vertical": "mva", "zip": "33101"},
        offers=(offer(ping_id="p1", bid_id="b1", carried=(("token", "t-1"),)),),
        ping=ping,
    )
    assert decode_held(encode_held(held)) == held
    quoted = Quote("pg_1", "acme", "mva", None, 1000.5, True, Decimal("24.00"), 1060.5)
    assert decode_quote(encode_quote(quoted)) == quoted
