"""Availability rollups: per check (series) and per hour or day, the seconds spent in each
state, check counts, failures and latency. They live on the same MetaData as tables.py;
migration 0003 creates them.

Rows carry the series id of tables.rollup_series (one number per item and check). Rollup
tables are WITHOUT ROWID on SQLite: the primary key is the table, which halves their size
(bench/report_month.py).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Double,
    Integer,
    Table,
)

from watchd.store.tables import metadata, rollup_series

__all__ = ["rollup_series", "rollups_daily", "rollups_hourly"]


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
