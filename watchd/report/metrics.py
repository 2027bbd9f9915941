"""Figures from tallies and incidents: availability, downtime, failures, MTBF/MTTR/MTTA, SLA
breaches, error budget and burn rate.

From samples (per check, summed over a service's checks):
    MTBF = up seconds / failures        MTTR = down seconds / failures
    failure rate = failures per monitored day
From incidents opened in the period (per item, and over a service's items):
    MTTR = mean(resolved − opened)      MTTA = mean(acknowledged − opened)
    SLA breaches = timeline events of kind "sla_breach"
Service seconds are averages over its checks, so they add up to the elapsed time; its
availability is up over eligible time summed over the checks (a time-weighted mean).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import fmean
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.report.availability import Tally
from watchd.report.config import MaintenancePolicy
from watchd.report.period import local_date, midnight
from watchd.store.incident_tables import incident_alerts as ia
from watchd.store.incident_tables import incident_events as ev
from watchd.store.incident_tables import incidents as inc
from watchd.store.tables import alerts as al

DAY = 86400.0


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def figures(tally: Tally, policy: MaintenancePolicy, *, members: int = 1) -> dict[str, Any]:
    """Availability figures of one check (members=1) or a service of `members` checks."""
    n = max(1, members)
    _, down = tally.counted(policy)
    availability = tally.availability(policy)
    excluded = tally.unknown + (tally.maintenance if policy == "exclude" else 0.0)
    failures = tally.failures
    return {
        "availability_percent": None if availability is None else round(availability * 100, 4),
        "seconds": {
            "up": _r(tally.up / n),
            "down": _r(tally.down / n),
            "unknown": _r(tally.unknown / n),
            "maintenance": _r(tally.maintenance / n),
            "unmonitored": _r(tally.unmonitored / n),
            "excluded": _r(excluded / n),
        },
        "downtime_seconds": _r(down / n),
        "failures": failures,
        "failure_rate_per_day": _r(failures / (tally.monitored / DAY), 4)
        if tally.monitored
        else None,
        "mtbf_seconds": _r(tally.up / failures) if failures else None,
        "mttr_seconds": _r(tally.down / failures) if failures else None,
        "check_runs": tally.checks,
        "latency": {
            "avg": _r(tally.latency_avg, 6),
            "max": _r(tally.latency_max, 6),
            "p95_worst_hour": _r(tally.latency_p95, 6),
        },
    }


def error_budget(
    tally: Tally,
    policy: MaintenancePolicy,
    objective: float,
    *,
    members: int,
    period_seconds: float,
) -> dict[str, Any]:
    """The error budget of a period: allowed downtime, used, remaining, and burn rate.

    The budget is (1 − objective) of the whole period; the burn rate compares the elapsed
    part's unavailability with what the objective allows (1.0: exactly on budget).
    """
    allowed = 1.0 - objective / 100.0
    _, down = tally.counted(policy)
    used = down / max(1, members)
    budget = allowed * period_seconds
    availability = tally.availability(policy)
    return {
        "objective_percent": objective,
        "budget_seconds": round(budget, 3),
        "used_seconds": round(used, 3),
        "remaining_seconds": round(budget - used, 3),
        "remaining_fraction": round((budget - used) / budget, 4) if budget else None,
        "burn_rate": None if availability is None else round((1 - availability) / allowed, 4),
        "objective_met": None if availability is None else availability * 100 >= objective,
    }


@dataclass(frozen=True, slots=True)
class IncidentRow:
    id: int
    item: str
    title: str
    severity: str
    state: str
    opened_at: float
    acknowledged_at: float | None
    resolved_at: float | None
    sla_breaches: int
    acknowledged_by: str | None
    resolved_by: str | None = None


async def load_incidents(conn: AsyncConnection, start: float, end: float) -> list[IncidentRow]:
    """Incidents opened in [start, end), each with its number of SLA breaches."""
    breaches = (
        select(ev.c.incident_id, func.count().label("n"))
        .where(ev.c.kind == "sla_breach")
        .group_by(ev.c.incident_id)
        .subquery()
    )
    query = (
        select(
            inc.c.id,
            inc.c.item,
            inc.c.title,
            inc.c.severity,
            inc.c.state,
            inc.c.opened_at,
            inc.c.acknowledged_at,
            inc.c.resolved_at,
            func.coalesce(breaches.c.n, 0),
            inc.c.acknowledged_by,
            inc.c.resolved_by,
        )
        .select_from(inc.outerjoin(breaches, breaches.c.incident_id == inc.c.id))
        .where(inc.c.opened_at >= start, inc.c.opened_at < end)
        .order_by(inc.c.opened_at)
    )
    # tuple(): mypy reads an eleven-column Row as more arguments than IncidentRow takes.
    return [IncidentRow(*tuple(row)) for row in await conn.execute(query)]


async def load_causes(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, str]:
    """Each incident's cause as its root alert tells it: the summary annotation (else the
    alertname) of the first of its own alerts to join it. Incidents without alerts are absent."""
    if not ids:
        return {}
    query = (
        select(ia.c.incident_id, al.c.labels, al.c.annotations)
        .select_from(ia.join(al, al.c.fingerprint == ia.c.fingerprint))
        .where(ia.c.incident_id.in_(list(ids)), ia.c.role == "member")
        .order_by(ia.c.incident_id, ia.c.joined_at)
    )
    causes: dict[int, str] = {}
    for incident_id, labels, notes in await conn.execute(query):
        if int(incident_id) not in causes:
            cause = (notes or {}).get("summary") or (labels or {}).get("alertname", "")
            causes[int(incident_id)] = str(cause)
    return causes


def incident_figures(rows: Sequence[IncidentRow]) -> dict[str, Any]:
    """Count, MTTR, MTTA and SLA breaches of `rows`."""
    repair = [r.resolved_at - r.opened_at for r in rows if r.resolved_at is not None]
    ack = [r.acknowledged_at - r.opened_at for r in rows if r.acknowledged_at is not None]
    return {
        "count": len(rows),
        "resolved": len(repair),
        "acknowledged": len(ack),
        "mttr_seconds": _r(fmean(repair)) if repair else None,
        "mtta_seconds": _r(fmean(ack)) if ack else None,
        "sla_breaches": sum(r.sla_breaches for r in rows),
    }


def mtta_by_acknowledger(rows: Iterable[IncidentRow]) -> list[dict[str, Any]]:
    """MTTA per who acknowledged (as recorded: `alice via token ops`), most acknowledgements
    first."""
    delays: dict[str, list[float]] = {}
    for r in rows:
        if r.acknowledged_at is not None and r.acknowledged_by:
            delays.setdefault(r.acknowledged_by, []).append(r.acknowledged_at - r.opened_at)
    return [
        {"by": by, "acknowledged": len(d), "mtta_seconds": _r(fmean(d))}
        for by, d in sorted(delays.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]


def week_start(t: float, zone: str) -> date:
    """The local date of the Monday at or before `t` in `zone`."""
    day = local_date(t, zone)
    return day - timedelta(days=day.weekday())


def weekly(
    rows: Iterable[IncidentRow], start: float, end: float, zone: str
) -> list[dict[str, Any]]:
    """Incidents opened and their MTTR per local week (starting Monday in `zone`) from
    `start` to `end`."""
    by_week: dict[date, list[IncidentRow]] = {}
    w = week_start(start, zone)
    while midnight(w, zone) < end:
        by_week[w] = []
        w += timedelta(days=7)
    for row in rows:
        by_week.setdefault(week_start(row.opened_at, zone), []).append(row)
    return [
        {"week": w.isoformat(), **incident_figures(found)} for w, found in sorted(by_week.items())
    ]
