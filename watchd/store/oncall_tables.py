"""On-call overrides (migration 0012): someone takes a schedule over for a while, recorded with
who did it and why. The schedules themselves are config; watchd.people.overrides reads and
writes these rows. Hand-off notices (migration 0015): one row per shift that brought someone
on call, unique per (schedule, start) so it is sent once across restarts and nodes;
watchd.notify.handoffs writes and delivers them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from watchd.store.tables import metadata

_BigId = BigInteger().with_variant(Integer, "sqlite")

oncall_overrides = Table(
    "oncall_overrides",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("schedule", String(), nullable=False),
    Column("user", String(), nullable=False),
    Column("start", Double, nullable=False),
    Column("end", Double, nullable=False),
    Column("author", String(), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Index("ix_oncall_overrides_schedule_end", "schedule", "end"),
)

handoff_notices = Table(
    "handoff_notices",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("schedule", String(), nullable=False),
    Column("start", Double, nullable=False),
    Column("end", Double, nullable=False),
    Column("user", String(), nullable=False),
    Column("contact", String(), nullable=False),  # "" when no contact of the user can take a notice
    Column("receiver", String(), nullable=False),
    Column("payload", Text, nullable=False),  # the JSON body, written before any attempt
    Column("state", String(), nullable=False),  # pending | delivered | failed | expired
    Column("attempts", Integer, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("next_attempt_at", Double, nullable=False),
    Column("finished_at", Double, nullable=True),
    Column("error", Text, nullable=False),
    UniqueConstraint("schedule", "start", name="uq_handoff_notices_schedule_start"),
    Index("ix_handoff_notices_state_next", "state", "next_attempt_at"),
)
