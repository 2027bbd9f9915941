"""repeat_interval: open, audible, notified incidents whose notification group was last
notified longer than their route's repeat_interval ago are notified again ("repeated")."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watchd.incidents.ledger import (
    IncidentNotFound,
    Ledger,
    incident_from_row,
    routing_alert_labels,
)
from watchd.incidents.model import Incident, State
from watchd.incidents.settings import IncidentSettings
from watchd.notify import outbox
from watchd.notify.outbox import Group
from watchd.notify.router import Route, Router, routing_labels
from watchd.store.engine import reading, transact
from watchd.store.incident_tables import incidents as inc

Pair = tuple[int, str]  # (incident id, receiver name)


def wanted_groups(
    incidents: Sequence[Incident],
    alert_labels: Mapping[int, Sequence[Mapping[str, str]]],
    router: Router,
    receivers: Collection[str],
    busy: Collection[Pair],
) -> dict[tuple[str, str], list[tuple[int, Route]]]:
    """The groups (receiver, group key) the incidents (whose member alerts carry
    `alert_labels`) would repeat to, with their members: routes with a repeat_interval,
    receivers configured, and no notification to the same receiver still in the outbox
    (`busy`)."""
    wanted: dict[tuple[str, str], list[tuple[int, Route]]] = {}
    for incident in incidents:
        label_sets = routing_labels(
            incident.group_labels,
            incident.severity,
            incident.item,
            alert_labels.get(incident.id, ()),
        )
        for route, labels in router.routes(label_sets):
            if route.repeat_interval <= 0:
                continue
            for name in route.receivers:
                if (incident.id, name) in busy or name not in receivers:
                    continue
                key = route.group_key(labels, incident.key)
                wanted.setdefault((name, key), []).append((incident.id, route))
    return wanted


def due_repeats(
    wanted: Mapping[tuple[str, str], list[tuple[int, Route]]],
    groups: Mapping[tuple[str, str], Group],
    now: float,
) -> dict[int, list[str]]:
    """Receiver names per incident whose firing group was last notified a repeat_interval ago."""
    due: dict[int, list[str]] = {}
    for (name, key), members in wanted.items():
        group = groups.get((name, key))
        if group is None or group.last_sent_at is None or not group.firing:
            continue
        for incident_id, route in members:
            if group.last_sent_at + route.repeat_interval <= now:
                due.setdefault(incident_id, []).append(name)
    return due


async def repeat(
    engine: AsyncEngine,
    settings: IncidentSettings,
    router: Router,
    receivers: Collection[str],
    busy: Collection[Pair],
    now: float,
) -> set[Pair]:
    """Write the repeated notifications that are due; return the (incident, receiver) pairs
    that now have one in the outbox."""
    query = select(inc).where(
        inc.c.state == State.OPEN.value, inc.c.audible.is_(True), inc.c.notified == "firing"
    )
    async with reading(engine, "read incidents to repeat", full_reason=True) as conn:
        incidents = [incident_from_row(r) for r in await conn.execute(query)]
        alert_labels = await routing_alert_labels(conn, {i.id for i in incidents})
    wanted = wanted_groups(incidents, alert_labels, router, receivers, busy)
    due = due_repeats(wanted, await outbox.load_groups(engine, wanted), now)
    written: set[Pair] = set()
    for incident_id, names in due.items():
        try:
            await transact(
                engine,
                "write repeated notifications",
                partial(_repeat_one, settings, now, incident_id, sorted(set(names))),
                full_reason=True,
            )
        except IncidentNotFound:
            continue
        written.update((incident_id, n) for n in names)
    return written


async def _repeat_one(
    settings: IncidentSettings,
    now: float,
    incident_id: int,
    names: list[str],
    conn: AsyncConnection,
) -> None:
    ledger = Ledger(conn, now, settings)
    incident = await ledger.load(incident_id)
    if incident.state is State.OPEN:
        await ledger.notify(incident, "repeated", {}, receivers=names)
