"""The ingest journal: alerts accepted over HTTP and not yet taken in by the pipeline.

In an alert storm a request is answered once its alerts are journaled here; the pipeline takes
them in behind it and deletes the row (watchd.store.journal, watchd.ingest.journal).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "ingest_journal",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("node", sa.String(), nullable=False),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("alerts", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ingest_journal")
