"""The report's post-incident review section: the reviews started in the period and every
review action overdue when the report is made (the store has the queries)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.report.period import iso
from watchd.store.review_tables import overdue_actions, reviews_started


async def review_section(
    conn: AsyncConnection,
    start: float,
    end: float,
    *,
    now: float,
    zone: str,
    incidents: Collection[int] | None = None,
) -> dict[str, Any]:
    """`{"list": [...], "overdue_actions": [...]}` with times in `zone`; with `incidents` (a
    service's report), only the reviews of those incidents and their actions."""
    started = await reviews_started(conn, start, end)
    overdue = await overdue_actions(conn, now)
    if incidents is not None:
        started = [r for r in started if r["incident_id"] in incidents]
        overdue = [a for a in overdue if a["incident_id"] in incidents]
    return {
        "list": [{**r, "created_at": iso(r["created_at"], zone)} for r in started],
        "overdue_actions": [
            {
                **a,
                "due": iso(a["due"], zone),
                "overdue_days": round((now - a["due"]) / 86400, 1),
            }
            for a in overdue
        ],
    }
