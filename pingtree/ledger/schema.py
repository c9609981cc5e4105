"""The ledger's tables as SQLAlchemy Core sees them (DESIGN §12), and how values are stored.

The database gets its tables from the Alembic migrations (migrations/versions/), never from this
module: a test compares the two (tests/ledger/test_ledger.py), so a change here needs its
migration.

Stored forms, the same on SQLite and PostgreSQL:
- Money is integer cents (BIGINT): sums are exact and cheap on both (SQLite's NUMERIC is a float).
  Prices and payouts are cents already (the auction rounds them); a bid in `calls` is rounded
  half-up to the cent, and one too large for a BIGINT is not kept there (the lead's trace, in
  `leads.outcome`, keeps every bid as it came).
- Times are UTC (`UtcDateTime`: aware in, aware out); rollup hours are whole hours since the epoch.
- Text is unbounded (no VARCHAR(n) a seller's long sub_id could overflow: a row that cannot be
  written would stop the writer), and NUL characters are dropped (`text_value`): PostgreSQL's text
  cannot hold them.
- A dimension a rollup row does not split by is '' (a NULL would defeat its unique key), and so is
  a lead's missing sub_id or state there.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

metadata = sa.MetaData()

_CENT = Decimal("0.01")
_MAX_CENTS = 2**63 - 1


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp in UTC: PostgreSQL's timestamptz, SQLite's text in the one format that sorts
    as time does (SQLAlchemy's); aware datetimes in, aware UTC datetimes out."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the ledger stores aware datetimes only")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def to_cents(amount: Decimal | None) -> int | None:
    """Money as stored: integer cents, half-up; None for none, and for an amount no BIGINT holds
    (only a declined bid can be that absurd)."""
    if amount is None:
        return None
    try:
        cents = int((amount / _CENT).to_integral_value(rounding=ROUND_HALF_UP))
    except (InvalidOperation, OverflowError):
        return None
    return cents if -_MAX_CENTS <= cents <= _MAX_CENTS else None


def from_cents(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(int(cents)).scaleb(-2)


def text_value(value: Any) -> str | None:
    """A text column's value: None stays None; NUL characters, which PostgreSQL refuses, go."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text.replace("\x00", "") if "\x00" in text else text


def json_column(name: str, *, nullable: bool) -> sa.Column[Any]:
    # PostgreSQL's json keeps the text as written (jsonb refuses an escaped NUL that a seller's
    # attribute may carry); nothing queries inside these columns.
    return sa.Column(name, sa.JSON(none_as_null=True), nullable=nullable)


leads = sa.Table(
    "leads",
    metadata,
    sa.Column("id", sa.String(), primary_key=True),  # pingtree's id
    sa.Column("lead_id", sa.String()),  # the seller's
    sa.Column("seller_id", sa.String(), nullable=False),
    sa.Column("sub_id", sa.String()),
    sa.Column("vertical", sa.String()),
    sa.Column("state", sa.String()),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("status", sa.String(), nullable=False),
    sa.Column("reason", sa.String()),
    sa.Column("test", sa.Boolean(), nullable=False),
    sa.Column("auction_ms", sa.Integer(), nullable=False),
    sa.Column("buyer_id", sa.String()),  # sold (or pending) to
    sa.Column("price_cents", sa.BigInteger()),
    sa.Column("payout_cents", sa.BigInteger()),
    json_column("facts", nullable=False),
    json_column("pii", nullable=True),  # NULL once erased
    sa.Column("phone_hash", sa.String()),
    sa.Column("email_hash", sa.String()),
    sa.Column("pii_erased_at", UtcDateTime()),
    sa.Column("outcome", sa.Text(), nullable=False),  # encode_outcome: the answer and its trace
    sa.Index("ix_leads_received", "received_at", "id"),
    sa.Index("ix_leads_seller_received", "seller_id", "received_at", "id"),
    sa.Index("ix_leads_buyer_received", "buyer_id", "received_at", "id"),
    sa.Index("ix_leads_lead_id", "lead_id"),
    sa.Index("ix_leads_phone_hash", "phone_hash"),
    sa.Index("ix_leads_email_hash", "email_hash"),
)

sales = sa.Table(
    "sales",
    metadata,
    sa.Column("lead_pk", sa.String(), primary_key=True),  # leads.id
    sa.Column("buyer_id", sa.String(), primary_key=True),
    sa.Column("price_cents", sa.BigInteger(), nullable=False),
    sa.Column("payout_cents", sa.BigInteger(), nullable=False),
    sa.Column("margin_cents", sa.BigInteger(), nullable=False),
    sa.Column("shared", sa.Boolean(), nullable=False),
    sa.Column("sold_at", UtcDateTime(), nullable=False),
    sa.Index("ix_sales_sold_at", "sold_at"),
    sa.Index("ix_sales_buyer_sold_at", "buyer_id", "sold_at"),
)

calls = sa.Table(
    "calls",
    metadata,
    sa.Column("lead_pk", sa.String(), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True),  # its place in the lead's trace
    sa.Column("buyer_id", sa.String(), nullable=False),
    sa.Column("step", sa.String(), nullable=False),  # ping · offer · post · check
    sa.Column("result", sa.String(), nullable=False),
    sa.Column("reason", sa.String()),
    sa.Column("ms", sa.Integer()),
    sa.Column("bid_cents", sa.BigInteger()),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.String(), primary_key=True),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("operator", sa.String(), nullable=False),
    sa.Column("action", sa.String(), nullable=False),
    sa.Column("target", sa.String()),
    json_column("detail", nullable=False),
    sa.Index("ix_audit_at", "at", "id"),
)

erasures = sa.Table(
    "erasures",
    metadata,
    sa.Column("hash", sa.String(), primary_key=True),
    sa.Column("at", UtcDateTime(), nullable=False),  # the latest forget of it
)

# An exchange ping's quote (DESIGN §14; ledger/quotes.py): what the seller was told, and the lead
# its post became (`lead_pk`, leads.id) once posted. No PII: a ping carries none.
quotes = sa.Table(
    "quotes",
    metadata,
    sa.Column("ping_id", sa.String(), primary_key=True),
    sa.Column("seller_id", sa.String(), nullable=False),
    sa.Column("sub_id", sa.String()),
    sa.Column("vertical", sa.String(), nullable=False),
    sa.Column("quoted_at", UtcDateTime(), nullable=False),
    sa.Column("accepted", sa.Boolean(), nullable=False),
    sa.Column("bid_cents", sa.BigInteger()),
    sa.Column("reason", sa.String()),
    sa.Column("expires_at", UtcDateTime()),
    sa.Column("test", sa.Boolean(), nullable=False),
    sa.Column("lead_pk", sa.String()),
    sa.Index("ix_quotes_seller_quoted", "seller_id", "quoted_at"),
    sa.Index("ix_quotes_quoted", "quoted_at"),
    sa.Index("ix_quotes_lead_pk", "lead_pk"),
)

# A buyer's own API (DESIGN §15; migration 0003_returns). A return is one row per sale
# (lead, buyer), whatever its fate; what an approved one reverses is new `adjustments` rows
# (negative cents: the buyer's charge, the seller's payout on a charge-back), never an edit of
# the sale. `pull_acks` are the pulled leads a buyer acknowledged; `feedback` its conversion facts.
returns = sa.Table(
    "returns",
    metadata,
    sa.Column("id", sa.String(), primary_key=True),
    sa.Column("lead_pk", sa.String(), nullable=False),
    sa.Column("buyer_id", sa.String(), nullable=False),
    sa.Column("seller_id", sa.String(), nullable=False),
    sa.Column("reason", sa.String(), nullable=False),
    sa.Column("note", sa.Text()),
    sa.Column("status", sa.String(), nullable=False),  # pending · approved · denied
    sa.Column("requested_at", UtcDateTime(), nullable=False),
    sa.Column("decided_at", UtcDateTime()),
    sa.Column("decided_by", sa.String()),  # an operator's name, or "auto"
    sa.Column("price_cents", sa.BigInteger(), nullable=False),  # the sale's, as it was
    sa.UniqueConstraint("lead_pk", "buyer_id", name="uq_returns_sale"),
    sa.Index("ix_returns_buyer_requested", "buyer_id", "requested_at"),
    sa.Index("ix_returns_status_requested", "status", "requested_at"),
)

adjustments = sa.Table(
    "adjustments",
    metadata,
    sa.Column("id", sa.String(), primary_key=True),
    sa.Column("return_id", sa.String(), nullable=False),
    sa.Column("lead_pk", sa.String(), nullable=False),
    sa.Column("party", sa.String(), nullable=False),  # buyer · seller
    sa.Column("party_id", sa.String(), nullable=False),
    sa.Column("amount_cents", sa.BigInteger(), nullable=False),  # negative: money given back
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_adjustments_return", "return_id"),
    sa.Index("ix_adjustments_party_at", "party", "party_id", "at"),
)

pull_acks = sa.Table(
    "pull_acks",
    metadata,
    sa.Column("lead_pk", sa.String(), primary_key=True),
    sa.Column("buyer_id", sa.String(), primary_key=True),
    sa.Column("acked_at", UtcDateTime(), nullable=False),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.String(), primary_key=True),
    sa.Column("lead_pk", sa.String(), nullable=False),
    sa.Column("buyer_id", sa.String(), nullable=False),
    sa.Column("event", sa.String(), nullable=False),  # contacted · converted
    sa.Column("value_cents", sa.BigInteger()),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Index("ix_feedback_buyer_at", "buyer_id", "at"),
)

ROLLUP_DIMENSIONS = ("buyer_id", "seller_id", "vertical", "sub_id", "state")
# The ping-time histogram's buckets, by upper bound in ms; a last bucket holds what is slower.
PING_BUCKETS_MS: tuple[int, ...] = (
    10, 20, 30, 40, 50, 75, 100, 125, 150, 200, 250, 300, 400, 500, 600, 800,
    1000, 1250, 1500, 2000, 2500, 3000, 4000, 5000, 7500, 10000,
)  # fmt: skip
PING_BUCKET_COLUMNS = (*(f"ping_le_{ms}" for ms in PING_BUCKETS_MS), "ping_slower")
GATE_COUNTS = ("rejected", "suppressed", "consent_failed", "check_failed")
ROLLUP_COUNTS = (
    "leads",
    "sold",
    "wins",
    "revenue_cents",
    "payout_cents",
    "pings",
    "bids",
    "posts",
    "posts_accepted",
    "returns",
    "returns_cents",
    "chargebacks_cents",  # sellers' payouts taken back by approved returns (0003_returns)
    "contacted",  # leads a buyer said it contacted, once each (its feedback, 0003_returns)
    "converted",  # leads a buyer said converted, once each
    "conversion_cents",  # the values of its conversions
    # Leads rejected (lead grains only: no buyer was called), and of those the ones a compliance
    # gate refused (0004_gate_counts): a suppression list, consent evidence, an outside check.
    *GATE_COUNTS,
    *PING_BUCKET_COLUMNS,
)


def _count_type(name: str) -> sa.types.TypeEngine[int]:
    return sa.BigInteger() if name.endswith("_cents") else sa.Integer()


rollups = sa.Table(
    "rollups",
    metadata,
    sa.Column("grain", sa.SmallInteger(), primary_key=True),  # rollups.py: GRAINS
    sa.Column("hour", sa.Integer(), primary_key=True),  # UTC, whole hours since the epoch
    sa.Column("test", sa.Boolean(), primary_key=True),
    *(sa.Column(name, sa.String(), primary_key=True) for name in ROLLUP_DIMENSIONS),
    # An hour's row counts in INTEGER (4 bytes on PostgreSQL, a third of a row saved) and its
    # cents in BIGINT: a buyer's hour passes 2^31 cents ($21M) long before 2^31 leads.
    *(
        sa.Column(
            name, sa.BigInteger() if name.endswith("_cents") else sa.Integer(), nullable=False
        )
        for name in ROLLUP_COUNTS
    ),
)
