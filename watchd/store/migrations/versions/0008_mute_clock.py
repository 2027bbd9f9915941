"""Incidents keep a mute clock: the SLA timers pause while an incident is muted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("muted_since", sa.Double(), nullable=True))
        batch.add_column(
            sa.Column("muted_seconds", sa.Double(), nullable=False, server_default="0")
        )
    # An incident muted now (active, silent, not because an alert flaps) has been muted since
    # its last "muted" or "reopened" event, or since it opened if it never was audible. Earlier
    # mutes are not counted: their clocks ran, as they did before this revision.
    op.execute(
        """
        UPDATE incidents SET muted_since = COALESCE(
            (SELECT MAX(e.time) FROM incident_events e
             WHERE e.incident_id = incidents.id AND e.kind IN ('muted', 'reopened')),
            opened_at)
        WHERE state IN ('open', 'acknowledged') AND NOT audible
          AND NOT EXISTS (
            SELECT 1 FROM incident_alerts a
            WHERE a.incident_id = incidents.id AND a.role = 'member' AND a.status = 'firing'
              AND (a.muted IS NULL OR a.muted = 'flapping'))
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("muted_seconds")
        batch.drop_column("muted_since")
