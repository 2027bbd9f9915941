"""The expiry stage: alerts from outside that were not sent again before their end resolve.

An Alertmanager alert has an end (its endsAt, or `resolve_timeout` after it was last posted,
computed at ingestion as Alertmanager does), and resolves then unless it is sent again. An event,
a trap or an MQTT message without an end stands for a state change, as Nagios and Zabbix send
them: it holds until its resolved event (a trap rule's `ttl` gives a trap an end). Alerts made
inside watchd (checks, rules) resolve only when their check or rule says so.

Many alerts may end at once (a Prometheus that went away leaves all of its alerts to expire),
so the pipeline finds them with a read (`stale_fingerprints`, no write lock), puts those of one
incident next to each other (`by_incident`) and resolves them a chunk per transaction, re-reading
each chunk under the lock (`stale_alerts`): an alert sent again meanwhile is no longer stale and
stays firing.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.model import INTERNAL_SOURCES, Alert, AlertStatus
from watchd.store.incident_tables import incident_alerts as ia
from watchd.store.members import bound_values, one_of
from watchd.store.tables import alerts as al

_STALE = (
    al.c.status == AlertStatus.FIRING.value,
    al.c.source.not_in(INTERNAL_SOURCES),
    al.c.ends_at.is_not(None),
)


async def stale_fingerprints(conn: AsyncConnection, now: float, limit: int) -> list[str]:
    """The fingerprints of the firing external alerts whose end has passed at `now`, oldest
    end first, `limit` at most."""
    rows = await conn.execute(
        select(al.c.fingerprint)
        .where(*_STALE, al.c.ends_at <= now)
        .order_by(al.c.ends_at, al.c.fingerprint)
        .limit(limit)
    )
    return list(rows.scalars())


async def by_incident(conn: AsyncConnection, fingerprints: Sequence[str]) -> list[str]:
    """`fingerprints` with those of one incident next to each other (by the lowest id of the
    incidents holding each; those in none last), otherwise in their order.

    A chunk then resolves the alerts of one or two incidents instead of one alert of each of
    200: settling an incident costs as much as resolving dozens of its alerts (100,000 alerts
    of 1,000 incidents expired at ~200 alerts/s in fingerprint order)."""
    dialect = conn.dialect.name
    rows = await conn.execute(
        _first_incidents(dialect), {"fingerprints": bound_values(dialect, fingerprints)}
    )
    incident_of: dict[str, int] = {fp: incident_id for fp, incident_id in rows}
    position = {fp: i for i, fp in enumerate(fingerprints)}
    return sorted(fingerprints, key=lambda fp: (incident_of.get(fp, _NONE), position[fp]))


_NONE = 2**63  # above any incident id


@cache
def _first_incidents(dialect: str) -> Select[Any]:
    return (
        select(ia.c.fingerprint, func.min(ia.c.incident_id))
        .where(one_of(dialect, ia.c.fingerprint, "fingerprints"))
        .group_by(ia.c.fingerprint)
    )


async def stale_alerts(
    conn: AsyncConnection, now: float, fingerprints: Sequence[str]
) -> list[Alert]:
    """Those of `fingerprints` still firing with their end passed at `now`, as their resolved
    alerts, in the order of `fingerprints`."""
    rows = await conn.execute(
        select(al).where(*_STALE, al.c.ends_at <= now, al.c.fingerprint.in_(fingerprints))
    )
    stale = {
        r.fingerprint: Alert(
            labels=dict(r.labels),
            status=AlertStatus.RESOLVED,
            starts_at=r.starts_at,
            annotations=dict(r.annotations),
            ends_at=r.ends_at,
            source=r.source,
            generator_url=r.generator_url,
        )
        for r in rows
    }
    return [stale[fp] for fp in fingerprints if fp in stale]
