"""An outcome survives its stored form exactly: money stays Decimal to the cent, the trace keeps
every field, and the operator view of the decoded outcome is the view of the original."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import orjson
import pytest

from pingtree.core import outcome as outcome_module
from pingtree.core.outcome import (
    Outcome,
    SaleLine,
    TraceEvent,
    decode_outcome,
    encode_outcome,
    operator_view,
)

FULL = Outcome(
    id="ld_01TEST",
    seller_id="acme-media",
    status="sold",
    received_at="2026-11-24T03:19:18.985Z",
    auction_ms=41,
    lead_id="cs_lead_8f2a4b91",
    buyer_id="lawfirm-a",
    price=Decimal("35.50"),
    payout=Decimal("28.40"),
    redirect_url="https://intake.example/thanks",
    buyer_lead_id="A-1",
    vertical="mva",
    excluded=(("filter:vertical", 740), ("filter:state", 3)),
    trace=(
        TraceEvent(0, "solar-co", "skip", "skipped", reason="filter:zip"),
        TraceEvent(12, "fixed-co", "offer", "bid", bid=Decimal("19.00")),
        TraceEvent(
            38, "lawfirm-a", "ping", "bid", http_status=200, duration_ms=37, bid=Decimal("35.50")
        ),
        TraceEvent(  # a ping carrying PII its buyer opted in to (ping_pii_allowed)
            39, "lp-solar", "ping", "declined", reason="declined", pii=("city", "ip_address")
        ),
        TraceEvent(
            39, "lawfirm-b", "post", "rejected", reason="post_rejected", detail="Duplicate ****"
        ),
    ),
)
BARE = Outcome(
    id="ld_02",
    seller_id="s",
    status="rejected",
    received_at="x",
    auction_ms=0,
    reason="consent_required",
)


@pytest.mark.parametrize("outcome", [FULL, BARE, FULL.summary()], ids=["full", "bare", "summary"])
def test_an_outcome_round_trips_exactly(outcome: Outcome) -> None:
    decoded = decode_outcome(encode_outcome(outcome))
    assert decoded == outcome
    assert operator_view(decoded) == operator_view(outcome)
    if outcome.price is not None:
        assert str(decoded.price) == "35.50"  # cents kept, not 35.5


def test_the_finished_record_is_frozen_plain_data() -> None:
    """core/outcome.py holds what an auction came to, never the auction in progress (that is
    auction/live.py's LiveAuction): every class it defines is a frozen dataclass."""
    classes = [
        value
        for value in vars(outcome_module).values()
        if isinstance(value, type) and value.__module__ == outcome_module.__name__
    ]
    assert {cls.__name__ for cls in classes} >= {"Outcome", "TraceEvent"}
    for cls in classes:
        assert dataclasses.is_dataclass(cls), cls
        params = cls.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen, f"{cls.__name__} can change after the auction"


SHARED = dataclasses.replace(
    FULL,
    price=Decimal("75.00"),
    payout=Decimal("60.00"),
    sales=(
        SaleLine("lawfirm-a", Decimal("35.50"), Decimal("28.40"), "A-1", "https://a/thanks"),
        SaleLine("lawfirm-c", Decimal("39.50"), Decimal("31.60")),
    ),
)


def test_a_shared_outcome_round_trips_with_every_sale() -> None:
    decoded = decode_outcome(encode_outcome(SHARED))
    assert decoded == SHARED and decoded.shared
    view = operator_view(decoded)
    assert view["shared"] is True
    assert [(s["buyer_id"], s["price"], s["margin"]) for s in view["sales"]] == [
        ("lawfirm-a", Decimal("35.50"), Decimal("7.10")),
        ("lawfirm-c", Decimal("39.50"), Decimal("7.90")),
    ]


def test_an_outcome_stored_before_shared_leads_still_reads() -> None:
    """Outcomes stored before sales existed have no `sales` key: read as one exclusive sale."""
    stored = orjson.loads(encode_outcome(FULL))
    assert "sales" not in stored  # an exclusive sale's stored form did not change
    decoded = decode_outcome(orjson.dumps(stored))
    assert decoded == FULL and not decoded.shared
    (line,) = decoded.sale_lines()
    assert (line.buyer_id, line.price, line.payout) == ("lawfirm-a", FULL.price, FULL.payout)
