"""Initial schema: availability samples, persisted states, alerts.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "samples",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("item", sa.String(), nullable=False),
        sa.Column("check", sa.String(), nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("latency", sa.Double(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False, server_default=""),
    )
    op.create_index("ix_samples_item_check_time", "samples", ["item", "check", "time"])
    op.create_index("ix_samples_time", "samples", ["time"])
    op.create_table(
        "states",
        sa.Column("namespace", sa.String(), primary_key=True),
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("starts_at", sa.Double(), nullable=False),
        sa.Column("ends_at", sa.Double(), nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("generator_url", sa.Text(), nullable=False, server_default=""),
        sa.Column("first_seen", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_alerts_status", "alerts", ["status"])


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("states")
    op.drop_table("samples")
