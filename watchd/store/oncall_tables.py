"""On-call overrides (migration 0012): someone takes a schedule over for a while, recorded with
who did it and why. The schedules themselves are config; watchd.people.overrides reads and
writes these rows."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Double, Index, Integer, String, Table, Text

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
