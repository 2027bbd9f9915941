"""Follow-ups to the people an incident paged: when it is acknowledged or resolved, each person
an escalation step paged hears of it once, through the contact that paged them first, unless
they are the one who did it (they know).

    notification events with "pages" (the timeline, in seq order) ─► first contact per person
        ─► the people config as it is now (a person or contact since removed is skipped)
        ─► minus the actor ─► pages of the "acknowledged" / "resolved" notification

The follow-up is an outbox row of the same notification as the route's receivers get, keyed
"<incident>:<seq>:<user>:<contact>" with that event's seq, so it is delivered at least once and
after the page (one incident's deliveries go out in seq order).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.incidents.model import Page
from watchd.incidents.targets import page_of
from watchd.people.config import PeopleConfig
from watchd.store.incident_tables import incident_events as ev


async def followups(
    conn: AsyncConnection, incident_id: int, people: PeopleConfig, actor: str | None
) -> list[Page]:
    """The pages that tell the people incident `incident_id` paged of what `actor` did."""
    if not people.users:
        return []  # nobody can have been paged: no read
    rows = await conn.execute(
        select(ev.c.detail)
        .where(ev.c.incident_id == incident_id, ev.c.kind == "notification")
        .order_by(ev.c.seq)
    )
    first: dict[str, str] = {}  # user -> the contact that paged them first
    for (detail,) in rows:
        for paged in _pages(detail):
            first.setdefault(paged["user"], paged["contact"])
    found = []
    for name, contact_name in first.items():
        user = people.user(name)
        contact = user.contact(contact_name) if user is not None else None
        if user is None or contact is None or is_actor(actor, name):
            continue
        found.append(page_of(user, contact))
    return found


def is_actor(actor: str | None, user: str) -> bool:
    """Whether `actor`, as the timeline names who acted ("alice", "Alice Li (alice) via token
    laptop", "Alice Li (alice) via ack link to slack"), is the person `user`."""
    if not actor:
        return False
    who = actor.split(" via ", 1)[0]
    return who == user or who.endswith(f"({user})")


def _pages(detail: Any) -> list[dict[str, str]]:
    if isinstance(detail, str):
        detail = json.loads(detail)
    pages = detail.get("pages") if isinstance(detail, dict) else None
    if not isinstance(pages, list):
        return []
    return [p for p in pages if isinstance(p, dict) and "user" in p and "contact" in p]
