"""Reports count the leads rejected, and which compliance gate refused them (DESIGN §16): a
suppression list, consent evidence, an outside check. Rows rolled up before it count 0.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_COUNTS = ("rejected", "suppressed", "consent_failed", "check_failed")


def upgrade() -> None:
    for name in _COUNTS:
        op.add_column("rollups", sa.Column(name, sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("rollups") as batch:  # SQLite drops a column by copying
        for name in _COUNTS:
            batch.drop_column(name)
