"""Hand-off notices: the person a shift brings on call is told so, once per hand-off.

    every run (under the cluster's lease): people.handoffs over the last CATCH_UP
        ─► one handoff_notices row per (schedule, start), inserted if missing: stored before
           it is sent, and sent once however many runs, restarts or nodes see the hand-off
        ─► pending rows due ─► the user's first webhook contact (delivery.call)
        ─► attempt.decide: delivered | failed | expired (the receiver's max_age) | retried
           with the receiver's backoff

Notices are not incident events, so they are not outbox rows (each of those belongs to an
incident, and the dispatcher routes, groups and renders them by it). They go through webhook
contacts only, whose body is the stored JSON with the person's address in `recipient` (an SMS
gateway, a chat bridge): the other receiver kinds render incident templates, which a notice
has nothing for. A user with no webhook contact gets a row marked failed and a warning.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watchd.clock import Clock
from watchd.logging import get_logger
from watchd.notify.attempt import Status, decide, storable
from watchd.notify.delivery import call
from watchd.notify.installed import Installed
from watchd.notify.model import Notification
from watchd.notify.receivers import AnyReceiver
from watchd.notify.receivers.webhook import WebhookReceiver
from watchd.people.config import PeopleConfig, UserConfig
from watchd.people.handoffs import END_HORIZON, Handoff, handoffs, notice_text
from watchd.people.overrides import active_overrides
from watchd.store.engine import reading, writing
from watchd.store.oncall_tables import handoff_notices as hn
from watchd.store.upsert import insert_missing

log = get_logger("watchd.notify.handoffs")

# A hand-off up to an hour old is still told (the daemon was down, the lease moved); older
# ones, e.g. the shift running when watchd is first started, are not.
CATCH_UP = 3600.0
PER_RUN = 50  # notices sent per run at most; the rest wait for the next run

PENDING, DELIVERED, FAILED, EXPIRED = "pending", "delivered", "failed", "expired"


@dataclass(frozen=True, slots=True)
class _Target:
    contact: str
    receiver: str
    address: str


class HandoffNotices:
    """Finds hand-offs and delivers their notices; `run` is one pass (a housekeeping job)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock,
        people: Callable[[], PeopleConfig],
        installed: Callable[[], Installed],
        rand: random.Random | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._people = people
        self._installed = installed
        self._rand = rand or random.Random()

    async def run(self) -> None:
        """Store the notices of the hand-offs of the last CATCH_UP, then send those due."""
        now = self._clock.now()
        await self.detect(now)
        await self.deliver(now)

    async def detect(self, now: float) -> int:
        """Store a notice for every hand-off in (now - CATCH_UP, now] not stored yet; how
        many rows were new."""
        people = self._people()
        schedules = [s for s in people.schedules if s.notify_handoff]
        if not schedules:
            return 0
        since = now - CATCH_UP
        async with reading(self._engine, "read on-call overrides") as conn:
            overrides = await active_overrides(conn, None, since - 1.0, now + END_HORIZON)
        found = [h for s in schedules for h in handoffs(s, since, now, overrides)]
        if not found:
            return 0
        configs = self._installed().configs
        webhooks = {name for name, cfg in configs.items() if isinstance(cfg, WebhookReceiver)}
        added = 0
        async with writing(self._engine, "store hand-off notices") as conn:
            for handoff in found:
                user = people.user(handoff.user)
                added += await _store(conn, handoff, user, webhooks, now)
        return added

    async def deliver(self, now: float) -> None:
        """Send the notices due, each once; record what became of them."""
        async with reading(self._engine, "read hand-off notices") as conn:
            due = (
                await conn.execute(
                    select(hn)
                    .where(hn.c.state == PENDING, hn.c.next_attempt_at <= now)
                    .order_by(hn.c.next_attempt_at, hn.c.id)
                    .limit(PER_RUN)
                )
            ).all()
        for row in due:
            await self._send(row)

    async def _send(self, row: Any) -> None:
        installed = self._installed()
        receiver = installed.receivers.get(row.receiver)
        config = installed.configs.get(row.receiver)
        if receiver is None or not isinstance(config, WebhookReceiver):
            error = f"the receiver {row.receiver!r} is no longer a configured webhook"
            await self._finish(row.id, FAILED, row.attempts, self._clock.now(), error)
            log.error("handoff_notice_failed", schedule=row.schedule, user=row.user, error=error)
            return
        note = Notification(
            outbox_id=row.id,
            incident_id=0,  # no incident: the webhook sends the payload as it is
            seq=0,
            idempotency_key=f"handoff:{row.schedule}:{row.start:.0f}",
            receiver=row.receiver,
            kind="handoff",
            payload=json.loads(row.payload),
            attempt=row.attempts + 1,
        )
        outcome = await call(receiver, [note], config.timeout)
        now = self._clock.now()
        status, next_at = decide(
            outcome,
            config,
            attempts=row.attempts,
            created_at=row.created_at,
            next_attempt_at=row.next_attempt_at,
            now=now,
            rand=self._rand,
        )
        error = storable(outcome.error)
        fields = {"schedule": row.schedule, "user": row.user, "receiver": row.receiver}
        if status is Status.RETRY:
            await self._retry(row.id, row.attempts + 1, next_at, error)
            if row.attempts == 0:  # the first failure, not every retry
                log.warning("handoff_notice_retrying", **fields, error=error)
            return
        state = {Status.DELIVERED: DELIVERED, Status.FAILED: FAILED}.get(status, EXPIRED)
        await self._finish(row.id, state, row.attempts + 1, now, error)
        if state == DELIVERED:
            log.info("handoff_notified", **fields, attempts=row.attempts + 1)
        else:
            log.error("handoff_notice_failed", **fields, state=state, error=error)

    async def _retry(self, notice: int, attempts: int, next_at: float, error: str) -> None:
        async with writing(self._engine, "record a hand-off notice attempt") as conn:
            await conn.execute(
                update(hn)
                .where(hn.c.id == notice)
                .values(attempts=attempts, next_attempt_at=next_at, error=error)
            )

    async def _finish(self, notice: int, state: str, attempts: int, now: float, error: str) -> None:
        async with writing(self._engine, "record a hand-off notice") as conn:
            await conn.execute(
                update(hn)
                .where(hn.c.id == notice)
                .values(state=state, attempts=attempts, finished_at=now, error=error)
            )


def handoff_warnings(people: PeopleConfig, receivers: Sequence[AnyReceiver]) -> list[str]:
    """One check-config warning per schedule that tells its hand-offs while people in its
    layers have no contact through a webhook receiver: their notices would only be logged."""
    webhooks = {r.name for r in receivers if isinstance(r, WebhookReceiver)}
    warnings = []
    for i, schedule in enumerate(people.schedules):
        if not schedule.notify_handoff:
            continue
        names = dict.fromkeys(user for layer in schedule.layers for user in layer.users)
        missing = [n for n in names if _target(people.user(n), webhooks) is None]
        if missing:
            warnings.append(
                f'schedules[{i}]("{schedule.name}"): hand-off notices go through webhook '
                f"contacts only, and {', '.join(missing)} {'has' if len(missing) == 1 else 'have'}"
                " none: give them one or set notify_handoff = false"
            )
    return warnings


def _target(user: UserConfig | None, webhooks: set[str]) -> _Target | None:
    """The user's first contact through a webhook receiver, or None."""
    if user is None:
        return None
    for contact in user.contacts:
        if contact.receiver in webhooks:
            return _Target(contact.name, contact.receiver, contact.address)
    return None


async def _store(
    conn: AsyncConnection,
    handoff: Handoff,
    user: UserConfig | None,
    webhooks: set[str],
    now: float,
) -> int:
    """Insert the notice of `handoff` unless it is stored already; 1 if it was new."""
    target = _target(user, webhooks)
    timezone = user.timezone if user is not None else "UTC"
    payload = {
        "kind": "handoff",
        "schedule": handoff.schedule,
        "user": handoff.user,
        "start": _iso(handoff.start),
        "end": _iso(handoff.end),
        "text": notice_text(handoff, timezone),
        "recipient": {
            "user": handoff.user,
            "name": user.display_name if user is not None else "",
            "contact": target.contact if target is not None else "",
            "address": target.address if target is not None else "",
        },
    }
    error = "" if target is not None else f"{handoff.user} has no contact through a webhook"
    values = {
        "schedule": handoff.schedule,
        "start": handoff.start,
        "end": handoff.end,
        "user": handoff.user,
        "contact": target.contact if target is not None else "",
        "receiver": target.receiver if target is not None else "",
        "payload": json.dumps(payload, ensure_ascii=False),
        "state": PENDING if target is not None else FAILED,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
        "finished_at": None if target is not None else now,
        "error": error,
    }
    statement = insert_missing(conn.dialect.name, hn, ("schedule", "start")).values(values)
    added = (await conn.execute(statement)).rowcount
    if added and target is None:
        log.warning(
            "handoff_unreachable", schedule=handoff.schedule, user=handoff.user, error=error
        )
    return int(added or 0)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
