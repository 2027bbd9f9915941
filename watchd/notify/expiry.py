"""Expiry: rows that waited longer than their receiver's max_age are given up on, with a
delivery log row, a timeline event, a log line and the receiver's self-alert."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.incidents.settings import IncidentSettings
from watchd.logging import get_logger
from watchd.notify.attempt import expired
from watchd.notify.health import ReceiverHealth
from watchd.notify.outbox import Row
from watchd.notify.receivers import AnyReceiver
from watchd.notify.record import record_expired

log = get_logger("watchd.notify")


async def expire(
    engine: AsyncEngine,
    settings: IncidentSettings,
    rows: Sequence[Row],
    configs: Mapping[str, AnyReceiver],
    health: ReceiverHealth,
    now: float,
) -> None:
    """Give up on `rows` (the planner found them too old), one receiver at a time."""
    for name in sorted({r.receiver for r in rows}):
        mine = [r for r in rows if r.receiver == name]
        reason = f"not delivered within max_age ({configs[name].max_age:.0f}s)"
        await record_expired(engine, settings, [expired(r, now, reason) for r in mine], now)
        log.warning("notifications_expired", receiver=name, count=len(mine))
        await health.gave_up(name, min(r.created_at for r in mine), now, reason)
