"""The later contacts of people an escalation step paged (table escalation_pages): kept when
the step fires, read when due, and forgotten once due, sent or not (escalation decides).

A contact waits as names (user, contact), not as an address: a reload that changes the
person's address before it is due sends to the new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.incidents.targets import Contacting
from watchd.store.incident_tables import escalation_pages as t


@dataclass(frozen=True, slots=True)
class Waiting:
    """A contact of `user` to use at `due_at`, planned by step `step` (from 0, across rounds)
    of `policy`, whose delays counted from `since`."""

    incident_id: int
    since: float
    policy: str
    step: int
    user: str
    contact: str
    after: float
    due_at: float


async def keep(
    conn: AsyncConnection,
    incident_id: int,
    since: float,
    policy: str,
    step: int,
    contacts: Sequence[Contacting],
    now: float,
) -> None:
    """Store `contacts`, each due its `after` from `now`."""
    if not contacts:
        return
    await conn.execute(
        insert(t),
        [
            {
                "incident_id": incident_id,
                "since": since,
                "policy": policy,
                "step": step,
                "user": c.page.user,
                "contact": c.page.contact,
                "after": c.after,
                "due_at": now + c.after,
            }
            for c in contacts
        ],
    )


async def due(conn: AsyncConnection, now: float) -> dict[int, list[Waiting]]:
    """The contacts due at `now`, by incident, in the order they fall due."""
    rows = await conn.execute(
        select(t).where(t.c.due_at <= now).order_by(t.c.incident_id, t.c.due_at, t.c.id)
    )
    found: dict[int, list[Waiting]] = {}
    for r in rows:
        found.setdefault(r.incident_id, []).append(
            Waiting(r.incident_id, r.since, r.policy, r.step, r.user, r.contact, r.after, r.due_at)
        )
    return found


async def forget_due(conn: AsyncConnection, now: float) -> None:
    """Drop the contacts due at `now`: they went out, or their incident no longer waits."""
    await conn.execute(delete(t).where(t.c.due_at <= now))
