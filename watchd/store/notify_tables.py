"""Tables of notification delivery: every attempt (deliveries), ticket ids per incident and
receiver (tickets), and grouping timers per notification group (notify_groups). They live on
the same MetaData as tables.py; migration 0004 creates them. No foreign keys: the delivery log
outlives outbox rows and never stands in the way of pruning or truncating incident tables.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from watchd.store.tables import metadata

_BigId = BigInteger().with_variant(Integer, "sqlite")

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("outbox_id", _BigId, nullable=False),
    Column("incident_id", _BigId, nullable=False),
    Column("receiver", String(), nullable=False),
    Column("idempotency_key", String(), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("latency", Double, nullable=False),
    # "delivered", "retry" (will be tried again), "failed" (not retried), "expired"
    Column("status", String(16), nullable=False),
    Column("http_status", Integer, nullable=True),
    Column("response", Text, nullable=True),
    Column("error", Text, nullable=True),
    Index("ix_deliveries_incident", "incident_id"),
    Index("ix_deliveries_started_at", "started_at"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("incident_id", _BigId, primary_key=True),
    Column("receiver", String(), primary_key=True),
    Column("ticket_id", String(), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

notify_groups = Table(
    "notify_groups",
    metadata,
    Column("receiver", String(), primary_key=True),
    Column("group_key", String(), primary_key=True),
    Column("first_at", Double, nullable=False),
    Column("last_sent_at", Double, nullable=True),
    # Whether the last notification of the group told of something firing: a group that only
    # told of resolutions starts over with group_wait, as Alertmanager's would.
    Column("firing", Boolean, nullable=False),
)
