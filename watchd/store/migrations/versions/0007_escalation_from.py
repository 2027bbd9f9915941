"""Incidents record when their escalation steps started counting (a severity change restarts
them under the policy it selects).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("escalation_from", sa.Double(), nullable=True))
    # Until now the steps counted from the first notification (or the last unack, which moved
    # notified_at): running escalations carry on where they were.
    op.execute("UPDATE incidents SET escalation_from = notified_at")


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("escalation_from")
