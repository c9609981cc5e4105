"""The ledger's first schema: leads, sales, calls, audit, erasures and the hourly rollups.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pingtree.ledger.schema import UtcDateTime

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# The ping-time histogram's bucket columns as this revision made them (schema.py may grow).
_PING_BUCKETS_MS = (
    10, 20, 30, 40, 50, 75, 100, 125, 150, 200, 250, 300, 400, 500, 600, 800,
    1000, 1250, 1500, 2000, 2500, 3000, 4000, 5000, 7500, 10000,
)  # fmt: skip
_ROLLUP_COUNTS = (
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
    *(f"ping_le_{ms}" for ms in _PING_BUCKETS_MS),
    "ping_slower",
)


def _count_type(name: str) -> sa.types.TypeEngine[int]:
    return sa.BigInteger() if name.endswith("_cents") else sa.Integer()


def _text(name: str, *, nullable: bool = True, primary_key: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable, primary_key=primary_key)


def upgrade() -> None:
    op.create_table(
        "leads",
        _text("id", primary_key=True, nullable=False),
        _text("lead_id"),
        _text("seller_id", nullable=False),
        _text("sub_id"),
        _text("vertical"),
        _text("state"),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        _text("status", nullable=False),
        _text("reason"),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("auction_ms", sa.Integer(), nullable=False),
        _text("buyer_id"),
        sa.Column("price_cents", sa.BigInteger()),
        sa.Column("payout_cents", sa.BigInteger()),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("pii", sa.JSON()),
        _text("phone_hash"),
        _text("email_hash"),
        sa.Column("pii_erased_at", UtcDateTime()),
        sa.Column("outcome", sa.Text(), nullable=False),
    )
    op.create_index("ix_leads_received", "leads", ["received_at", "id"])
    op.create_index("ix_leads_seller_received", "leads", ["seller_id", "received_at", "id"])
    op.create_index("ix_leads_buyer_received", "leads", ["buyer_id", "received_at", "id"])
    op.create_index("ix_leads_lead_id", "leads", ["lead_id"])
    op.create_index("ix_leads_phone_hash", "leads", ["phone_hash"])
    op.create_index("ix_leads_email_hash", "leads", ["email_hash"])

    op.create_table(
        "sales",
        _text("lead_pk", primary_key=True, nullable=False),
        _text("buyer_id", primary_key=True, nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("payout_cents", sa.BigInteger(), nullable=False),
        sa.Column("margin_cents", sa.BigInteger(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("sold_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_sales_sold_at", "sales", ["sold_at"])
    op.create_index("ix_sales_buyer_sold_at", "sales", ["buyer_id", "sold_at"])

    op.create_table(
        "calls",
        _text("lead_pk", primary_key=True, nullable=False),
        sa.Column("seq", sa.Integer(), primary_key=True, nullable=False),
        _text("buyer_id", nullable=False),
        _text("step", nullable=False),
        _text("result", nullable=False),
        _text("reason"),
        sa.Column("ms", sa.Integer()),
        sa.Column("bid_cents", sa.BigInteger()),
    )

    op.create_table(
        "audit",
        _text("id", primary_key=True, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        _text("operator", nullable=False),
        _text("action", nullable=False),
        _text("target"),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_at", "audit", ["at", "id"])

    op.create_table(
        "erasures",
        _text("hash", primary_key=True, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )

    op.create_table(
        "rollups",
        sa.Column("grain", sa.SmallInteger(), primary_key=True, nullable=False),
        sa.Column("hour", sa.Integer(), primary_key=True, nullable=False),
        sa.Column("test", sa.Boolean(), primary_key=True, nullable=False),
        *(
            _text(name, primary_key=True, nullable=False)
            for name in ("buyer_id", "seller_id", "vertical", "sub_id", "state")
        ),
        *(
            sa.Column(
                name, sa.BigInteger() if name.endswith("_cents") else sa.Integer(), nullable=False
            )
            for name in _ROLLUP_COUNTS
        ),
    )


def downgrade() -> None:
    for table in ("rollups", "erasures", "audit", "calls", "sales", "leads"):
        op.drop_table(table)
