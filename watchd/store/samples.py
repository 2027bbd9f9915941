"""Availability samples: the value type and the queries that write, read and prune them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.store.tables import samples as t

# Retention deletes in chunks so no single transaction holds SQLite's write lock for long.
PRUNE_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class AvailabilitySample:
    """One check run: which item and check, when (epoch seconds), the status and how long it took.

    `status` is a watchd.model.Status value (0..3); `latency` is None when the check gave none.
    """

    item: str
    check: str
    time: float
    status: int
    latency: float | None
    message: str = ""


async def insert_samples(conn: AsyncConnection, batch: Sequence[AvailabilitySample]) -> None:
    """Insert `batch` with one executemany on `conn` (the caller owns the transaction)."""
    # Coerced here because asyncpg rejects e.g. an int for a double column, and one sample the
    # driver refuses would otherwise block its whole batch in the queue for good.
    rows = [
        {
            "item": str(s.item),
            "check": str(s.check),
            "time": float(s.time),
            "status": int(s.status),
            "latency": None if s.latency is None else float(s.latency),
            "message": str(s.message),
        }
        for s in batch
    ]
    await conn.execute(insert(t), rows)


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
    query = select(t.c.item, t.c.check, t.c.time, t.c.status, t.c.latency, t.c.message)
    if item is not None:
        query = query.where(t.c.item == item)
    if check is not None:
        query = query.where(t.c.check == check)
    if since is not None:
        query = query.where(t.c.time >= since)
    if until is not None:
        query = query.where(t.c.time < until)
    query = query.order_by(t.c.time, t.c.id)
    if limit is not None:
        query = query.limit(limit)
    result = await conn.execute(query)
    return [AvailabilitySample(*row) for row in result]


async def count_samples(conn: AsyncConnection) -> int:
    """How many samples are stored."""
    return int((await conn.execute(select(func.count()).select_from(t))).scalar_one())


async def prune_chunk(conn: AsyncConnection, older_than: float) -> int:
    """Delete up to PRUNE_CHUNK samples older than `older_than`; return how many went."""
    ids = select(t.c.id).where(t.c.time < older_than).limit(PRUNE_CHUNK).scalar_subquery()
    result = await conn.execute(delete(t).where(t.c.id.in_(ids)))
    return int(result.rowcount)
