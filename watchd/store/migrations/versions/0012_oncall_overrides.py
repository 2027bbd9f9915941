"""On-call overrides: who takes a schedule over, when, and who recorded it why.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "oncall_overrides",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("schedule", sa.String(), nullable=False),
        sa.Column("user", sa.String(), nullable=False),
        sa.Column("start", sa.Double(), nullable=False),
        sa.Column("end", sa.Double(), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_oncall_overrides_schedule_end", "oncall_overrides", ["schedule", "end"])


def downgrade() -> None:
    op.drop_index("ix_oncall_overrides_schedule_end", table_name="oncall_overrides")
    op.drop_table("oncall_overrides")
