"""How a lead is sold (DESIGN §14): `sell: exclusive | shared` and `max_buyers: N`, set on a
seller (`sellers[]`) or a vertical (`verticals.<name>`). The two models carry the same two keys
and the same check; which one applies to a lead is core/shares.py's `share_terms`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pingtree.config.checked import Problem

SellMode = Literal["exclusive", "shared"]
# A shared lead goes to a handful of buyers: a consumer called by ten is a complaint, not a sale.
MAX_BUYERS_LIMIT = 10


def share_problems(sell: SellMode | None, max_buyers: int | None) -> Iterator[Problem]:
    """`sell: shared` needs `max_buyers` of 2 to MAX_BUYERS_LIMIT; `max_buyers` means nothing
    without it (one buyer is an exclusive sale)."""
    if sell == "shared":
        if max_buyers is None:
            yield ("max_buyers",), "sell: shared needs max_buyers (2 or more)"
        elif not 2 <= max_buyers <= MAX_BUYERS_LIMIT:
            yield (
                ("max_buyers",),
                f"max_buyers must be 2 to {MAX_BUYERS_LIMIT} for sell: shared "
                "(one buyer is an exclusive sale)",
            )
    elif max_buyers is not None:
        yield ("max_buyers",), "max_buyers is only for sell: shared"
