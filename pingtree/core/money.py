"""Money: Decimal everywhere, cents at the edges. Prices round half-up; payouts round down.

PURE: no I/O, no clock.
"""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any

from pingtree.config import SellerConfig

CENT = Decimal("0.01")


def _wide(amount: Decimal) -> Context:
    # Enough digits for any finite amount (a buyer may bid 1e308): rounding must never raise.
    return Context(prec=max(28, amount.adjusted() + 4))


def cents(amount: Decimal) -> Decimal:
    """A price to the cent, half-up."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP, context=_wide(amount))


def cents_down(amount: Decimal) -> Decimal:
    """A payout to the cent, never rounded in the seller's favour past what was earned."""
    return amount.quantize(CENT, rounding=ROUND_DOWN, context=_wide(amount))


def parse_price(value: Any) -> Decimal | None:
    """A JSON number as a finite Decimal; None for anything else (bool, str, NaN, inf, null).

    Floats go through repr so that 42.1 becomes Decimal('42.1'), not its binary expansion.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def seller_payout(price: Decimal, seller: SellerConfig) -> Decimal:
    if seller.payout is not None:
        return cents_down(seller.payout)
    return cents_down(price * seller.effective_revshare)


def breakeven(seller: SellerConfig, min_margin: Decimal) -> Decimal | None:
    """The least price that does not sell at a loss, for a seller on a fixed payout; None when the
    payout is a share of the price (a share can never exceed the price)."""
    if seller.payout is None:
        return None
    return seller.payout + min_margin
