"""Availability rollups: per check (series) and per hour or day, the seconds spent in each
state, check counts, failures and latency. They live on the same MetaData as tables.py;
migration 0003 creates them.

A daily row's day is the span of its `start` in rollup_days (migration 0016): days are cut at
local midnight of `[daemon] timezone` as it was when the day was rolled up, so they are 23, 24
or 25 hours long, and the first day after a zone change runs from the last day's end to the
next midnight of the new zone.

Rows carry the series id of tables.rollup_series (one number per item and check). Rollup
tables are WITHOUT ROWID on SQLite: the primary key is the table, which halves their size
(bench/report_month.py).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Double,
    Integer,
    String,
    Table,
)

from watchd.store.tables import metadata, rollup_series

__all__ = ["rollup_days", "rollup_series", "rollups_daily", "rollups_hourly"]


def _rollup_table(name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("series_id", Integer, primary_key=True, autoincrement=False),
        Column("start", Double, primary_key=True),
        Column("up", Double, nullable=False),
        Column("down", Double, nullable=False),
        Column("unknown", Double, nullable=False),
        Column("maintenance", Double, nullable=False),
        Column("unmonitored", Double, nullable=False),
        Column("checks", Integer, nullable=False),
        Column("failures", Integer, nullable=False),
        Column("latency_sum", Double, nullable=False),
        Column("latency_count", Integer, nullable=False),
        Column("latency_max", Double, nullable=True),
        # Hourly: the 95th percentile of the hour's latencies. Daily: the worst hourly p95.
        Column("latency_p95", Double, nullable=True),
        sqlite_with_rowid=False,
    )


rollups_hourly = _rollup_table("rollups_hourly")
rollups_daily = _rollup_table("rollups_daily")

# One row per rolled-up day: [start, end) and the IANA zone whose midnights cut it.
rollup_days = Table(
    "rollup_days",
    metadata,
    Column("start", Double, primary_key=True, autoincrement=False),
    Column("end", Double, nullable=False),
    Column("zone", String, nullable=False),
)
