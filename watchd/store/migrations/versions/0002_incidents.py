"""Incidents, their alerts and timeline, the outbox, silences, problems and changes.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02

"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "problems",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.Double(), nullable=False),
        sa.Column("closed_at", sa.Double(), nullable=True),
    )
    op.create_index("ix_problems_key_state", "problems", ["key", "state"])
    op.create_table(
        "changes",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("item", sa.String(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.Double(), nullable=False),
        sa.Column("ends_at", sa.Double(), nullable=False),
        sa.Column("ticket", sa.String(), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_changes_ends_at", "changes", ["ends_at"])
    op.create_table(
        "incidents",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("group_labels", sa.JSON(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("item", sa.String(), nullable=False, server_default=""),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.Double(), nullable=False),
        sa.Column("acknowledged_at", sa.Double(), nullable=True),
        sa.Column("acknowledged_by", sa.String(), nullable=True),
        sa.Column("resolved_at", sa.Double(), nullable=True),
        sa.Column("resolved_by", sa.String(), nullable=True),
        sa.Column("closed_at", sa.Double(), nullable=True),
        sa.Column("closed_by", sa.String(), nullable=True),
        sa.Column("notified", sa.String(16), nullable=True),
        sa.Column("notified_at", sa.Double(), nullable=True),
        sa.Column("audible", sa.Boolean(), nullable=False),
        sa.Column("escalation_policy", sa.String(), nullable=True),
        sa.Column("escalation_step", sa.Integer(), nullable=False),
        sa.Column("sla_ack_breached", sa.Boolean(), nullable=False),
        sa.Column("sla_resolve_breached", sa.Boolean(), nullable=False),
        sa.Column("problem_id", _BigId, sa.ForeignKey("problems.id"), nullable=True),
        sa.Column("change_id", _BigId, sa.ForeignKey("changes.id"), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_incidents_key_state", "incidents", ["key", "state"])
    op.create_index("ix_incidents_state", "incidents", ["state"])
    op.create_table(
        "incident_alerts",
        sa.Column("incident_id", _BigId, sa.ForeignKey("incidents.id"), primary_key=True),
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("item", sa.String(), nullable=False, server_default=""),
        sa.Column("severity", sa.String(16), nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("muted", sa.Text(), nullable=True),
        sa.Column("joined_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_incident_alerts_fingerprint", "incident_alerts", ["fingerprint"])
    op.create_table(
        "incident_events",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", _BigId, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.UniqueConstraint("incident_id", "seq", name="uq_incident_events_seq"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_id", _BigId, sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("receiver", sa.String(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("next_attempt_at", sa.Double(), nullable=False),
        sa.Column("claimed_until", sa.Double(), nullable=True),
        sa.Column("delivered_at", sa.Double(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("idempotency_key", "receiver", name="uq_outbox_key_receiver"),
    )
    op.create_index("ix_outbox_state_next", "outbox", ["state", "next_attempt_at"])
    op.create_table(
        "silences",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.Double(), nullable=False),
        sa.Column("ends_at", sa.Double(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])


def downgrade() -> None:
    for table in (
        "silences",
        "outbox",
        "incident_events",
        "incident_alerts",
        "incidents",
        "changes",
        "problems",
    ):
        op.drop_table(table)
