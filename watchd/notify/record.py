"""Writing delivery outcomes: the delivery log, the outbox rows' new states, timeline events
and group timers, with concurrent deliveries' outcomes committed together."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

from sqlalchemy import BigInteger, Double, Integer, String, Text, Update, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert

from watchd.incidents.ledger import Ledger
from watchd.incidents.settings import IncidentSettings
from watchd.notify.attempt import Attempt, Status
from watchd.notify.outbox import Group
from watchd.store.bound_rows import Columns, bound_rows, bound_table
from watchd.store.bulk import insert_rows
from watchd.store.engine import transact
from watchd.store.errors import StoreError
from watchd.store.incident_tables import OutboxState
from watchd.store.incident_tables import outbox as ob
from watchd.store.members import bound_values, one_of
from watchd.store.notify_tables import deliveries as dl
from watchd.store.notify_tables import notify_groups as ng
from watchd.store.upsert import upsert


async def _write_attempts(
    conn: AsyncConnection, settings: IncidentSettings, attempts: Sequence[tuple[Attempt, float]]
) -> None:
    """The delivery log rows, the outbox rows' new states and the timeline events of
    `attempts` (each with the time its outcome was known): one statement of each kind for
    all of them, the incidents' seqs moved on without reading the incidents."""
    if not attempts:
        return
    # insert_rows: the statement compiled once, not each row's parameters built anew.
    await insert_rows(
        conn,
        dl,
        [
            {
                "outbox_id": a.row.id,
                "incident_id": a.row.incident_id,
                "receiver": a.row.receiver,
                "idempotency_key": a.row.idempotency_key,
                "attempt": a.row.attempts + int(a.tried),
                "started_at": a.started_at,
                "latency": a.latency,
                "status": a.status.value,
                "http_status": a.http_status,
                "response": a.response or None,
                "error": a.error or None,
            }
            for a, _ in attempts
        ],
    )
    dialect = conn.dialect.name
    outcomes = [
        (
            a.row.id,
            a.status.state.value,
            int(a.tried),
            a.next_attempt_at,
            now if a.status is Status.DELIVERED else None,
            a.error or None,
        )
        for a, now in attempts
    ]
    await conn.execute(_outcome(dialect), bound_rows(dialect, "v", _OUTCOME_COLUMNS, outcomes))
    events: dict[int, tuple[list[tuple[str, str, dict[str, Any]]], list[float]]] = {}
    for a, now in attempts:
        if a.event is not None:
            entries, times = events.setdefault(a.row.incident_id, ([], []))
            entries.append((a.event[0], "watchd", a.event[1]))
            times.append(now)
    ledger = Ledger(conn, max(now for _, now in attempts), settings)
    await ledger.append_events_to_each(events)


# The new state of each outbox row of a batch: (row id, state, 1 if tried, next attempt,
# delivered at, error), bound as one parameter whatever the batch's size.
_OUTCOME_COLUMNS: Columns = (
    ("id", BigInteger()),
    ("state", String()),
    ("tried", Integer()),
    ("next_at", Double()),
    ("delivered", Double()),
    ("error", Text()),
)


@cache
def _outcome(dialect: str) -> Update:
    """One UPDATE ... FROM for every outcome of a batch (a row is in a batch once: it is
    leased to the delivery that tried it)."""
    v = bound_table(dialect, "v", _OUTCOME_COLUMNS)
    return (
        update(ob)
        .where(ob.c.id == v.c.id)
        .values(
            state=v.c.state,
            attempts=ob.c.attempts + v.c.tried,
            next_attempt_at=v.c.next_at,
            claimed_until=None,
            delivered_at=v.c.delivered,
            last_error=v.c.error,
        )
    )


async def _release_and_group(
    conn: AsyncConnection, release: Sequence[int], groups: Sequence[tuple[str, str, Group]]
) -> None:
    """Give back leased rows not tried, and store the groups' timers (the last state of
    each group wins: `groups` are in the order they were decided)."""
    if release:
        # The ids as one bound value: one SQL text whatever their number (issue 19, soak RSS).
        dialect = conn.dialect.name
        await conn.execute(
            update(ob)
            .where(one_of(dialect, ob.c.id, "ids"), ob.c.state == OutboxState.DELIVERING.value)
            .values(state=OutboxState.PENDING.value, claimed_until=None),
            {"ids": bound_values(dialect, release)},
        )
    latest = {(receiver, key): state for receiver, key, state in groups}
    if latest:
        await insert_rows(
            conn,
            ng,
            [
                {
                    "receiver": receiver,
                    "group_key": key,
                    "first_at": state.first_at,
                    "last_sent_at": state.last_sent_at,
                    "firing": state.firing,
                }
                for (receiver, key), state in sorted(latest.items())  # one row lock order
            ],
            _group_timers(conn.dialect.name),
        )


# Built once per dialect: building the upsert (its excluded columns) cost more than the rows.
@cache
def _group_timers(dialect: str) -> Insert:
    return upsert(dialect, ng, ("receiver", "group_key"), ("first_at", "last_sent_at", "firing"))


@dataclass(frozen=True, slots=True)
class _Queued:
    attempts: Sequence[Attempt]
    release: Sequence[int]
    group: tuple[str, str, Group] | None
    now: float
    done: asyncio.Future[None]


# Seconds between the attempts to write delivery outcomes while the store fails (8 s in all).
RECORD_RETRIES = (0.25, 0.5, 1.0, 2.0, 4.0)


class Recorder:
    """Group commit of delivery outcomes: what concurrent deliveries finish while one
    transaction is being written goes into the next one, so SQLite's single writer is not
    paid for once per notification. `submit` gives a future done once committed."""

    def __init__(self, engine: AsyncEngine, settings: Callable[[], IncidentSettings]) -> None:
        self._engine = engine
        self._settings = settings
        self._queue: list[_Queued] = []
        self._flushing: asyncio.Task[None] | None = None

    def submit(
        self,
        attempts: Sequence[Attempt],
        *,
        release: Sequence[int] = (),
        group: tuple[str, str, Group] | None = None,
        now: float,
    ) -> asyncio.Future[None]:
        """Queue `attempts` to be written, the leased rows `release` (not tried) to be given
        back and the group's new timers to be stored; the future is done once they are
        committed (its exception: StoreError when that failed). Outcomes are committed in
        the order queued, so a later outcome is never stored before an earlier one."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._queue.append(_Queued(attempts, release, group, now, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = loop.create_task(self._flush(), name="watchd.notify.record")
        return done

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._write(batch)
            except StoreError as exc:
                for q in batch:
                    if not q.done.done():
                        q.done.set_exception(exc)
            else:
                for q in batch:
                    if not q.done.done():
                        q.done.set_result(None)

    async def _write(self, batch: Sequence[_Queued]) -> None:
        """Write `batch`, again after RECORD_RETRIES pauses while the store is failing (locked,
        unreachable): an outcome given up on leaves its row leased, and it goes out again once
        the lease ends, a duplicate for the receiver."""
        for pause in (*RECORD_RETRIES, None):
            try:
                await transact(
                    self._engine,
                    "record notification deliveries",
                    partial(_write_batch, settings=self._settings(), batch=batch),
                    full_reason=True,
                )
                return
            except StoreError as exc:
                if pause is None or not exc.outage:
                    raise
            # Real time, not the injected clock: the store recovers in real time.
            await asyncio.sleep(pause)


async def record_expired(
    engine: AsyncEngine, settings: IncidentSettings, attempts: Sequence[Attempt], now: float
) -> None:
    """Write the given-up attempts of rows that outlived their max_age, in one transaction."""
    await transact(
        engine,
        "record expired notifications",
        lambda conn: _write_attempts(conn, settings, [(a, now) for a in attempts]),
        full_reason=True,
    )


async def _write_batch(
    conn: AsyncConnection, *, settings: IncidentSettings, batch: Sequence[_Queued]
) -> None:
    await _write_attempts(conn, settings, [(a, q.now) for q in batch for a in q.attempts])
    await _release_and_group(
        conn,
        [row_id for q in batch for row_id in q.release],
        [q.group for q in batch if q.group is not None],
    )
