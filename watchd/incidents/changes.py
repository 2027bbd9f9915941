"""Changes: planned work on an item (summary, start/end, ticket). While a change runs its item
and the items below it are in maintenance; incidents opened on them during the change or within
`change_link_window` after it are linked to it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.inventory import Inventory
from watchd.store.incident_tables import changes as t
from watchd.store.pages import FIRST_PAGE, Listed, Page, count, sliced
from watchd.timestamps import shown_time, time_problem


class ChangeError(ValueError):
    """A change cannot be recorded as asked; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    item: str
    summary: str
    starts_at: float
    ends_at: float
    ticket: str
    created_by: str
    created_at: float

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def as_json(self) -> dict[str, Any]:
        """The change for the API; times stored out of range (before they were refused) are
        clamped into it, so the answer stays JSON."""
        return {
            "id": self.id,
            "item": self.item,
            "summary": self.summary,
            "starts_at": shown_time(self.starts_at),
            "ends_at": shown_time(self.ends_at),
            "ticket": self.ticket,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }


async def add_change(
    conn: AsyncConnection,
    *,
    item: str,
    summary: str,
    starts_at: float,
    ends_at: float,
    ticket: str,
    created_by: str,
    now: float,
    inventory: Inventory,
) -> Change:
    """Record a change; raise ChangeError for an unknown item, no summary, a start or end that
    is no time (NaN, Infinity, after year 9999) or end <= start."""
    for field, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if (problem := time_problem(value)) is not None:
            raise ChangeError(field, f"The change's {field} is not valid: {problem}.")
    if item not in inventory:
        raise ChangeError("item", f'There is no configured item "{item}".')
    if not summary.strip():
        raise ChangeError("summary", "A change needs a summary.")
    if ends_at <= starts_at:
        raise ChangeError("ends_at", "A change must end after it starts.")
    result = await conn.execute(
        insert(t)
        .values(
            item=item,
            summary=summary,
            starts_at=starts_at,
            ends_at=ends_at,
            ticket=ticket,
            created_by=created_by,
            created_at=now,
        )
        .returning(t.c.id)
    )
    return Change(result.scalar_one(), item, summary, starts_at, ends_at, ticket, created_by, now)


async def end_change(conn: AsyncConnection, change_id: int, now: float) -> bool:
    """End a change now (its maintenance window closes); False when there is no such change or
    it had already ended. Works on any stored end, however far it is (PostgreSQL sorts a
    stored NaN above every number, so it is ended too)."""
    result = await conn.execute(
        update(t).where(t.c.id == change_id, t.c.ends_at > now).values(ends_at=now)
    )
    # A pending change ended before its start gets start == end: it never mutes.
    await conn.execute(
        update(t).where(t.c.id == change_id, t.c.starts_at > now).values(starts_at=now)
    )
    return bool(result.rowcount)


def _change(r: Any) -> Change:
    return Change(
        r.id, r.item, r.summary, r.starts_at, r.ends_at, r.ticket, r.created_by, r.created_at
    )


async def list_changes(conn: AsyncConnection, page: Page = FIRST_PAGE) -> Listed[Change]:
    """One page of the changes, latest start first, with their total."""
    query = select(t).order_by(t.c.starts_at.desc(), t.c.id.desc())
    rows = await conn.execute(sliced(query, page))
    return Listed([_change(r) for r in rows], await count(conn, query))


async def get_change(conn: AsyncConnection, change_id: int) -> Change | None:
    """The change `change_id`, or None if there is none."""
    row = (await conn.execute(select(t).where(t.c.id == change_id))).first()
    return None if row is None else _change(row)


async def active_changes(conn: AsyncConnection, now: float, *, after: float = 0.0) -> list[Change]:
    """Changes that have started and end after now - `after` (0: running right now)."""
    rows = await conn.execute(
        select(t).where(t.c.starts_at <= now, t.c.ends_at > now - after).order_by(t.c.starts_at)
    )
    return [_change(r) for r in rows]


def latest_change_for(
    item: str, candidates: Sequence[Change], inventory: Inventory
) -> Change | None:
    """The latest of `candidates` (in start order) on `item` or one of its ancestors: the
    change an incident opened on `item` is linked to."""
    for change in reversed(candidates):
        if change.item == item or item in inventory.descendants(change.item):
            return change
    return None
