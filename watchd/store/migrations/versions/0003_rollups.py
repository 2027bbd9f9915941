"""Availability rollups: series, hourly and daily rollup tables.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _rollup_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("series_id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("start", sa.Double(), primary_key=True),
        sa.Column("up", sa.Double(), nullable=False),
        sa.Column("down", sa.Double(), nullable=False),
        sa.Column("unknown", sa.Double(), nullable=False),
        sa.Column("maintenance", sa.Double(), nullable=False),
        sa.Column("unmonitored", sa.Double(), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("latency_sum", sa.Double(), nullable=False),
        sa.Column("latency_count", sa.Integer(), nullable=False),
        sa.Column("latency_max", sa.Double(), nullable=True),
        sa.Column("latency_p95", sa.Double(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "rollup_series",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("item", sa.String(), nullable=False),
        sa.Column("check", sa.String(), nullable=False),
        sa.UniqueConstraint("item", "check", name="uq_rollup_series_item_check"),
    )
    op.create_table("rollups_hourly", *_rollup_columns(), sqlite_with_rowid=False)
    op.create_table("rollups_daily", *_rollup_columns(), sqlite_with_rowid=False)


def downgrade() -> None:
    op.drop_table("rollups_daily")
    op.drop_table("rollups_hourly")
    op.drop_table("rollup_series")
