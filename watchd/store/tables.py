"""The schema as SQLAlchemy Core tables; the Alembic migrations create exactly this.

Times are epoch seconds in double precision, like every time in watchd.model. JSON columns
use the portable JSON type (json on PostgreSQL, text on SQLite).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

metadata = MetaData()

# SQLite makes an INTEGER PRIMARY KEY the rowid (autoincrementing); BIGINT would not be.
_BigId = BigInteger().with_variant(Integer, "sqlite")

samples = Table(
    "samples",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("item", String(), nullable=False),
    Column("check", String(), nullable=False),
    Column("time", Double, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("latency", Double, nullable=True),
    Column("message", Text, nullable=False, server_default=""),
    Index("ix_samples_item_check_time", "item", "check", "time"),
    Index("ix_samples_time", "time"),
)

states = Table(
    "states",
    metadata,
    Column("namespace", String(), primary_key=True),
    Column("key", String(), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("updated_at", Double, nullable=False),
)

alerts = Table(
    "alerts",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("labels", JSON, nullable=False),
    Column("annotations", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("starts_at", Double, nullable=False),
    Column("ends_at", Double, nullable=True),
    Column("source", String(), nullable=False),
    Column("generator_url", Text, nullable=False, server_default=""),
    Column("first_seen", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Index("ix_alerts_status", "status"),
)
