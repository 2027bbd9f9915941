"""Availability samples: the value type and the queries that write, read and prune them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Insert, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.store.series import Key, series_ids
from watchd.store.tables import rollup_series as series
from watchd.store.tables import samples as t

# Retention deletes in chunks so no single transaction holds SQLite's write lock for long.
PRUNE_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class AvailabilitySample:
    """One check run: which item and check, when (epoch seconds), the status and how long it took.

    `status` is a watchd.model.Status value (0..3); `latency` is None when the check gave none.
    `message` is stored for runs that were not OK only, and reads back empty otherwise.
    `node` is read back only: the cluster node that polled it, which its writer stamps (None
    on a single node).
    """

    item: str
    check: str
    time: float
    status: int
    latency: float | None
    message: str = ""
    node: str | None = None


async def insert_samples(
    conn: AsyncConnection,
    batch: Sequence[AvailabilitySample],
    known: Mapping[Key, int] | None = None,
    node: str | None = None,
) -> dict[Key, int]:
    """Insert `batch` with one executemany on `conn` (the caller owns the transaction).

    `known` are series ids the caller has seen committed; the others are looked up or created
    in this transaction and returned, for the caller to remember once it has committed.
    `node` (the cluster node that polled them all) goes on every row; None leaves it NULL.
    """
    known = known or {}
    missing = {(str(s.item), str(s.check)) for s in batch} - known.keys()
    created = await series_ids(conn, missing) if missing else {}
    ids = {**known, **created}
    # Coerced here because asyncpg rejects e.g. an int for a double column, and one sample the
    # driver refuses would otherwise block its whole batch in the queue for good.
    rows = [
        {
            "time": float(s.time),
            "series_id": ids[(str(s.item), str(s.check))],
            "status": int(s.status),
            "latency": None if s.latency is None else float(s.latency),
            "message": str(s.message) if s.status != 0 and s.message else None,
        }
        for s in batch
    ]
    if node is not None:
        for row in rows:
            row["node"] = node
    # A second sample of one check at the very same time is the same run: keep the first.
    await conn.execute(_insert_ignore(conn.dialect.name), rows)
    return created


def _insert_ignore(dialect: str) -> Insert:
    if dialect == "postgresql":
        return postgresql.insert(t).on_conflict_do_nothing()
    return sqlite.insert(t).on_conflict_do_nothing()


async def select_samples(
    conn: AsyncConnection,
    *,
    item: str | None,
    check: str | None,
    since: float | None,
    until: float | None,
    limit: int | None,
) -> list[AvailabilitySample]:
    """Samples matching every given filter (`since` inclusive, `until` exclusive), oldest first."""
    query = select(
        series.c.item, series.c.check, t.c.time, t.c.status, t.c.latency, t.c.message, t.c.node
    ).select_from(t.join(series, series.c.id == t.c.series_id))
    if item is not None:
        query = query.where(series.c.item == item)
    if check is not None:
        query = query.where(series.c.check == check)
    if since is not None:
        query = query.where(t.c.time >= since)
    if until is not None:
        query = query.where(t.c.time < until)
    query = query.order_by(t.c.time, t.c.series_id)
    if limit is not None:
        query = query.limit(limit)
    result = await conn.execute(query)
    return [
        AvailabilitySample(item, check, time, status, latency, message or "", node)
        for item, check, time, status, latency, message, node in result
    ]


async def count_samples(conn: AsyncConnection) -> int:
    """How many samples are stored."""
    return int((await conn.execute(select(func.count()).select_from(t))).scalar_one())


async def prune_chunk(conn: AsyncConnection, older_than: float) -> int:
    """Delete up to about PRUNE_CHUNK samples older than `older_than`; return how many went.

    The table is ordered by time, so a chunk is a time range: everything before the time of
    the PRUNE_CHUNK-th oldest sample (or before `older_than` when fewer are left).
    """
    boundary = (
        await conn.execute(
            select(t.c.time)
            .where(t.c.time < older_than)
            .order_by(t.c.time)
            .offset(PRUNE_CHUNK)
            .limit(1)
        )
    ).scalar()
    cut = older_than if boundary is None else float(boundary)
    result = await conn.execute(delete(t).where(t.c.time < cut))
    return int(result.rowcount)
