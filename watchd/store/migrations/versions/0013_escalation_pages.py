"""The later contacts of people paged by escalation steps, waiting for their time.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "escalation_pages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column(
            "incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("since", sa.Double(), nullable=False),
        sa.Column("policy", sa.String(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(), nullable=False),
        sa.Column("contact", sa.String(), nullable=False),
        sa.Column("after", sa.Double(), nullable=False),
        sa.Column("due_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_escalation_pages_due_at", "escalation_pages", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_escalation_pages_due_at", "escalation_pages")
    op.drop_table("escalation_pages")
