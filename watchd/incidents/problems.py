"""Problems: the same incident key opening N times within a period is a problem to review.

The incident that crosses the threshold opens the problem, every incident of the period is
linked to it, and a "problem_opened" notification goes out; later incidents of the key join
the open problem until someone closes it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.incidents.ledger import Ledger
from watchd.incidents.model import Incident
from watchd.store.incident_tables import incidents as inc
from watchd.store.incident_tables import problems as t


async def note_opened(ledger: Ledger, incident: Incident) -> Incident:
    """Link a newly opened incident to its key's problem, opening one at the threshold."""
    cfg = ledger.settings.incidents
    conn = ledger.conn
    open_problem = (
        await conn.execute(
            select(t.c.id).where(t.c.key == incident.key, t.c.state == "open").limit(1)
        )
    ).scalar()
    if open_problem is not None:
        incident = await ledger.update(incident, problem_id=open_problem)
        return await ledger.event(incident, "problem_linked", "watchd", {"problem": open_problem})
    since = ledger.now - cfg.problem_period
    recent = list(
        (
            await conn.execute(
                select(inc.c.id).where(inc.c.key == incident.key, inc.c.opened_at >= since)
            )
        ).scalars()
    )
    if len(recent) < cfg.problem_threshold:
        return incident
    result = await conn.execute(
        insert(t)
        .values(
            key=incident.key,
            title=incident.title,
            state="open",
            opened_at=ledger.now,
        )
        .returning(t.c.id)
    )
    problem_id = result.scalar_one()
    await conn.execute(update(inc).where(inc.c.id.in_(recent)).values(problem_id=problem_id))
    incident = await ledger.load(incident.id, lock=False)
    detail = {"problem": problem_id, "incidents": sorted(recent), "period": cfg.problem_period}
    incident = await ledger.event(incident, "problem_opened", "watchd", detail)
    return await ledger.notify(incident, "problem_opened", detail)


async def list_problems(conn: AsyncConnection, *, state: str | None = None) -> list[dict[str, Any]]:
    """Problems, newest first, each with the ids of its incidents."""
    query = select(t, func.count(inc.c.id).label("incident_count")).select_from(
        t.outerjoin(inc, inc.c.problem_id == t.c.id)
    )
    if state is not None:
        query = query.where(t.c.state == state)
    rows = (await conn.execute(query.group_by(t.c.id).order_by(t.c.opened_at.desc()))).all()
    out = []
    for r in rows:
        ids = (await conn.execute(select(inc.c.id).where(inc.c.problem_id == r.id))).scalars()
        out.append(
            {
                "id": r.id,
                "key": r.key,
                "title": r.title,
                "state": r.state,
                "opened_at": r.opened_at,
                "closed_at": r.closed_at,
                "incidents": sorted(ids),
            }
        )
    return out
