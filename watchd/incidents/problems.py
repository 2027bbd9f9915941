"""Problems: the same incident key opening N times within a period is a problem to review.

The incident that crosses the threshold opens the problem, every incident of the period is
linked to it, and a "problem_opened" notification goes out; later incidents of the key join
the open problem until someone closes it (`close_problem`: API, CLI). Once closed, only
incidents opened after the closing count towards a new problem.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.incidents.ledger import Ledger
from watchd.incidents.model import Incident
from watchd.store.incident_tables import incidents as inc
from watchd.store.incident_tables import problems as t
from watchd.store.pages import Listed, Page, count, sliced


async def note_opened(ledger: Ledger, incident: Incident) -> Incident:
    """Link a newly opened incident to its key's problem, opening one at the threshold."""
    cfg = ledger.settings.incidents
    conn = ledger.conn
    latest = (
        await conn.execute(
            select(t.c.id, t.c.state, t.c.closed_at)
            .where(t.c.key == incident.key)
            .order_by(t.c.opened_at.desc(), t.c.id.desc())
            .limit(1)
        )
    ).first()
    if latest is not None and latest.state == "open":
        incident = await ledger.update(incident, problem_id=latest.id)
        return await ledger.event(incident, "problem_linked", "watchd", {"problem": latest.id})
    since = ledger.now - cfg.problem_period
    if latest is not None and latest.closed_at is not None:
        # The incidents that led to the closed problem were dealt with there.
        since = max(since, latest.closed_at)
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
    await ledger.lock(recent)  # in the ledger's lock order, before the UPDATE takes them
    await conn.execute(update(inc).where(inc.c.id.in_(recent)).values(problem_id=problem_id))
    incident = await ledger.load(incident.id, lock=False)
    detail = {"problem": problem_id, "incidents": sorted(recent), "period": cfg.problem_period}
    incident = await ledger.event(incident, "problem_opened", "watchd", detail)
    return await ledger.notify(incident, "problem_opened", detail)


class ProblemNotFound(LookupError):
    """There is no problem `problem_id`."""

    def __init__(self, problem_id: int) -> None:
        super().__init__(f"There is no problem {problem_id}.")
        self.problem_id = problem_id


class ProblemClosed(ValueError):
    """The problem is closed already."""

    def __init__(self, problem_id: int) -> None:
        super().__init__(f"Problem {problem_id} is closed already.")
        self.problem_id = problem_id


async def close_problem(
    conn: AsyncConnection, problem_id: int, *, by: str, resolution: str, now: float
) -> dict[str, Any]:
    """Close an open problem, recording who closed it and what was done about it."""
    result = await conn.execute(
        update(t)
        .where(t.c.id == problem_id, t.c.state == "open")
        .values(state="closed", closed_at=now, closed_by=by, resolution=resolution or None)
    )
    if result.rowcount == 0:
        exists = (await conn.execute(select(t.c.id).where(t.c.id == problem_id))).first()
        raise ProblemClosed(problem_id) if exists else ProblemNotFound(problem_id)
    [problem] = (await list_problems(conn, problem_id=problem_id)).items
    return problem


async def list_problems(
    conn: AsyncConnection,
    *,
    state: str | None = None,
    problem_id: int | None = None,
    page: Page | None = None,
) -> Listed[dict[str, Any]]:
    """Problems, newest first, each with the ids of its incidents (or only `problem_id`): all
    of them or one `page`, with their total."""
    query = select(t, func.count(inc.c.id).label("incident_count")).select_from(
        t.outerjoin(inc, inc.c.problem_id == t.c.id)
    )
    if state is not None:
        query = query.where(t.c.state == state)
    if problem_id is not None:
        query = query.where(t.c.id == problem_id)
    query = query.group_by(t.c.id).order_by(t.c.opened_at.desc(), t.c.id.desc())
    rows = (await conn.execute(query if page is None else sliced(query, page))).all()
    total = len(rows) if page is None else await count(conn, query)
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
                "closed_by": r.closed_by,
                "resolution": r.resolution,
                "incidents": sorted(ids),
            }
        )
    return Listed(out, total)
