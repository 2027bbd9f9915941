"""The alerts that stand now, each with everything that keeps it from being notified: what
Alertmanager's `GET /api/v2/alerts` shows (silencedBy, inhibitedBy), from the same mute step
that decides notifications (watchd.pipeline.mute), so amtool and the pipeline never disagree.

    alerts (firing, not ended) ──► MuteView (silences, windows, changes, inhibit rules) ──►
    CurrentAlert(silenced_by, inhibited_by, held: maintenance / change / flapping / topology)
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping
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

CHUNK = 250  # alerts read and judged at a time: about 15 ms of CPU between the loop's turns
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

    @property
    def silenced_entries(self) -> tuple[str, ...]:
        """What silences the alert, as Alertmanager's `silencedBy` lists it: the silences'
        IDs, then what else holds it back for a while ("maintenance:NAME", "change:ID",
        "flapping"), which Alertmanager has no field of its own for."""
        held = () if self.held in (None, TOPOLOGY) else (self.held,)
        return (*self.silenced_by, *held)

    @property
    def inhibited_entries(self) -> tuple[str, ...]:
        """What inhibits the alert, as Alertmanager's `inhibitedBy`: the inhibiting alerts'
        fingerprints, then "topology" for a symptom of an UNREACHABLE item (its parent's
        down alert inhibits it)."""
        held = (TOPOLOGY,) if self.held == TOPOLOGY else ()
        return (*self.inhibited_by, *held)


async def current_alerts(
    conn: AsyncConnection,
    now: float,
    settings: IncidentSettings,
    *,
    labels_match: Callable[[Mapping[str, str]], bool] = lambda _: True,
) -> AsyncGenerator[list[CurrentAlert], None]:
    """Every alert firing at `now` (its endsAt, if any, still ahead) whose labels pass
    `labels_match`, oldest first, CHUNK rows read at a time: the event loop runs between
    chunks, so a list of 100,000 alerts never stalls it, and a caller that has enough stops."""
    view = await MuteView.load(conn, now, settings)
    query = (
        select(al)
        .where(al.c.status == "firing", or_(al.c.ends_at.is_(None), al.c.ends_at > now))
        .order_by(al.c.first_seen, al.c.fingerprint)
    )
    # One query, its rows fetched a chunk at a time (a server-side cursor on PostgreSQL).
    result = await conn.stream(query.execution_options(yield_per=CHUNK))
    async for rows in result.partitions(CHUNK):
        kept = [r for r in rows if labels_match(r.labels)]
        if not kept:
            continue
        # The newest incident membership of each alert says whether it flaps or is a symptom.
        membership = await conn.execute(
            select(ia.c.fingerprint, ia.c.role, ia.c.muted)
            .where(ia.c.fingerprint.in_([r.fingerprint for r in kept]))
            .order_by(ia.c.incident_id)
        )
        latest = {m.fingerprint: m for m in membership}
        yield [_current(r, latest.get(r.fingerprint), view) for r in kept]


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
