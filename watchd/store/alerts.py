"""Alerts stored by fingerprint: repeats update the row, first_seen keeps the first arrival."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.model import Alert, AlertStatus
from watchd.store.incident_tables import incident_alerts as members
from watchd.store.tables import alerts as t
from watchd.store.upsert import upsert

# Fingerprints per IN list: well below the bound-parameter limits of SQLite and asyncpg.
_IN_LIST = 5_000

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


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """What the store holds of an alert, to tell a plain repeat from a change."""

    status: str
    starts_at: float
    annotations: Mapping[str, Any]
    generator_url: str
    source: str
    attached: bool  # a member or symptom of some incident, open or not

    def repeated_by(self, alert: Alert) -> bool:
        """Whether `alert` says nothing new but its end and that it was seen again."""
        return (
            self.status == alert.status.value
            and self.starts_at == alert.starts_at
            and self.annotations == alert.annotations
            and self.generator_url == alert.generator_url
            and self.source == alert.source
        )


async def stored_alerts(
    conn: AsyncConnection, fingerprints: Sequence[str]
) -> dict[str, StoredAlert]:
    """The stored state of the alerts with these fingerprints (those never seen are absent)."""
    attached = exists().where(members.c.fingerprint == t.c.fingerprint)
    found: dict[str, StoredAlert] = {}
    for part in _parts(fingerprints):
        rows = await conn.execute(
            select(
                t.c.fingerprint,
                t.c.status,
                t.c.starts_at,
                t.c.annotations,
                t.c.generator_url,
                t.c.source,
                attached,
            ).where(t.c.fingerprint.in_(part))
        )
        for fp, *state in rows:
            found[fp] = StoredAlert(*state)
    return found


async def refresh_alerts(
    conn: AsyncConnection, ends: Mapping[float | None, Sequence[str]], now: float
) -> None:
    """Mark repeated alerts seen at `now` with their new end: `ends` maps end → fingerprints.

    A sender repeats a whole batch with one endsAt, so this is one UPDATE per batch instead
    of rewriting every row with its labels and annotations.
    """
    for ends_at, fingerprints in ends.items():
        for part in _parts(fingerprints):
            await conn.execute(
                update(t).where(t.c.fingerprint.in_(part)).values(ends_at=ends_at, updated_at=now)
            )


def _parts(fingerprints: Sequence[str]) -> Iterator[Sequence[str]]:
    for first in range(0, len(fingerprints), _IN_LIST):
        yield fingerprints[first : first + _IN_LIST]


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
