"""Lead records as the router makes them (real Outcome and TraceEvent objects), for the ledger's
tests: `make_record(…)` with a plausible trace for its status, or the trace a test writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pingtree.core.outcome import Outcome, Status, TraceEvent
from pingtree.core.record import AuditEntry, LeadRecord

DAY = datetime(2025, 3, 10, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lead_number(n: int) -> str:
    """Ids that sort as the router's do (time first): here by number."""
    return f"ld_{n:08d}"


def default_trace(status: Status, buyer: str, price: Decimal | None) -> tuple[TraceEvent, ...]:
    """b-decline declines; `buyer` bids; then its post says what `status` means."""
    pings = (
        TraceEvent(5, "b-decline", "ping", "declined", reason="no_bid", duration_ms=40),
        TraceEvent(9, buyer, "ping", "bid", duration_ms=90, bid=price or Decimal("5.00")),
    )
    posts = {
        "sold": TraceEvent(120, buyer, "post", "accepted", duration_ms=110, bid=price),
        "pending": TraceEvent(900, buyer, "post", "unknown", reason="post_unknown", bid=price),
        "unsold": TraceEvent(130, buyer, "post", "rejected", reason="post_rejected", bid=price),
    }
    return (*pings, posts[status]) if status in posts else ()


def make_record(
    n: int,
    *,
    status: Status = "sold",
    at: datetime | None = None,
    seller: str = "acme",
    buyer: str = "b-one",
    price: str | None = "20.00",
    payout: str | None = "15.00",
    vertical: str = "mva",
    sub_id: str | None = "sub-1",
    state: str | None = "CA",
    test: bool = False,
    lead_id: str | None = None,
    phone_hash: str | None = None,
    email_hash: str | None = None,
    trace: tuple[TraceEvent, ...] | None = None,
    pii: dict[str, Any] | None = None,
) -> LeadRecord:
    received = at or DAY + timedelta(minutes=n)
    sold = status == "sold"
    amount = Decimal(price) if price is not None else None
    outcome = Outcome(
        id=lead_number(n),
        seller_id=seller,
        status=status,
        received_at=iso(received),
        auction_ms=250,
        lead_id=lead_id or f"seller-{n}",
        reason={"rejected": "no_consent", "unsold": "no_bids"}.get(status),
        buyer_id=buyer if status in ("sold", "pending") else None,
        price=amount if sold else None,
        payout=Decimal(payout) if sold and payout is not None else None,
        vertical=vertical,
        test=test,
        trace=default_trace(status, buyer, amount) if trace is None else trace,
    )
    facts = {"vertical": vertical, "sub_id": sub_id, "state": state, "zip": "90210", "test": test}
    consumer = {"first_name": "Ana", "phone": f"+1305555{n % 10000:04d}"} if pii is None else pii
    return LeadRecord(outcome, facts, consumer, phone_hash, email_hash)


def make_audit(n: int, *, at: datetime | None = None, **fields: Any) -> AuditEntry:
    values: dict[str, Any] = {"operator": "alice", "action": "pause", "target": "b-one"}
    values.update(fields)
    moment = at or DAY + timedelta(seconds=n)
    return AuditEntry(id=f"au_{n:08d}", at=iso(moment), detail={"n": n}, **values)
