"""The alerts that stand now, each with everything that keeps it from being notified: what
Alertmanager's `GET /api/v2/alerts` shows (silencedBy, inhibitedBy), from the same mute step
that decides notifications (watchd.pipeline.mute), so amtool and the pipeline never disagree.

    alerts (firing, not ended) ──► MuteView (silences, windows, changes, inhibit rules) ──►
    CurrentAlert(silenced_by, inhibited_by, held: maintenance / change / flapping / topology)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.incidents.model import FLAPPING_REASON
from watchd.incidents.settings import IncidentSettings
from watchd.pipeline.mute import MuteView
from watchd.store.incident_tables import incident_alerts as ia
from watchd.store.tables import alerts as al
from watchd.timestamps import shown_time

TOPOLOGY = "topology"  # a symptom of an UNREACHABLE item: notified with its parent's incident


@dataclass(frozen=True, slots=True)
class CurrentAlert:
    """A firing alert as it stands; `held` says why it is muted other than by a silence or an
    inhibiting alert ("maintenance:NAME", "change:ID", "flapping", "topology"), or None."""

    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float | None
    updated_at: float
    generator_url: str
    silenced_by: tuple[str, ...]
    inhibited_by: tuple[str, ...]
    held: str | None

    @property
    def suppressed(self) -> bool:
        """Whether anything keeps the alert from being notified now."""
        return bool(self.silenced_by or self.inhibited_by or self.held)


async def current_alerts(
    conn: AsyncConnection, now: float, settings: IncidentSettings
) -> list[CurrentAlert]:
    """Every alert firing at `now` (its endsAt, if any, still ahead), oldest first."""
    rows = (
        await conn.execute(
            select(al)
            .where(al.c.status == "firing", or_(al.c.ends_at.is_(None), al.c.ends_at > now))
            .order_by(al.c.first_seen, al.c.fingerprint)
        )
    ).all()
    if not rows:
        return []
    # The newest incident membership of each alert says whether it flaps or is a symptom.
    membership = await conn.execute(
        select(ia.c.fingerprint, ia.c.role, ia.c.muted)
        .join(al, al.c.fingerprint == ia.c.fingerprint)
        .where(al.c.status == "firing")
        .order_by(ia.c.incident_id)
    )
    latest = {m.fingerprint: m for m in membership}
    view = await MuteView.load(conn, now, settings)
    return [_current(r, latest.get(r.fingerprint), view) for r in rows]


def _current(row: Any, member: Any, view: MuteView) -> CurrentAlert:
    labels = dict(row.labels)
    held = view.window(labels)
    if held is None and member is not None:
        if member.muted == FLAPPING_REASON:
            held = FLAPPING_REASON
        elif member.role == "symptom":
            held = TOPOLOGY
    return CurrentAlert(
        fingerprint=row.fingerprint,
        labels=labels,
        annotations=dict(row.annotations),
        starts_at=shown_time(row.starts_at),
        ends_at=None if row.ends_at is None else shown_time(row.ends_at),
        updated_at=row.updated_at,
        generator_url=row.generator_url,
        silenced_by=tuple(view.silenced_by(labels)),
        inhibited_by=tuple(view.inhibited_by(labels)),
        held=held,
    )
