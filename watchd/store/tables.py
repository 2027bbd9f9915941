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
    UniqueConstraint,
    literal_column,
)

from watchd.model import INTERNAL_SOURCES

metadata = MetaData()

# SQLite makes an INTEGER PRIMARY KEY the rowid (autoincrementing); BIGINT would not be.
_BigId = BigInteger().with_variant(Integer, "sqlite")

# A series is one (item, check) pair, numbered once: samples and rollups carry the small
# integer instead of two strings. (The table's name predates its use by samples.)
rollup_series = Table(
    "rollup_series",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("item", String(), nullable=False),
    Column("check", String(), nullable=False),
    UniqueConstraint("item", "check", name="uq_rollup_series_item_check"),
)

# One row per check run. The primary key (time, series_id) is the table itself on SQLite
# (WITHOUT ROWID): time ranges (rollups, retention) are range scans and no other index is
# needed, about 30 bytes a sample instead of 92 with strings and two indexes. The message is
# kept for runs that were not OK only: the reason of a failure is worth keeping, "200 in
# 12 ms" is not.
samples = Table(
    "samples",
    metadata,
    Column("time", Double, primary_key=True),
    Column("series_id", Integer, primary_key=True, autoincrement=False),
    Column("status", SmallInteger, nullable=False),
    Column("latency", Double, nullable=True),
    Column("message", Text, nullable=True),
    # The cluster node that polled it; NULL where one node does all the polling (SQLite).
    Column("node", String(), nullable=True),
    sqlite_with_rowid=False,
)

states = Table(
    "states",
    metadata,
    Column("namespace", String(), primary_key=True),
    Column("key", String(), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("updated_at", Double, nullable=False),
    # "item/check" of the check a state belongs to (a check's state, a rule series fed by
    # it), so a cluster node taking checks over loads just theirs.
    Column("check_key", String(), nullable=True),
    Index("ix_states_namespace_check_key", "namespace", "check_key"),
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

# Alerts made inside watchd, with the sources written out: SQLite uses a partial index only
# for a query that repeats the index's condition, literally; the sweep's query and the index
# below (migration 0020) both use this one.
INTERNAL_SOURCE = alerts.c.source.in_([literal_column(f"'{s}'") for s in sorted(INTERNAL_SOURCES)])
Index(
    "ix_alerts_internal",
    alerts.c.fingerprint,
    sqlite_where=INTERNAL_SOURCE,
    postgresql_where=INTERNAL_SOURCE,
)
