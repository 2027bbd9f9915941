"""Delivery: a task's units sent to their receiver, row by row in chain order (a batch
receiver gets its group's rows in one call), each outcome judged and recorded before the
chain goes on; a retried row stops its chain and gives back the rows after it."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from watchd.clock import Clock
from watchd.logging import get_logger
from watchd.notify.acklinks import Recipient
from watchd.notify.attempt import Status, judge
from watchd.notify.health import ReceiverHealth
from watchd.notify.installed import Installed
from watchd.notify.model import Notification, Outcome, Receiver, excerpt
from watchd.notify.outbox import Group, Row
from watchd.notify.plan import Unit
from watchd.notify.record import Recorder
from watchd.store.errors import StoreError

log = get_logger("watchd.notify")

# Receivers keep their own timeouts; a call is cut off this long after its receiver's.
GRACE = 5.0

# Counts `n` rows of a receiver with an outcome (delivered, skipped, retried, failed, expired)
# and the seconds the receiver took to answer (None when it was not called): the composition
# root passes watchd_notifications_total's and watchd_notification_send_seconds'.
CountOutcome = Callable[[str, str, int, float | None], None]
# A row's attempt status as the notification counter names it.
OUTCOME = {Status.RETRY: "retried"}


def uncounted(receiver: str, outcome: str, n: int, seconds: float | None) -> None:
    """The default: outcomes are not counted (tests and tools without metrics)."""


class Delivery:
    """Delivers claimed rows with the current configuration; `delivered` counts the rows
    delivered (or skipped) since start."""

    def __init__(
        self,
        *,
        clock: Clock,
        rand: random.Random,
        recorder: Recorder,
        health: ReceiverHealth,
        current: Callable[[], Installed],
        count: CountOutcome = uncounted,
    ) -> None:
        self._clock = clock
        self._count = count
        self._rand = rand
        self._recorder = recorder
        self._health = health
        self._current = current
        self.delivered = 0

    async def deliver(
        self, unit: Unit, chains: Sequence[Sequence[Row]]
    ) -> Coroutine[Any, Any, None]:
        """Send the claimed `chains` of `unit`, each row after the outcome of the row before
        it in its chain was committed; return once the last request was answered, with what
        is left to await: the commit of the last outcome. The caller may send other units
        meanwhile (their rows belong to other incidents): a storm's deliveries waited for a
        commit each, behind the ingestion's writes. A store failure leaves the rows leased."""
        receiver = self._current().receivers[unit.receiver]
        pending: Coroutine[Any, Any, None] | None = None
        try:
            if receiver.batch:
                _, pending = await self._attempt(unit, receiver, [r for c in chains for r in c], [])
            else:
                for chain in chains:
                    for i, row in enumerate(chain):
                        if pending is not None:
                            await pending
                        rest = [r.id for r in chain[i + 1 :]]
                        go, pending = await self._attempt(unit, receiver, [row], rest)
                        if not go:
                            break
        except StoreError as exc:
            _not_recorded(unit.receiver, exc)
            pending = None
        return _recorded(unit.receiver, pending)

    async def _attempt(
        self, unit: Unit, receiver: Receiver, rows: Sequence[Row], rest: Sequence[int]
    ) -> tuple[bool, Coroutine[Any, Any, None]]:
        """Send `rows` once and queue the outcome for the recorder; whether the chain may go
        on, and what waits for the outcome's commit (then tracks the receiver's health)."""
        installed = self._current()
        cfg = installed.configs[unit.receiver]
        notes = [self._note(installed, r) for r in rows]
        started_at = self._clock.now()
        started = time.monotonic()
        skipped = not cfg.send_resolved and all(
            n.payload.get("status") == "resolved" and n.kind in ("resolved", "closed")
            for n in notes
        )
        if skipped:
            outcome = Outcome(True, response="not sent: send_resolved = false")
        else:
            outcome = await call(receiver, notes, cfg.timeout)
        latency = time.monotonic() - started
        now = self._clock.now()
        attempts = [
            judge(
                row,
                outcome,
                cfg,
                started_at=started_at,
                latency=latency,
                now=now,
                skipped=skipped,
                rand=self._rand,
            )
            for row in rows
        ]
        status = attempts[0].status
        group = None
        if status.sent:
            firing = any(n.payload.get("status") == "firing" for n in notes)
            first = unit.group.first_at if unit.group is not None else started_at
            group = (unit.receiver, unit.group_key, Group(first, now, firing))
        release = rest if status is Status.RETRY else ()
        committed = self._recorder.submit(attempts, release=release, group=group, now=now)
        called = None if skipped else latency
        return status is not Status.RETRY, self._settle(
            committed, unit.receiver, status, outcome.error, now, len(rows), called
        )

    async def _settle(
        self,
        committed: asyncio.Future[None],
        name: str,
        status: Status,
        error: str,
        now: float,
        rows: int,
        seconds: float | None,
    ) -> None:
        await committed
        await self._health.track(name, status, error, now)
        self._count(name, OUTCOME.get(status, status.value), rows, seconds)
        if status.sent:
            self.delivered += rows

    def _note(self, installed: Installed, row: Row) -> Notification:
        links = installed.links
        config = installed.configs.get(row.receiver)
        address = config.address() if config is not None else ""
        person = (row.payload or {}).get("recipient")
        if isinstance(person, dict):  # a page to a person: the link names them as people read them
            address = _person_label(person)
        recipient = Recipient(row.receiver, address)
        return Notification(
            outbox_id=row.id,
            incident_id=row.incident_id,
            seq=row.seq,
            idempotency_key=row.idempotency_key,
            receiver=row.receiver,
            kind=row.kind,
            payload=row.payload or {},
            attempt=row.attempts + 1,
            context=(
                links.links(row.incident_id, self._clock.now(), recipient)
                if links is not None
                else {}
            ),
        )


def _not_recorded(receiver: str, exc: StoreError) -> None:
    # The rows keep their lease and go out again when it ends: at least once.
    log.error("notification_not_recorded", receiver=receiver, error=exc.reason.splitlines()[0])


async def _recorded(receiver: str, pending: Coroutine[Any, Any, None] | None) -> None:
    """Wait for the commit of a unit's last outcome."""
    if pending is None:
        return
    try:
        await pending
    except StoreError as exc:
        _not_recorded(receiver, exc)


async def call(receiver: Receiver, notes: list[Notification], limit: float) -> Outcome:
    """Send `notes` through `receiver` once: its outcome, or a retryable failure when it does
    not answer within `limit` (plus a grace) or raises."""
    try:
        async with asyncio.timeout(limit + GRACE):
            return await receiver.deliver(notes)
    except TimeoutError:
        return Outcome(False, error=f"no answer within {limit + GRACE:.0f}s (timeout)")
    except Exception as exc:  # a receiver bug must not lose the row: retried, logged
        return Outcome(False, error=excerpt(f"{type(exc).__name__}: {exc}"))


def _person_label(person: dict[str, Any]) -> str:
    """ "Alice Li (alice)" for a page's recipient with a display name, else the user name: an
    acknowledgement through the link is recorded as the dashboard and tokens record the person."""
    user, name = str(person.get("user", "")), str(person.get("name", ""))
    return f"{name} ({user})" if name and name != user else user
