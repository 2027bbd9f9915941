"""The comparison with the previous period for a review meeting: each service's availability
and incident count then, and the change since (availability in percentage points).

The previous period of a month is the month before it; of a span, a span as long just before
it (watchd.report.period.Period.previous). It is tallied as one span: daily rollups make that
cheap, and no per-day figures are needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.report import metrics
from watchd.report.catalog import Catalog, Key
from watchd.report.combine import query_keys, service_total
from watchd.report.config import ServiceConfig
from watchd.report.period import Period, iso
from watchd.report.query import tallies


async def previous_period(
    conn: AsyncConnection,
    catalog: Catalog,
    period: Period,
    services: Sequence[ServiceConfig],
    members: Mapping[str, Sequence[Key]],
    *,
    now: float,
    items: Sequence[str] | None,
) -> dict[str, Any]:
    """The figures of the period before `period`: its bounds, the incidents opened in it (on
    `items` only, unless None) and per service its availability and incidents."""
    before = period.previous()
    asked = sorted({k for s in services for k in query_keys(s, members[s.name])})
    found = await tallies(conn, catalog, before.start, before.end, now=now, keys=asked)
    incidents = await metrics.load_incidents(conn, before.start, before.end)
    if items is not None:
        incidents = [r for r in incidents if r.item in items]
    per_service = {}
    for s in services:
        tally, n = service_total(s, found, members[s.name])
        service_items = {k[0] for k in members[s.name]}
        per_service[s.name] = {
            "availability_percent": metrics.figures(tally, catalog.policy(s), members=n)[
                "availability_percent"
            ],
            "incidents": sum(1 for r in incidents if r.item in service_items),
        }
    return {
        "label": before.label,
        "from": iso(before.start, period.zone),
        "to": iso(before.end, period.zone),
        "incidents": len(incidents),
        "services": per_service,
    }


def change(now: float | None, then: float | None, digits: int = 4) -> float | None:
    """now − then, rounded; None when either is unknown."""
    return None if now is None or then is None else round(now - then, digits)
