"""Hand-off notices: the person a shift brings on call is told so, once per hand-off.

    every run (under the cluster's lease): people.handoffs over the last CATCH_UP
        ─► one handoff_notices row per (schedule, start), inserted if missing: stored before
           it is sent, and sent once however many runs, restarts or nodes see the hand-off
        ─► pending rows due ─► the person's notice contact (delivery.call)
        ─► attempt.decide: delivered | failed | expired (the receiver's max_age) | retried
           with the receiver's backoff

Notices are not incident events, so they are not outbox rows (each of those belongs to an
incident, and the dispatcher routes, groups and renders them by it). A notice goes to one
contact: the one that would page the person first (`notice_contact`), through the receiver's
own code with its notice template (Notification.kind "handoff": a mail with its subject, text
and HTML; a chat or robot message mentioning them; the JSON on their MQTT topic, to a webhook
or on an exec command's stdin; a log line). A ticket receiver takes no notice (a ticket per
shift is not one). A person with no contact that can take one gets a row marked failed and a
warning; check-config names them beforehand.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watchd.clock import Clock
from watchd.logging import get_logger
from watchd.notify.attempt import Status, decide, storable
from watchd.notify.delivery import call
from watchd.notify.installed import Installed
from watchd.notify.model import HANDOFF, Notification
from watchd.notify.receivers import REGISTRY, AnyReceiver
from watchd.people.config import ContactMethod, PeopleConfig, UserConfig
from watchd.people.handoffs import END_HORIZON, Handoff, handoffs, local_times, notice_text
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

# The receiver kinds that can take a notice: all but ticket (a ticket per shift is no notice).
NOTICE_KINDS = frozenset(REGISTRY) - {"ticket"}


class HandoffNotices:
    """Finds hand-offs and delivers their notices; `run` is one pass (a housekeeping job)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        clock: Clock,
        people: Callable[[], PeopleConfig],
        installed: Callable[[], Installed],
        locale: Callable[[], str] = lambda: "en",
        rand: random.Random | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._people = people
        self._installed = installed
        self._locale = locale
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
        takers = _takers(self._installed().configs.values())
        locale = self._locale()
        added = 0
        async with writing(self._engine, "store hand-off notices") as conn:
            for handoff in found:
                user = people.user(handoff.user)
                added += await _store(conn, handoff, user, takers, locale, now)
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
        if receiver is None or config is None or not _takes_notices(config):
            error = f"the receiver {row.receiver!r} can no longer take a notice"
            await self._finish(row.id, FAILED, row.attempts, self._clock.now(), error)
            log.error("handoff_notice_failed", schedule=row.schedule, user=row.user, error=error)
            return
        note = Notification(
            outbox_id=row.id,
            incident_id=0,  # no incident: each receiver renders it with its notice template
            seq=0,
            idempotency_key=f"handoff:{row.schedule}:{row.start:.0f}",
            receiver=row.receiver,
            kind=HANDOFF,
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
    layers have no contact that can take a notice: theirs would only be marked failed."""
    takers = _takers(receivers)
    warnings = []
    for i, schedule in enumerate(people.schedules):
        if not schedule.notify_handoff:
            continue
        names = dict.fromkeys(user for layer in schedule.layers for user in layer.users)
        missing = [n for n in names if notice_contact(people.user(n), takers) is None]
        if missing:
            warnings.append(
                f'schedules[{i}]("{schedule.name}"): '
                + ", ".join(missing)
                + " "
                + f"{'has' if len(missing) == 1 else 'have'} no contact that can take a hand-off "
                "notice (any receiver but a ticket): give them one or set notify_handoff = false"
            )
    return warnings


def _takes_notices(config: AnyReceiver) -> bool:
    return str(getattr(config, "kind", "log")) in NOTICE_KINDS  # no `kind`: the log receiver


def _takers(configs: Iterable[AnyReceiver]) -> set[str]:
    """The names of the receivers that can take a notice."""
    return {c.name for c in configs if _takes_notices(c)}


def notice_contact(user: UserConfig | None, takers: Collection[str]) -> ContactMethod | None:
    """The contact a hand-off notice goes to: the one that pages the person first, i.e. the
    contact of their notify rule with the shortest delay (the first such rule on a tie), then
    the other rules' and their remaining contacts in that order, skipping any whose receiver
    cannot take a notice (`takers` are those that can); None when none can."""
    if user is None:
        return None
    rules = sorted(enumerate(user.notify), key=lambda pair: (pair[1].after, pair[0]))
    order = [rule.contact for _, rule in rules] + [c.name for c in user.contacts]
    for name in dict.fromkeys(order):
        contact = user.contact(name)
        if contact is not None and contact.receiver in takers:
            return contact
    return None


async def _store(
    conn: AsyncConnection,
    handoff: Handoff,
    user: UserConfig | None,
    takers: Collection[str],
    locale: str,
    now: float,
) -> int:
    """Insert the notice of `handoff` unless it is stored already; 1 if it was new."""
    target = notice_contact(user, takers)
    timezone = user.timezone if user is not None else "UTC"
    start_local, end_local = local_times(handoff, timezone)
    payload = {
        "kind": HANDOFF,
        "schedule": handoff.schedule,
        "user": handoff.user,
        "start": _iso(handoff.start),
        "end": _iso(handoff.end),
        # What the notice templates print: the shift in the person's own time zone.
        "start_local": start_local,
        "end_local": end_local,
        "timezone": timezone,
        "text": notice_text(handoff, timezone, locale),
        "recipient": {
            "user": handoff.user,
            "name": user.display_name if user is not None else "",
            "contact": target.name if target is not None else "",
            "address": target.address if target is not None else "",
        },
    }
    error = "" if target is not None else f"{handoff.user} has no contact that can take a notice"
    values = {
        "schedule": handoff.schedule,
        "start": handoff.start,
        "end": handoff.end,
        "user": handoff.user,
        "contact": target.name if target is not None else "",
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
