"""Problems: the same incident key opening N times within a period is a problem to review.

The incident that crosses the threshold opens the problem, every incident of the period is
linked to it, and a "problem_opened" notification goes out; later incidents of the key join
the open problem until someone closes it (`close_problem`: API, CLI). Once closed, only
incidents opened after the closing count towards a new problem.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.incidents.ledger import Ledger
from watchd.incidents.model import Incident
from watchd.store.incident_tables import incidents as inc
from watchd.store.incident_tables import problems as t
from watchd.store.members import bound_values, one_of
from watchd.store.pages import Listed, Page, count, sliced


@dataclass(frozen=True, slots=True)
class KeyHistory:
    """What note_opened reads of a key before the incident opens: its latest problem (id,
    state, closed_at) and when its incidents of the last problem_period opened. A storm reads
    them for a whole batch of keys in two statements (key_histories)."""

    latest: tuple[int, str, float | None] | None
    opened: tuple[float, ...]


async def key_histories(
    conn: AsyncConnection, keys: Collection[str], now: float, period: float
) -> dict[str, KeyHistory]:
    """The KeyHistory of each of `keys`."""
    dialect = conn.dialect.name
    bound = {"keys": bound_values(dialect, sorted(keys)), "since": now - period}
    latest: dict[str, tuple[int, str, float | None]] = {}
    for key, problem_id, state, closed_at in await conn.execute(_latest_problems(dialect), bound):
        latest[key] = (problem_id, state, closed_at)  # ordered by opening: the last one wins
    opened: dict[str, list[float]] = {}
    for key, opened_at in await conn.execute(_recent_openings(dialect), bound):
        opened.setdefault(key, []).append(opened_at)
    return {key: KeyHistory(latest.get(key), tuple(opened.get(key, ()))) for key in keys}


async def note_opened(
    ledger: Ledger, incident: Incident, history: KeyHistory | None = None
) -> Incident:
    """Link a newly opened incident to its key's problem, opening one at the threshold.

    `history` is the key's, read before the incident was opened (else it is read here)."""
    cfg = ledger.settings.incidents
    conn = ledger.conn
    if history is None:
        row = (
            await conn.execute(
                select(t.c.id, t.c.state, t.c.closed_at)
                .where(t.c.key == incident.key)
                .order_by(t.c.opened_at.desc(), t.c.id.desc())
                .limit(1)
            )
        ).first()
        latest = None if row is None else (row.id, row.state, row.closed_at)
    else:
        latest = history.latest
    if latest is not None and latest[1] == "open":
        incident = await ledger.update(incident, problem_id=latest[0])
        return await ledger.event(incident, "problem_linked", "watchd", {"problem": latest[0]})
    since = ledger.now - cfg.problem_period
    if latest is not None and latest[2] is not None:
        # The incidents that led to the closed problem were dealt with there.
        since = max(since, latest[2])
    # The incident itself was opened after its history was read: + 1.
    if history is not None and sum(t >= since for t in history.opened) + 1 < cfg.problem_threshold:
        return incident
    await ledger.write_held()  # the incidents of the key, this one too, are read below
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
    await ledger.set_problem(recent, problem_id)
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


# Built once per dialect: constructing a statement costs more than running it.
@cache
def _latest_problems(dialect: str) -> Select[Any]:
    return (
        select(t.c.key, t.c.id, t.c.state, t.c.closed_at)
        .where(one_of(dialect, t.c.key, "keys"))
        .order_by(t.c.opened_at, t.c.id)
    )


@cache
def _recent_openings(dialect: str) -> Select[Any]:
    return select(inc.c.key, inc.c.opened_at).where(
        one_of(dialect, inc.c.key, "keys"), inc.c.opened_at >= bindparam("since")
    )
