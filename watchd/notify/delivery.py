"""Delivery: a task's units sent to their receiver, row by row in chain order (a batch
receiver gets its group's rows in one call), each outcome judged and recorded before the
chain goes on; a retried row stops its chain and gives back the rows after it."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence

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
    ) -> None:
        self._clock = clock
        self._rand = rand
        self._recorder = recorder
        self._health = health
        self._current = current
        self.delivered = 0

    async def deliver(self, unit: Unit, chains: Sequence[Sequence[Row]]) -> None:
        """Send the claimed `chains` of `unit`; a store failure leaves the rows leased."""
        receiver = self._current().receivers[unit.receiver]
        try:
            if receiver.batch:
                await self._attempt(unit, receiver, [r for c in chains for r in c], [])
            else:
                for chain in chains:
                    for i, row in enumerate(chain):
                        rest = [r.id for r in chain[i + 1 :]]
                        if not await self._attempt(unit, receiver, [row], rest):
                            break
        except StoreError as exc:
            # The rows keep their lease and go out again when it ends: at least once.
            log.error(
                "notification_not_recorded",
                receiver=unit.receiver,
                error=exc.reason.splitlines()[0],
            )

    async def _attempt(
        self, unit: Unit, receiver: Receiver, rows: Sequence[Row], rest: Sequence[int]
    ) -> bool:
        """Send `rows` once, record the outcome; True when the chain may go on."""
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
            outcome = await _call(receiver, notes, cfg.timeout)
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
        await self._recorder.record(attempts, release=release, group=group, now=now)
        await self._health.track(unit.receiver, status, outcome.error, now)
        if status.sent:
            self.delivered += len(rows)
        return status is not Status.RETRY

    def _note(self, installed: Installed, row: Row) -> Notification:
        links = installed.links
        config = installed.configs.get(row.receiver)
        recipient = Recipient(row.receiver, config.address() if config is not None else "")
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


async def _call(receiver: Receiver, notes: list[Notification], limit: float) -> Outcome:
    try:
        async with asyncio.timeout(limit + GRACE):
            return await receiver.deliver(notes)
    except TimeoutError:
        return Outcome(False, error=f"no answer within {limit + GRACE:.0f}s (timeout)")
    except Exception as exc:  # a receiver bug must not lose the row: retried, logged
        return Outcome(False, error=excerpt(f"{type(exc).__name__}: {exc}"))
