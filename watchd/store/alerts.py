"""Alerts stored by fingerprint: repeats update the row, first_seen keeps the first arrival."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.model import Alert, AlertStatus
from watchd.store.tables import alerts as t
from watchd.store.upsert import upsert

_UPDATED = (
    "labels",
    "annotations",
    "status",
    "starts_at",
    "ends_at",
    "source",
    "generator_url",
    "updated_at",
)


async def upsert_alerts(conn: AsyncConnection, alerts: Sequence[Alert], now: float) -> None:
    """Insert or update each alert by fingerprint (the caller owns the transaction).

    Within one call the last alert of a fingerprint wins, as if they had come one by one.
    """
    latest = {alert.fingerprint: alert for alert in alerts}
    if not latest:
        return
    rows = [
        {
            "fingerprint": fp,
            "labels": dict(a.labels),
            "annotations": dict(a.annotations),
            "status": a.status.value,
            "starts_at": a.starts_at,
            "ends_at": a.ends_at,
            "source": a.source,
            "generator_url": a.generator_url,
            "first_seen": now,
            "updated_at": now,
        }
        for fp, a in latest.items()
    ]
    await conn.execute(upsert(conn.dialect.name, t, ("fingerprint",), _UPDATED), rows)


async def select_alerts(conn: AsyncConnection, status: str | None) -> list[Alert]:
    """Stored alerts, optionally only those with `status`, in order of first arrival."""
    query = select(
        t.c.labels,
        t.c.status,
        t.c.starts_at,
        t.c.annotations,
        t.c.ends_at,
        t.c.source,
        t.c.generator_url,
    )
    if status is not None:
        query = query.where(t.c.status == status)
    result = await conn.execute(query.order_by(t.c.first_seen, t.c.fingerprint))
    return [
        Alert(
            labels=labels,
            status=AlertStatus(st),
            starts_at=starts_at,
            annotations=annotations,
            ends_at=ends_at,
            source=source,
            generator_url=url,
        )
        for labels, st, starts_at, annotations, ends_at, source, url in result
    ]
