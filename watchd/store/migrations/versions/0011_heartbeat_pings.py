"""The last pings of heartbeat checks, one row per check.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "heartbeat_pings",
        sa.Column("check_key", sa.String(), primary_key=True),
        sa.Column("success_at", sa.Double(), nullable=True),
        sa.Column("start_at", sa.Double(), nullable=True),
        sa.Column("fail_at", sa.Double(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("duration", sa.Double(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("heartbeat_pings")
