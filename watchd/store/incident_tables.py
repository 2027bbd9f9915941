"""Tables of the incident core: incidents, their alerts and timeline, the outbox, silences,
problems and changes. They live on the same MetaData as tables.py; migration 0002 creates them.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from watchd.store.tables import metadata

_BigId = BigInteger().with_variant(Integer, "sqlite")

problems = Table(
    "problems",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("key", String(), nullable=False),
    Column("title", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("opened_at", Double, nullable=False),
    Column("closed_at", Double, nullable=True),
    Column("closed_by", String(), nullable=True),
    Column("resolution", Text, nullable=True),  # the closer's comment: what was done about it
    Index("ix_problems_key_state", "key", "state"),
)

changes = Table(
    "changes",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("item", String(), nullable=False),
    Column("summary", Text, nullable=False),
    Column("starts_at", Double, nullable=False),
    Column("ends_at", Double, nullable=False),
    Column("ticket", String(), nullable=False, server_default=""),
    Column("created_by", String(), nullable=False),
    Column("created_at", Double, nullable=False),
    Index("ix_changes_ends_at", "ends_at"),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("key", String(), nullable=False),
    Column("group_labels", JSON, nullable=False),
    Column("title", Text, nullable=False),
    Column("item", String(), nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("opened_at", Double, nullable=False),
    Column("acknowledged_at", Double, nullable=True),
    Column("acknowledged_by", String(), nullable=True),
    Column("resolved_at", Double, nullable=True),
    Column("resolved_by", String(), nullable=True),
    Column("closed_at", Double, nullable=True),
    Column("closed_by", String(), nullable=True),
    # What receivers were last told: NULL (nothing), "firing" or "resolved".
    Column("notified", String(16), nullable=True),
    Column("notified_at", Double, nullable=True),
    Column("audible", Boolean, nullable=False),
    Column("escalation_policy", String(), nullable=True),
    Column("escalation_step", Integer, nullable=False),
    # When the running policy's step delays started: the first notification, an unack, or a
    # change of severity that picked another policy. NULL on rows from before 0007: notified_at.
    Column("escalation_from", Double, nullable=True),
    Column("sla_ack_breached", Boolean, nullable=False),
    Column("sla_resolve_breached", Boolean, nullable=False),
    # The SLA clocks pause while the incident is muted: since when it is (NULL: it is not) and
    # the seconds of its earlier mutes.
    Column("muted_since", Double, nullable=True),
    Column("muted_seconds", Double, nullable=False, server_default="0"),
    Column("problem_id", _BigId, ForeignKey("problems.id"), nullable=True),
    Column("change_id", _BigId, ForeignKey("changes.id"), nullable=True),
    Column("updated_at", Double, nullable=False),
    Index("ix_incidents_key_state", "key", "state"),
    Index("ix_incidents_state", "state"),
)

AWAITING_RECHECK = "recheck"

incident_alerts = Table(
    "incident_alerts",
    metadata,
    Column("incident_id", _BigId, ForeignKey("incidents.id"), primary_key=True),
    Column("fingerprint", String(64), primary_key=True),
    # "member": the incident's own alert; "symptom": an alert of an UNREACHABLE child item.
    Column("role", String(16), nullable=False),
    Column("item", String(), nullable=False, server_default=""),
    Column("severity", String(16), nullable=False, server_default=""),
    # "firing", "resolved", or AWAITING_RECHECK: a symptom whose item is reachable again,
    # muted until a fresh result of its check still fails (see pipeline/correlate.py).
    Column("status", String(16), nullable=False),
    # Why the alert is not notified right now, e.g. "silence:3f2a...", "maintenance:backup".
    Column("muted", Text, nullable=True),
    Column("joined_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    # With the status: ingestion's "is it a member, does it await a recheck" per alert is
    # answered from the index alone (migration 0018).
    Index("ix_incident_alerts_fingerprint_status", "fingerprint", "status"),
    # An incident's members in the groups settling counts (role, status, severity, mute):
    # counted from the index alone, in order, without reading the rows (migration 0019).
    Index("ix_incident_alerts_groups", "incident_id", "role", "status", "severity", "muted"),
)

# The members muted now: the few a sweep reads when nothing but flapping can mute (migration
# 0020), instead of every member of every active incident.
Index(
    "ix_incident_alerts_muted",
    incident_alerts.c.incident_id,
    incident_alerts.c.fingerprint,
    sqlite_where=incident_alerts.c.muted.is_not(None),
    postgresql_where=incident_alerts.c.muted.is_not(None),
)

incident_events = Table(
    "incident_events",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("incident_id", _BigId, ForeignKey("incidents.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("time", Double, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("actor", String(), nullable=False),
    Column("detail", JSON, nullable=False),
    UniqueConstraint("incident_id", "seq", name="uq_incident_events_seq"),
)


class OutboxState(StrEnum):
    """An outbox row's `state` column (the stored text is the value)."""

    PENDING = "pending"
    DELIVERING = "delivering"  # leased until claimed_until
    DELIVERED = "delivered"
    SKIPPED = "skipped"  # not sent: send_resolved = false
    FAILED = "failed"  # refused (4xx), not retried
    EXPIRED = "expired"  # not delivered within the receiver's max_age


outbox = Table(
    "outbox",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("incident_id", _BigId, ForeignKey("incidents.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("idempotency_key", String(), nullable=False),
    Column("receiver", String(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("next_attempt_at", Double, nullable=False),
    Column("claimed_until", Double, nullable=True),
    Column("delivered_at", Double, nullable=True),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("idempotency_key", "receiver", name="uq_outbox_key_receiver"),
    Index("ix_outbox_state_next", "state", "next_attempt_at"),
)

# The later contacts of people an escalation step paged (a user's "SMS after 5 minutes"),
# waiting for their time: sent then if the incident is still open, audible and its escalation
# has not started over since (`since` is the time its step delays counted from), else
# dropped. Rows live minutes, so no foreign key holds incidents back.
escalation_pages = Table(
    "escalation_pages",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("incident_id", _BigId, nullable=False),
    Column("since", Double, nullable=False),
    Column("policy", String(), nullable=False),
    Column("step", Integer, nullable=False),  # the step taken, from 0 across rounds
    Column("user", String(), nullable=False),
    Column("contact", String(), nullable=False),
    Column("after", Double, nullable=False),  # seconds after the step
    Column("due_at", Double, nullable=False),
    Index("ix_escalation_pages_due_at", "due_at"),
)

silences = Table(
    "silences",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("matchers", JSON, nullable=False),
    Column("starts_at", Double, nullable=False),
    Column("ends_at", Double, nullable=False),
    Column("created_by", String(), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Index("ix_silences_ends_at", "ends_at"),
)
