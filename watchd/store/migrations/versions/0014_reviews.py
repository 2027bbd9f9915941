"""Post-incident reviews and their corrective and preventive actions.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "incident_id", _BigId, sa.ForeignKey("incidents.id"), nullable=True, unique=True
        ),
        sa.Column("problem_id", _BigId, sa.ForeignKey("problems.id"), nullable=True, unique=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("impact", sa.Text(), nullable=False, server_default=""),
        sa.Column("cause", sa.Text(), nullable=False, server_default=""),
        sa.Column("timeline", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
    )
    op.create_index("ix_reviews_created_at", "reviews", ["created_at"])
    op.create_table(
        "review_actions",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("review_id", _BigId, sa.ForeignKey("reviews.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("due", sa.Double(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("done_at", sa.Double(), nullable=True),
        sa.Column("done_by", sa.String(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_review_actions_review", "review_actions", ["review_id"])
    op.create_index("ix_review_actions_done_due", "review_actions", ["done", "due"])


def downgrade() -> None:
    op.drop_table("review_actions")
    op.drop_table("reviews")
