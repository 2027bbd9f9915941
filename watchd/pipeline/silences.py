"""Silences: label matchers muting alerts from start to end, with author and comment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.matchers import Matcher, parse_matchers
from watchd.store.incident_tables import silences as t
from watchd.store.pages import Listed, Page, count, sliced
from watchd.timestamps import shown_time, time_problem


class SilenceError(ValueError):
    """A silence cannot be created as asked; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class SilenceNotFound(LookupError):
    """There is no silence `silence_id`."""

    def __init__(self, silence_id: str) -> None:
        super().__init__(f"There is no silence {silence_id}.")
        self.silence_id = silence_id


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[str, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float

    def parsed(self) -> tuple[Matcher, ...]:
        return parse_matchers(self.matchers)

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def state(self, now: float) -> str:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def as_json(self, now: float) -> dict[str, Any]:
        """The silence for the API; times stored out of range (before they were refused) are
        clamped into it, so the answer stays JSON."""
        return {
            "id": self.id,
            "matchers": list(self.matchers),
            "starts_at": shown_time(self.starts_at),
            "ends_at": shown_time(self.ends_at),
            "created_by": self.created_by,
            "comment": self.comment,
            "created_at": self.created_at,
            "state": self.state(now),
        }


async def add_silence(
    conn: AsyncConnection,
    *,
    matchers: list[str],
    starts_at: float,
    ends_at: float,
    created_by: str,
    comment: str,
    now: float,
) -> Silence:
    """Store a new silence; raise SilenceError for no matchers, bad matchers, a start or end
    that is no time (NaN, Infinity, after year 9999) or end <= start."""
    for field, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if (problem := time_problem(value)) is not None:
            raise SilenceError(field, f"The silence's {field} is not valid: {problem}.")
    if not matchers:
        raise SilenceError("matchers", "A silence needs at least one matcher.")
    try:
        parse_matchers(matchers)
    except ValueError as exc:
        raise SilenceError("matchers", str(exc)) from exc
    if ends_at <= starts_at:
        raise SilenceError("ends_at", "A silence must end after it starts.")
    if not created_by:
        raise SilenceError("created_by", "A silence needs an author.")
    silence = Silence(
        str(uuid.uuid4()), tuple(matchers), starts_at, ends_at, created_by, comment, now
    )
    await conn.execute(
        insert(t).values(
            id=silence.id,
            matchers=list(silence.matchers),
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=created_by,
            comment=comment,
            created_at=now,
        )
    )
    return silence


async def expire_silence(conn: AsyncConnection, silence_id: str, now: float) -> bool:
    """End a silence now; False when there is no such silence or it had already ended."""
    result = await conn.execute(
        update(t).where(t.c.id == silence_id, t.c.ends_at > now).values(ends_at=now)
    )
    # A pending silence expired before its start gets start == end: it never mutes.
    await conn.execute(
        update(t).where(t.c.id == silence_id, t.c.starts_at > now).values(starts_at=now)
    )
    return bool(result.rowcount)


async def list_silences(
    conn: AsyncConnection,
    now: float,
    *,
    include_expired: bool = False,
    page: Page | None = None,
) -> Listed[Silence]:
    """Silences that are active or pending (and expired ones when asked), newest first: all
    of them, or one `page` of them; with their total."""
    query = select(t)
    if not include_expired:
        query = query.where(t.c.ends_at > now)
    query = query.order_by(t.c.created_at.desc(), t.c.id)
    rows = (await conn.execute(query if page is None else sliced(query, page))).all()
    total = len(rows) if page is None else await count(conn, query)
    return Listed([_silence(r) for r in rows], total)


async def expired_silences(conn: AsyncConnection, now: float, limit: int) -> Listed[Silence]:
    """The `limit` silences that ended last, latest end first, and how many have ended."""
    query = select(t).where(t.c.ends_at <= now).order_by(t.c.ends_at.desc(), t.c.id)
    rows = (await conn.execute(sliced(query, Page(limit)))).all()
    return Listed([_silence(r) for r in rows], await count(conn, query))


async def get_silence(conn: AsyncConnection, silence_id: str) -> Silence | None:
    """The silence `silence_id` (active, pending or expired), or None if there is none."""
    row = (await conn.execute(select(t).where(t.c.id == silence_id))).first()
    return None if row is None else _silence(row)


def _silence(r: Any) -> Silence:
    return Silence(
        r.id, tuple(r.matchers), r.starts_at, r.ends_at, r.created_by, r.comment, r.created_at
    )
