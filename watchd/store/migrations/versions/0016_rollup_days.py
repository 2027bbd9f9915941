"""Rolled-up days with their span and zone: daily rollups are cut at local midnight.

Days rolled before this migration were UTC days: each start of a daily row becomes a
24-hour UTC day.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "rollup_days",
        sa.Column("start", sa.Double(), primary_key=True, autoincrement=False),
        sa.Column("end", sa.Double(), nullable=False),
        sa.Column("zone", sa.String(), nullable=False),
    )
    op.execute(
        'INSERT INTO rollup_days (start, "end", zone) '
        "SELECT DISTINCT start, start + 86400.0, 'UTC' FROM rollups_daily"
    )


def downgrade() -> None:
    op.drop_table("rollup_days")
