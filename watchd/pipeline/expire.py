"""The expiry stage: external alerts that were not sent again in time resolve themselves.

An alert from outside resolves at its endsAt, or `resolve_timeout` after it was last seen when it
has none (as in Alertmanager). Alerts made inside watchd (checks, rules) resolve only when their
check or rule says so, never by timeout.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.model import INTERNAL_SOURCES, Alert, AlertStatus
from watchd.store.tables import alerts as al


async def stale_alerts(conn: AsyncConnection, now: float, resolve_timeout: float) -> list[Alert]:
    """The firing external alerts that are stale at `now`, as their resolved alerts."""
    rows = await conn.execute(
        select(al).where(
            al.c.status == AlertStatus.FIRING.value,
            al.c.source.not_in(INTERNAL_SOURCES),
            or_(
                and_(al.c.ends_at.is_not(None), al.c.ends_at <= now),
                and_(al.c.ends_at.is_(None), al.c.updated_at <= now - resolve_timeout),
            ),
        )
    )
    return [
        Alert(
            labels=dict(r.labels),
            status=AlertStatus.RESOLVED,
            starts_at=r.starts_at,
            annotations=dict(r.annotations),
            ends_at=r.ends_at if r.ends_at is not None else now,
            source=r.source,
            generator_url=r.generator_url,
        )
        for r in rows
    ]
