"""Money (pingtree/core/money.py), DESIGN §4: Decimal inside, prices half-up to cents, payouts
down."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pingtree.config import SellerConfig
from pingtree.core.money import breakeven, cents, cents_down, parse_price, seller_payout


def make_seller(**overrides: Any) -> SellerConfig:
    """A seller; keyword arguments are buyers.yaml keys (revshare, payout…)."""
    return SellerConfig.model_validate(
        {"id": "acme-media", "api_key": "acme-secret-key-1", **overrides}
    )


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        pytest.param("42.5", "42.50", id="$42.5 is written $42.50"),
        pytest.param("42", "42.00", id="whole dollars get cents"),
        pytest.param("2.675", "2.68", id="half a cent rounds up"),
        pytest.param("2.665", "2.67", id="half-up, not banker's rounding (2.66)"),
        pytest.param("2.664", "2.66", id="under half a cent rounds down"),
        pytest.param("0.005", "0.01", id="half a cent becomes a cent"),
        pytest.param("0.0049", "0.00", id="under half a cent is nothing"),
        pytest.param("999.995", "1000.00", id="rounding carries into the dollars"),
        pytest.param("-2.675", "-2.68", id="negative half a cent rounds away from zero"),
        pytest.param("19.999999", "20.00", id="many decimals from a float-minded buyer"),
    ],
)
def test_cents_rounds_prices_half_up(amount: str, expected: str) -> None:
    assert str(cents(Decimal(amount))) == expected


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        pytest.param("26.664", "26.66", id="80% of $33.33 pays $26.66"),
        pytest.param("19.999", "19.99", id="never rounded up into the next cent"),
        pytest.param("33.335", "33.33", id="half a cent is not paid"),
        pytest.param("0.009", "0.00", id="under a cent pays nothing"),
        pytest.param("20", "20.00", id="whole dollars get cents"),
        pytest.param("7.50", "7.50", id="exact cents stay"),
    ],
)
def test_cents_down_rounds_payouts_down(amount: str, expected: str) -> None:
    assert str(cents_down(Decimal(amount))) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(42, Decimal("42"), id="int bid"),
        pytest.param(0, Decimal("0"), id="zero (the rules refuse it, parsing does not)"),
        pytest.param(-5, Decimal("-5"), id="negative int (the rules refuse it)"),
        pytest.param(42.5, Decimal("42.5"), id="float bid"),
        pytest.param(10**30, Decimal(10**30), id="huge int stays exact"),
        pytest.param(1e308, Decimal("1e308"), id="1e308 is finite and parses"),
        pytest.param(True, None, id="true is not a price"),
        pytest.param(False, None, id="false is not a price"),
        pytest.param("42.50", None, id="a price as text is not a JSON number"),
        pytest.param("", None, id="empty text"),
        pytest.param(None, None, id="null"),
        pytest.param(float("nan"), None, id="NaN"),
        pytest.param(float("inf"), None, id="infinity"),
        pytest.param(float("-inf"), None, id="minus infinity"),
        pytest.param([42], None, id="a list"),
        pytest.param({"amount": 42}, None, id="an object"),
    ],
)
def test_parse_price(value: Any, expected: Decimal | None) -> None:
    assert parse_price(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(42.1, "42.1", id="42.1 is 42.1, not its binary expansion"),
        pytest.param(0.1, "0.1", id="0.1 is 0.1"),
        pytest.param(19.99, "19.99", id="19.99 is 19.99"),
        pytest.param(0.1 + 0.2, "0.30000000000000004", id="a float sum keeps what it really is"),
        pytest.param(42, "42", id="an int has no decimals"),
    ],
)
def test_parse_price_reads_floats_by_their_shortest_repr(value: float, expected: str) -> None:
    price = parse_price(value)
    assert isinstance(price, Decimal)
    assert str(price) == expected


@pytest.mark.parametrize(
    ("seller", "price", "expected"),
    [
        pytest.param({"revshare": 0.80}, "42.50", "34.00", id="80% of $42.50 -> $34.00"),
        pytest.param({"revshare": 0.8}, "33.33", "26.66", id="80% of $33.33 ($26.664) -> $26.66"),
        pytest.param({"revshare": 0.8}, "12.99", "10.39", id="80% of $12.99 ($10.392) -> $10.39"),
        pytest.param(
            {"revshare": 0.75}, "10.01", "7.50", id="75% of $10.01 ($7.5075) -> $7.50, down"
        ),
        pytest.param({"revshare": 0.85}, "19.99", "16.99", id="85% of $19.99 ($16.9915) -> $16.99"),
        pytest.param({"revshare": 0.333}, "100", "33.30", id="33.3% of $100 -> $33.30"),
        pytest.param({"revshare": 0.7}, "0.01", "0.00", id="70% of one cent -> nothing"),
        pytest.param({"revshare": 1}, "42.50", "42.50", id="revshare 1 passes the whole price"),
        pytest.param({"revshare": 0}, "42.50", "0.00", id="revshare 0 pays nothing"),
        pytest.param({}, "42.50", "42.50", id="no revshare and no payout -> the whole price"),
        pytest.param({"payout": 20}, "35.00", "20.00", id="fixed $20 payout on a $35 sale"),
        pytest.param({"payout": 20}, "500.00", "20.00", id="fixed $20 payout on a $500 sale"),
        pytest.param(
            {"payout": 20}, "20.00", "20.00", id="fixed $20 payout on a $20 sale (no margin)"
        ),
        pytest.param({"payout": "19.99"}, "40", "19.99", id="fixed $19.99 payout"),
        pytest.param({"payout": 0}, "40", "0.00", id="fixed $0 payout"),
    ],
)
def test_seller_payout(seller: dict[str, Any], price: str, expected: str) -> None:
    assert str(seller_payout(Decimal(price), make_seller(**seller))) == expected


@pytest.mark.parametrize(
    ("seller", "min_margin", "expected"),
    [
        pytest.param({"payout": 20}, "0", Decimal("20"), id="$20 payout, no margin -> $20"),
        pytest.param({"payout": 20}, "5", Decimal("25"), id="$20 payout, $5 margin -> $25"),
        pytest.param(
            {"payout": 20}, "0.01", Decimal("20.01"), id="$20 payout, one cent margin -> $20.01"
        ),
        pytest.param({"payout": 0}, "2", Decimal("2"), id="$0 payout, $2 margin -> $2"),
        pytest.param({"revshare": 0.8}, "5", None, id="revshare seller: no breakeven"),
        pytest.param({}, "5", None, id="default revshare seller: no breakeven"),
    ],
)
def test_breakeven(seller: dict[str, Any], min_margin: str, expected: Decimal | None) -> None:
    assert breakeven(make_seller(**seller), Decimal(min_margin)) == expected
