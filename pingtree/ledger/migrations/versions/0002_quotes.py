"""Exchange quotes: one row per seller ping, and the lead its post became.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pingtree.ledger.schema import UtcDateTime

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "quotes",
        sa.Column("ping_id", sa.String(), primary_key=True, nullable=False),
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
    )
    op.create_index("ix_quotes_seller_quoted", "quotes", ["seller_id", "quoted_at"])
    op.create_index("ix_quotes_quoted", "quotes", ["quoted_at"])
    op.create_index("ix_quotes_lead_pk", "quotes", ["lead_pk"])


def downgrade() -> None:
    op.drop_table("quotes")
