"""A buyer's own API (DESIGN §15): returns, the adjustments an approved one makes, pulled leads'
acknowledgements, and buyers' feedback.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pingtree.ledger.schema import UtcDateTime

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def _text(name: str, *, nullable: bool = True, primary_key: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(), nullable=nullable, primary_key=primary_key)


def upgrade() -> None:
    op.create_table(
        "returns",
        _text("id", primary_key=True, nullable=False),
        _text("lead_pk", nullable=False),
        _text("buyer_id", nullable=False),
        _text("seller_id", nullable=False),
        _text("reason", nullable=False),
        sa.Column("note", sa.Text()),
        _text("status", nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("decided_at", UtcDateTime()),
        _text("decided_by"),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("lead_pk", "buyer_id", name="uq_returns_sale"),
    )
    op.create_index("ix_returns_buyer_requested", "returns", ["buyer_id", "requested_at"])
    op.create_index("ix_returns_status_requested", "returns", ["status", "requested_at"])

    op.create_table(
        "adjustments",
        _text("id", primary_key=True, nullable=False),
        _text("return_id", nullable=False),
        _text("lead_pk", nullable=False),
        _text("party", nullable=False),
        _text("party_id", nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_adjustments_return", "adjustments", ["return_id"])
    op.create_index("ix_adjustments_party_at", "adjustments", ["party", "party_id", "at"])

    op.create_table(
        "pull_acks",
        _text("lead_pk", primary_key=True, nullable=False),
        _text("buyer_id", primary_key=True, nullable=False),
        sa.Column("acked_at", UtcDateTime(), nullable=False),
    )

    op.create_table(
        "feedback",
        _text("id", primary_key=True, nullable=False),
        _text("lead_pk", nullable=False),
        _text("buyer_id", nullable=False),
        _text("event", nullable=False),
        sa.Column("value_cents", sa.BigInteger()),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_feedback_buyer_at", "feedback", ["buyer_id", "at"])

    # Sellers' payouts taken back, beside returns_cents (0001 made that one).
    # and buyers' feedback: leads contacted, converted, and the conversions' value.
    for name in ("chargebacks_cents", "contacted", "converted", "conversion_cents"):
        kind = sa.BigInteger() if name.endswith("_cents") else sa.Integer()
        op.add_column("rollups", sa.Column(name, kind, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("rollups") as batch:  # SQLite drops a column by copying
        for name in ("chargebacks_cents", "contacted", "converted", "conversion_cents"):
            batch.drop_column(name)
    for table in ("feedback", "pull_acks", "adjustments", "returns"):
        op.drop_table(table)
