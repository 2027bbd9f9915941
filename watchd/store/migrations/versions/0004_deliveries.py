"""Notification delivery: deliveries (every attempt), tickets, notify_groups.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("outbox_id", _BigId, nullable=False),
        sa.Column("incident_id", _BigId, nullable=False),
        sa.Column("receiver", sa.String(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("latency", sa.Double(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_deliveries_incident", "deliveries", ["incident_id"])
    op.create_index("ix_deliveries_started_at", "deliveries", ["started_at"])
    op.create_table(
        "tickets",
        sa.Column("incident_id", _BigId, primary_key=True),
        sa.Column("receiver", sa.String(), primary_key=True),
        sa.Column("ticket_id", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "notify_groups",
        sa.Column("receiver", sa.String(), primary_key=True),
        sa.Column("group_key", sa.String(), primary_key=True),
        sa.Column("first_at", sa.Double(), nullable=False),
        sa.Column("last_sent_at", sa.Double(), nullable=True),
        sa.Column("firing", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notify_groups")
    op.drop_table("tickets")
    op.drop_index("ix_deliveries_started_at", table_name="deliveries")
    op.drop_index("ix_deliveries_incident", table_name="deliveries")
    op.drop_table("deliveries")
