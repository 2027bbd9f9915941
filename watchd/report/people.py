"""The report's people section: MTTA and MTTR per person and per team (who acknowledged, who
resolved), and each person's paging load (pages, and night pages in their own time zone).

    incidents opened in the period ─► acknowledged_by / resolved_by ─► the person it names
    notification events of the period ─► "pages": [{user, ...}] ─► pages, night pages

Actions are recorded as text ("Alice Li (alice)", "Alice Li (alice) via token laptop",
"alice via token ops"): the part before " via " names the person, by label or user name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.report.metrics import IncidentRow
from watchd.store.incident_tables import incident_events as ev
from watchd.store.incident_tables import incidents as inc

NIGHT_FROM, NIGHT_TO = 22, 7  # a page from 22:00 to 06:59, the person's local time, is at night


@dataclass(frozen=True, slots=True)
class Person:
    """A configured user as reports see them."""

    name: str
    label: str  # "Alice Li (alice)", or the name
    timezone: str = "UTC"
    teams: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PageRow:
    """A person paged at `at` about an incident on `item`."""

    at: float
    user: str
    item: str


async def load_pages(conn: AsyncConnection, start: float, end: float) -> list[PageRow]:
    """The people paged in [start, end): once per notification event and person, however many
    of their contacts it used."""
    query = (
        select(ev.c.time, ev.c.detail, inc.c.item)
        .select_from(ev.join(inc, inc.c.id == ev.c.incident_id))
        .where(ev.c.kind == "notification", ev.c.time >= start, ev.c.time < end)
        .order_by(ev.c.time)
    )
    rows = []
    for at, detail, item in await conn.execute(query):
        pages = detail.get("pages") if isinstance(detail, dict) else None
        users = {str(p.get("user")) for p in pages or () if isinstance(p, dict) and p.get("user")}
        rows += [PageRow(float(at), user, str(item)) for user in sorted(users)]
    return rows


def night(at: float, zone: str) -> bool:
    """Whether `at` is at night (NIGHT_FROM to NIGHT_TO) in `zone`."""
    hour = datetime.fromtimestamp(at, ZoneInfo(zone)).hour
    return hour >= NIGHT_FROM or hour < NIGHT_TO


def _who(actor: str | None, people: Sequence[Person]) -> str | None:
    """The user name of the person an actor's text names, or None."""
    if not actor:
        return None
    named = actor.split(" via ", 1)[0]
    return next((p.name for p in people if named in (p.label, p.name)), None)


def _r(value: float) -> float:
    return round(value, 3)


def _figures(
    incidents: Iterable[IncidentRow],
    pages: Iterable[PageRow],
    users: set[str],
    people: Sequence[Person],
    zones: dict[str, str],
) -> dict[str, Any]:
    acks: list[float] = []
    fixes: list[float] = []
    for r in incidents:
        if r.acknowledged_at is not None and _who(r.acknowledged_by, people) in users:
            acks.append(r.acknowledged_at - r.opened_at)
        if r.resolved_at is not None and _who(r.resolved_by, people) in users:
            fixes.append(r.resolved_at - r.opened_at)
    paged = [p for p in pages if p.user in users]
    return {
        "acknowledged": len(acks),
        "mtta_seconds": _r(fmean(acks)) if acks else None,
        "resolved": len(fixes),
        "mttr_seconds": _r(fmean(fixes)) if fixes else None,
        "pages": len(paged),
        "night_pages": sum(1 for p in paged if night(p.at, zones[p.user])),
    }


def people_section(
    people: Sequence[Person], incidents: Sequence[IncidentRow], pages: Sequence[PageRow]
) -> dict[str, Any]:
    """Figures per person and per team (a team's MTTA: over incidents a member acknowledged;
    its pages: its members' pages), people and teams by name."""
    zones = {p.name: p.timezone for p in people}
    teams = sorted({t for p in people for t in p.teams})
    return {
        "night_hours": f"{NIGHT_FROM:02d}:00-{NIGHT_TO:02d}:00",
        "people": [
            {
                "user": p.name,
                "name": p.label,
                "timezone": p.timezone,
                **_figures(incidents, pages, {p.name}, people, zones),
            }
            for p in sorted(people, key=lambda p: p.name)
        ],
        "teams": [
            {
                "team": team,
                "members": [p.name for p in people if team in p.teams],
                **_figures(
                    incidents, pages, {p.name for p in people if team in p.teams}, people, zones
                ),
            }
            for team in teams
        ],
    }
