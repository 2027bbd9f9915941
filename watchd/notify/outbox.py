"""The dispatcher's reads and writes of the outbox, the delivery log and group timers.

Rows move pending ─► delivering (leased until claimed_until) ─► delivered | failed | expired,
or back to pending with a later next_attempt_at. A lease that runs out (the process died) makes
the row pending again for whoever scans next: delivery is at least once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watchd.incidents.ledger import Ledger
from watchd.incidents.settings import IncidentSettings
from watchd.store.engine import write_transaction
from watchd.store.errors import StoreError
from watchd.store.incident_tables import incidents as inc
from watchd.store.incident_tables import outbox as ob
from watchd.store.notify_tables import deliveries as dl
from watchd.store.notify_tables import notify_groups as ng
from watchd.store.upsert import upsert

OPEN_STATES = ("pending", "delivering")


@dataclass(frozen=True, slots=True)
class Row:
    """A row not yet final, with what routing needs from its incident (no payload)."""

    id: int
    incident_id: int
    seq: int
    receiver: str
    kind: str
    state: str
    attempts: int
    created_at: float
    next_attempt_at: float
    claimed_until: float | None
    incident_key: str
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class Group:
    first_at: float
    last_sent_at: float | None
    firing: bool


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt of one row and what becomes of the row."""

    row: dict[str, Any]
    started_at: float
    latency: float
    status: str  # delivered | retry | failed | expired
    http_status: int | None
    response: str
    error: str
    next_attempt_at: float
    event: tuple[str, dict[str, Any]] | None  # timeline event to append, if any
    tried: bool = True  # False: given up on without sending (expired while waiting)


@asynccontextmanager
async def _writing(engine: AsyncEngine, operation: str) -> AsyncIterator[AsyncConnection]:
    try:
        async with write_transaction(engine) as conn:
            yield conn
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(operation, str(exc)) from exc


async def open_rows(engine: AsyncEngine) -> list[Row]:
    """Every pending or leased row, in delivery order per incident and receiver."""
    query = (
        select(
            ob.c.id,
            ob.c.incident_id,
            ob.c.seq,
            ob.c.receiver,
            ob.c.kind,
            ob.c.state,
            ob.c.attempts,
            ob.c.created_at,
            ob.c.next_attempt_at,
            ob.c.claimed_until,
            inc.c.key,
            inc.c.group_labels,
            inc.c.severity,
            inc.c.item,
        )
        .select_from(ob.join(inc, inc.c.id == ob.c.incident_id))
        .where(ob.c.state.in_(OPEN_STATES))
        .order_by(ob.c.incident_id, ob.c.receiver, ob.c.seq, ob.c.id)
    )
    try:
        async with engine.connect() as conn:
            result = await conn.execute(query)
            rows = result.all()
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError("read the outbox", str(exc)) from exc
    out = []
    for r in rows:
        labels = {str(k): str(v) for k, v in dict(r.group_labels or {}).items()}
        labels["severity"] = r.severity
        if r.item:
            labels["item"] = r.item
        out.append(
            Row(
                r.id,
                r.incident_id,
                r.seq,
                r.receiver,
                r.kind,
                r.state,
                r.attempts,
                r.created_at,
                r.next_attempt_at,
                r.claimed_until,
                r.key,
                labels,
            )
        )
    return out


async def load_groups(engine: AsyncEngine, keys: Iterable[tuple[str, str]]) -> dict[Any, Group]:
    wanted = set(keys)
    if not wanted:
        return {}
    query = select(ng).where(ng.c.group_key.in_({k for _, k in wanted}))
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError("read notification groups", str(exc)) from exc
    return {
        (r.receiver, r.group_key): Group(r.first_at, r.last_sent_at, bool(r.firing))
        for r in rows
        if (r.receiver, r.group_key) in wanted
    }


async def claim(
    engine: AsyncEngine, ids: Sequence[int], now: float, until: float
) -> list[dict[str, Any]]:
    """Lease the rows that are still free; return those this call got, with their payloads."""
    if not ids:
        return []
    free = or_(ob.c.state == "pending", and_(ob.c.state == "delivering", ob.c.claimed_until < now))
    async with _writing(engine, "claim notifications") as conn:
        if conn.dialect.name == "postgresql":
            locked = await conn.execute(
                select(ob.c.id).where(ob.c.id.in_(ids), free).with_for_update(skip_locked=True)
            )
            ids = [r.id for r in locked]
            if not ids:
                return []
        result = await conn.execute(
            update(ob)
            .where(ob.c.id.in_(ids), free)
            .values(state="delivering", claimed_until=until)
            .returning(*ob.c)
        )
        got = [dict(r._mapping) for r in result]
    order = {row_id: i for i, row_id in enumerate(ids)}
    return sorted(got, key=lambda r: order[r["id"]])


async def _write_attempts(
    conn: AsyncConnection, settings: IncidentSettings, attempts: Sequence[tuple[Attempt, float]]
) -> None:
    """The delivery log rows, the outbox rows' new states and the timeline events of
    `attempts` (each with the time its outcome was known), a statement of each kind for all
    of them instead of three or four per attempt."""
    if not attempts:
        return
    await conn.execute(
        insert(dl),
        [
            {
                "outbox_id": a.row["id"],
                "incident_id": a.row["incident_id"],
                "receiver": a.row["receiver"],
                "idempotency_key": a.row["idempotency_key"],
                "attempt": a.row["attempts"] + int(a.tried),
                "started_at": a.started_at,
                "latency": a.latency,
                "status": a.status,
                "http_status": a.http_status,
                "response": a.response or None,
                "error": a.error or None,
            }
            for a, _ in attempts
        ],
    )
    await conn.execute(
        _OUTCOME,
        [
            {
                "row_id": a.row["id"],
                "new_state": a.status if a.status != "retry" else "pending",
                "tried": int(a.tried),
                "next_at": a.next_attempt_at,
                "delivered": now if a.status == "delivered" else None,
                "error": a.error or None,
            }
            for a, now in attempts
        ],
    )
    events: dict[int, list[tuple[tuple[str, str, dict[str, Any]], float]]] = {}
    for a, now in attempts:
        if a.event is not None:
            entry = (a.event[0], "watchd", a.event[1])
            events.setdefault(a.row["incident_id"], []).append((entry, now))
    ledger = Ledger(conn, max(now for _, now in attempts), settings)
    for incident_id, timed in events.items():
        await ledger.append_events(
            await ledger.load(incident_id),
            [entry for entry, _ in timed],
            times=[at for _, at in timed],
        )


# One statement for every outcome of a batch (executemany), built once.
_OUTCOME = (
    update(ob)
    .where(ob.c.id == bindparam("row_id"))
    .values(
        state=bindparam("new_state"),
        attempts=ob.c.attempts + bindparam("tried"),
        next_attempt_at=bindparam("next_at"),
        claimed_until=None,
        delivered_at=bindparam("delivered"),
        last_error=bindparam("error"),
    )
)


async def _release_and_group(
    conn: AsyncConnection, release: Sequence[int], groups: Sequence[tuple[str, str, Group]]
) -> None:
    """Give back leased rows not tried, and store the groups' timers (the last state of
    each group wins: `groups` are in the order they were decided)."""
    if release:
        await conn.execute(
            update(ob)
            .where(ob.c.id.in_(release), ob.c.state == "delivering")
            .values(state="pending", claimed_until=None)
        )
    latest = {(receiver, key): state for receiver, key, state in groups}
    if latest:
        await conn.execute(
            upsert(conn.dialect.name, ng, ("receiver", "group_key"), _GROUP_TIMERS),
            [
                {
                    "receiver": receiver,
                    "group_key": key,
                    "first_at": state.first_at,
                    "last_sent_at": state.last_sent_at,
                    "firing": state.firing,
                }
                for (receiver, key), state in latest.items()
            ],
        )


_GROUP_TIMERS = ("first_at", "last_sent_at", "firing")


@dataclass(frozen=True, slots=True)
class _Queued:
    attempts: Sequence[Attempt]
    release: Sequence[int]
    group: tuple[str, str, Group] | None
    now: float
    done: asyncio.Future[None]


class Recorder:
    """Group commit of delivery outcomes: what concurrent deliveries finish while one
    transaction is being written goes into the next one, so SQLite's single writer is not
    paid for once per notification. `record` returns once its outcome is committed."""

    def __init__(self, engine: AsyncEngine, settings: Callable[[], IncidentSettings]) -> None:
        self._engine = engine
        self._settings = settings
        self._queue: list[_Queued] = []
        self._flushing: asyncio.Task[None] | None = None

    async def record(
        self,
        attempts: Sequence[Attempt],
        *,
        release: Sequence[int] = (),
        group: tuple[str, str, Group] | None = None,
        now: float,
    ) -> None:
        done = asyncio.get_running_loop().create_future()
        self._queue.append(_Queued(attempts, release, group, now, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(
                self._flush(), name="watchd.notify.record"
            )
        await done

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                async with _writing(self._engine, "record notification deliveries") as conn:
                    attempts = [(a, q.now) for q in batch for a in q.attempts]
                    await _write_attempts(conn, self._settings(), attempts)
                    await _release_and_group(
                        conn,
                        [row_id for q in batch for row_id in q.release],
                        [q.group for q in batch if q.group is not None],
                    )
            except StoreError as exc:
                for q in batch:
                    if not q.done.done():
                        q.done.set_exception(exc)
            else:
                for q in batch:
                    if not q.done.done():
                        q.done.set_result(None)


async def expire(
    engine: AsyncEngine, settings: IncidentSettings, rows: Sequence[Row], now: float, reason: str
) -> None:
    """Give up on rows older than their receiver's max_age, with a log line and a timeline event."""
    attempts = [
        Attempt(
            row={
                "id": r.id,
                "incident_id": r.incident_id,
                "receiver": r.receiver,
                "idempotency_key": f"{r.incident_id}:{r.seq}",
                "attempts": r.attempts,
            },
            started_at=now,
            latency=0.0,
            status="expired",
            http_status=None,
            response="",
            error=reason,
            next_attempt_at=r.next_attempt_at,
            event=(
                "delivery_expired",
                {"receiver": r.receiver, "notification": r.kind, "seq": r.seq, "error": reason},
            ),
            tried=False,
        )
        for r in rows
    ]
    async with _writing(engine, "record expired notifications") as conn:
        await _write_attempts(conn, settings, [(a, now) for a in attempts])
