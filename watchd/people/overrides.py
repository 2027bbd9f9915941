"""Stored on-call overrides (table oncall_overrides): add, list, delete, and the ones that
matter for a time range.

The CLI and the API check a new override with `check_override` against the config of the
moment (a known schedule and user, a sane range, a reason of bounded size) before storing it;
a stored override whose user later leaves the config still shows, and still takes the shift.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Row, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.people.config import PeopleConfig
from watchd.people.model import Override
from watchd.store.errors import StoreError
from watchd.store.oncall_tables import oncall_overrides as t
from watchd.store.pages import Listed, Page, count, sliced
from watchd.timestamps import time_problem

MAX_REASON = 1000  # characters: a sentence or two, not a document
MAX_AUTHOR = 200
MAX_SPAN = 366 * 86400.0  # an override is a swap of shifts, not a new rotation


class OverrideError(ValueError):
    """An override that cannot be stored: `field` is the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_override(
    people: PeopleConfig,
    *,
    schedule: str,
    user: str,
    start: float,
    end: float,
    author: str,
    reason: str,
) -> None:
    """Raise OverrideError naming the first input that is wrong."""
    if people.schedule(schedule) is None:
        known = ", ".join(s.name for s in people.schedules) or "none configured"
        raise OverrideError("schedule", f"There is no schedule {schedule!r} (schedules: {known}).")
    if people.user(user) is None:
        raise OverrideError("user", f"There is no user {user!r} in [[users]].")
    for field, value in (("start", start), ("end", end)):
        if (problem := time_problem(value)) is not None:
            raise OverrideError(field, problem)
    if end <= start:
        raise OverrideError("end", "The override must end after it starts.")
    if end - start > MAX_SPAN:
        raise OverrideError("end", "An override lasts at most 366 days.")
    if not reason.strip():
        raise OverrideError("reason", "Say why (a reason is recorded with every override).")
    if len(reason) > MAX_REASON:
        raise OverrideError("reason", f"The reason is longer than {MAX_REASON} characters.")
    if not author.strip() or len(author) > MAX_AUTHOR:
        raise OverrideError("author", f"The author must be 1 to {MAX_AUTHOR} characters.")


async def add_override(
    conn: AsyncConnection,
    *,
    schedule: str,
    user: str,
    start: float,
    end: float,
    author: str,
    reason: str,
    now: float,
) -> Override:
    """Store an override (checked beforehand with `check_override`) and return it."""
    new = Override(0, schedule, user, start, end, author, reason, now)
    values = override_dict(new)
    del values["id"]
    try:
        result = await conn.execute(insert(t).values(values).returning(t.c.id))
    except SQLAlchemyError as exc:
        raise StoreError.wrap("store an on-call override", exc) from exc
    return dataclasses.replace(new, id=int(result.scalar_one()))


async def list_overrides(
    conn: AsyncConnection,
    schedule: str | None = None,
    *,
    since: float | None = None,
    page: Page | None = None,
) -> Listed[Override]:
    """Overrides (of one schedule, or all) in start order, with their total; with `since`,
    only those that end after it (the current and coming ones); `page` cuts the list (None:
    all of it)."""
    query = select(t).order_by(t.c.start, t.c.id)
    if schedule is not None:
        query = query.where(t.c.schedule == schedule)
    if since is not None:
        query = query.where(t.c.end > since)
    if page is None:
        found = await _fetch(conn, query)
        return Listed(found, len(found))
    found = await _fetch(conn, sliced(query, page))
    try:
        total = await count(conn, query)
    except SQLAlchemyError as exc:
        raise StoreError.wrap("count on-call overrides", exc) from exc
    return Listed(found, total)


async def active_overrides(
    conn: AsyncConnection, schedule: str | None, start: float, end: float
) -> list[Override]:
    """The overrides of `schedule` (None: of every schedule) that overlap [start, end)."""
    query = select(t).where(t.c.start < end, t.c.end > start).order_by(t.c.start, t.c.id)
    if schedule is not None:
        query = query.where(t.c.schedule == schedule)
    return await _fetch(conn, query)


async def delete_override(
    conn: AsyncConnection, schedule: str, override_id: int
) -> Override | None:
    """Delete the override `override_id` of `schedule`; the deleted one, or None if there was
    no such override."""
    query = select(t).where(t.c.id == override_id, t.c.schedule == schedule)
    found = await _fetch(conn, query)
    if not found:
        return None
    try:
        await conn.execute(delete(t).where(t.c.id == override_id))
    except SQLAlchemyError as exc:
        raise StoreError.wrap("delete an on-call override", exc) from exc
    return found[0]


async def _fetch(conn: AsyncConnection, query: Any) -> list[Override]:
    try:
        rows = (await conn.execute(query)).all()
    except SQLAlchemyError as exc:
        raise StoreError.wrap("read on-call overrides", exc) from exc
    return [_override(row) for row in rows]


def _override(row: Row[Any]) -> Override:
    return Override(
        id=row.id,
        schedule=row.schedule,
        user=row.user,
        start=row.start,
        end=row.end,
        author=row.author,
        reason=row.reason,
        created_at=row.created_at,
    )


def override_dict(override: Override) -> dict[str, Any]:
    """An override as JSON for the CLI and the API."""
    return {
        "id": override.id,
        "schedule": override.schedule,
        "user": override.user,
        "start": override.start,
        "end": override.end,
        "author": override.author,
        "reason": override.reason,
        "created_at": override.created_at,
    }
