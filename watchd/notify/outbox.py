"""The outbox as the dispatcher sees it: its states, its one row type, and the reads and the
claim (lease) of rows; watchd.notify.record writes what became of them.

Rows move pending ─► delivering (leased until claimed_until) ─► delivered | skipped | failed |
expired, or back to pending with a later next_attempt_at. A lease that runs out (the process
died) makes the row pending again for whoever scans next: delivery is at least once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Double, Select, Text, and_, bindparam, cast, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from watchd.incidents.ledger import routing_alert_labels
from watchd.metrics_flow import OutboxFigures
from watchd.notify.router import LabelSets, routing_labels
from watchd.store.engine import reading, writing
from watchd.store.incident_tables import OutboxState
from watchd.store.incident_tables import incidents as inc
from watchd.store.incident_tables import outbox as ob
from watchd.store.json_text import loads
from watchd.store.members import bound_values, one_of
from watchd.store.notify_tables import deliveries as dl
from watchd.store.notify_tables import notify_groups as ng

CHUNK = 500  # ids per statement

OPEN_STATES = (OutboxState.PENDING, OutboxState.DELIVERING)


@dataclass(frozen=True, slots=True)
class Row:
    """An outbox row not yet final, with what routing needs from its incident (its key and
    the label sets it routes on). The scan leaves `payload` None; the claim reads it as the
    stored JSON text (`payload_text`), which `decoded` turns into `payload` when the row's
    job is served: a pass claims up to plan.MAX_PER_PASS rows, whose documents take under a
    third of the memory as text (~1.2 KB against ~4.2 KB for a storm's one-alert document),
    and decoding thousands of them at once held up the event loop (and, inside the claim's
    transaction, every other writer)."""

    id: int
    incident_id: int
    seq: int
    receiver: str
    kind: str
    state: OutboxState
    attempts: int
    created_at: float
    next_attempt_at: float
    claimed_until: float | None
    idempotency_key: str
    incident_key: str
    label_sets: LabelSets
    payload: dict[str, Any] | None = None
    payload_text: str | None = None

    def leased(self, now: float) -> bool:
        """Claimed by a delivery (here or in another process) whose lease still runs."""
        return self.state is OutboxState.DELIVERING and (self.claimed_until or 0.0) >= now

    def moved(
        self,
        state: OutboxState,
        attempts: int,
        next_attempt_at: float,
        claimed_until: float | None,
        payload_text: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Row:
        """This row with the columns that change while it is open as stored now, and its
        payload as read (`payload_text`) or decoded. (The constructor, not
        dataclasses.replace, which costs twice as much: a storm's passes move every row they
        claim, twice.)"""
        return Row(
            self.id,
            self.incident_id,
            self.seq,
            self.receiver,
            self.kind,
            state,
            attempts,
            self.created_at,
            next_attempt_at,
            claimed_until,
            self.idempotency_key,
            self.incident_key,
            self.label_sets,
            payload,
            payload_text,
        )

    def decoded(self) -> Row:
        """This row with its claimed payload text decoded into `payload`."""
        if self.payload_text is None:
            return self
        payload = loads(self.payload_text)
        return self.moved(
            self.state, self.attempts, self.next_attempt_at, self.claimed_until, payload=payload
        )


@dataclass(frozen=True, slots=True)
class Group:
    """The timers of one notification group (receiver, group key)."""

    first_at: float
    last_sent_at: float | None
    firing: bool


class KeptRows:
    """The open rows of the last scan as routed, kept for the next one.

    A storm's scans read thousands of open rows again and again while little changed
    between two of them; reading each in full (its incident's labels as JSON, the labels of
    its member alerts, routed afresh) was most of the dispatcher's CPU (bench/README.md,
    issue 13). A scan now reads the open rows' changing columns only (state, attempts, retry
    time, lease, and their incident's seq and opened_at) and reads in full just the rows it
    has not seen at that version: members join or leave an incident, and its severity moves,
    only with a timeline event, which moves the incident's seq, so an incident (id,
    opened_at) at the same seq routes the same. Only the rows of the last scan are kept, so
    it holds no more than one scan does.
    """

    def __init__(self) -> None:
        # By row id: its columns as _CURRENT read them (version, then the changing ones), and
        # the row as routed.
        self._kept: dict[int, tuple[tuple[Any, ...], Row]] = {}

    async def read(self, engine: AsyncEngine, free_at: float | None = None) -> list[Row]:
        """Every pending or leased row, in delivery order per incident and receiver; with
        `free_at`, only those free at that time (pending, or leased until before it)."""
        async with reading(engine, "read the outbox", full_reason=True) as conn:
            if free_at is None:
                result = await conn.execute(_CURRENT)
            else:
                result = await conn.execute(_CURRENT_FREE, {"now": free_at})
            current = [tuple(r) for r in result]
            before = self._kept
            fresh = await _routed(
                conn,
                [c[0] for c in current if c[0] not in before or before[c[0]][0][1:5] != c[1:5]],
            )
        kept: dict[int, tuple[tuple[Any, ...], Row]] = {}
        for columns in current:
            row_id = columns[0]
            row = fresh.get(row_id)
            if row is not None:
                # Read whole by a second statement (on PostgreSQL, maybe a later state than
                # `columns`): kept with the columns it has, so the next read compares to those.
                changing = (row.state.value, row.attempts, row.next_attempt_at, row.claimed_until)
                columns = (*columns[:5], *changing)
            elif row_id not in before:  # final between the two reads (PostgreSQL): next scan
                continue
            else:
                seen, row = before[row_id]
                if seen != columns:  # moved since the last read
                    state, attempts, next_at, claimed = columns[5:]
                    row = row.moved(OutboxState(state), attempts, next_at, claimed)
            kept[row_id] = (columns, row)
        self._kept = kept
        return [row for _, row in kept.values()]


_JOIN = ob.join(inc, inc.c.id == ob.c.incident_id)

# The columns of the outbox rows that change while a row stays open, and its incident's version.
_CHANGING = (
    select(
        ob.c.id,
        ob.c.incident_id,
        ob.c.seq,
        inc.c.seq,
        inc.c.opened_at,
        ob.c.state,
        ob.c.attempts,
        ob.c.next_attempt_at,
        ob.c.claimed_until,
    )
    .select_from(_JOIN)
    .order_by(ob.c.incident_id, ob.c.receiver, ob.c.seq, ob.c.id)
)
# ...of the open rows,
_CURRENT = _CHANGING.where(ob.c.state.in_([s.value for s in OPEN_STATES]))
# ...and of those free at :now (pending, or leased until before it).
_CURRENT_FREE = _CHANGING.where(
    or_(
        ob.c.state == OutboxState.PENDING.value,
        and_(
            ob.c.state == OutboxState.DELIVERING.value,
            ob.c.claimed_until < bindparam("now", type_=Double()),
        ),
    )
)

# The columns of Row up to its label sets, then those its incident routes on.
_WHOLE = select(
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
    ob.c.idempotency_key,
    inc.c.key,
    inc.c.group_labels,
    inc.c.severity,
    inc.c.item,
).select_from(_JOIN)


async def _routed(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Row]:
    """The outbox rows `ids` in full, with the label sets their incidents route on."""
    if not ids:
        return {}
    dialect = conn.dialect.name
    rows = (
        await conn.execute(
            _WHOLE.where(one_of(dialect, ob.c.id, "ids")), {"ids": bound_values(dialect, ids)}
        )
    ).all()
    alert_labels = await routing_alert_labels(conn, {r.incident_id for r in rows})
    out = {}
    # Unpacked, not read by column name (a storm's first pass reads thousands of rows whole):
    # _WHOLE's columns are Row's fields up to its label sets, then what those are made of.
    for *columns, group_labels, severity, item in rows:
        columns[5] = OutboxState(columns[5])  # the state
        members = alert_labels.get(columns[1], ())
        columns.append(routing_labels(group_labels or {}, severity, item, members))
        out[columns[0]] = Row(*columns)
    return out


async def open_rows(
    engine: AsyncEngine, kept: KeptRows | None = None, *, free_at: float | None = None
) -> list[Row]:
    """Every pending or leased row, in delivery order per incident and receiver; with `kept`,
    the rows it kept from the last scan are not read again unless they changed. `free_at`
    leaves out the rows leased beyond that time: a process alone on its store holds every
    such row itself and knows their chains (plan.scan's `held`), and in a storm they were
    most of what each pass read (the leased ones it had claimed, up to MAX_PER_PASS)."""
    return await (kept or KeptRows()).read(engine, free_at)


async def load_groups(
    engine: AsyncEngine, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Group]:
    """The stored timers of the groups `keys` (receiver, group key) that have any."""
    wanted = set(keys)
    if not wanted:
        return {}
    async with reading(engine, "read notification groups", full_reason=True) as conn:
        dialect = conn.dialect.name
        query = select(ng).where(one_of(dialect, ng.c.group_key, "keys"))
        group_keys = bound_values(dialect, sorted({k for _, k in wanted}))
        rows = (await conn.execute(query, {"keys": group_keys})).all()
    return {
        (r.receiver, r.group_key): Group(r.first_at, r.last_sent_at, bool(r.firing))
        for r in rows
        if (r.receiver, r.group_key) in wanted
    }


async def claim(engine: AsyncEngine, rows: Sequence[Row], now: float, until: float) -> list[Row]:
    """Lease those of `rows` that are still free; return the ones this call got, in the
    order given, as they are now (attempts, next attempt) with their payloads' text."""
    if not rows:
        return []
    ids = [r.id for r in rows]
    free = or_(
        ob.c.state == OutboxState.PENDING.value,
        and_(ob.c.state == OutboxState.DELIVERING.value, ob.c.claimed_until < now),
    )
    async with writing(engine, "claim notifications", full_reason=True) as conn:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            locked = await conn.execute(
                select(ob.c.id)
                .where(one_of(dialect, ob.c.id, "ids"), free)
                .with_for_update(skip_locked=True),
                {"ids": bound_values(dialect, ids)},
            )
            ids = [r.id for r in locked]
            if not ids:
                return []
        result = await conn.execute(
            update(ob)
            .where(one_of(dialect, ob.c.id, "ids"), free)
            .values(state=OutboxState.DELIVERING.value, claimed_until=until)
            # As text: decoded when the row's job is served (Row.decoded), not here, inside
            # the transaction that holds the store's write lock.
            .returning(ob.c.id, ob.c.attempts, ob.c.next_attempt_at, cast(ob.c.payload, Text)),
            {"ids": bound_values(dialect, ids)},
        )
        got = {row_id: (attempts, at, payload) for row_id, attempts, at, payload in result}
    claimed = []
    for row in rows:
        if row.id in got:
            attempts, next_at, payload = got[row.id]
            claimed.append(row.moved(OutboxState.DELIVERING, attempts, next_at, until, payload))
    return claimed


async def renew(engine: AsyncEngine, ids: Sequence[int], until: float) -> None:
    """Extend the leases of rows this process is still delivering to `until`."""
    async with writing(engine, "renew notification leases", full_reason=True) as conn:
        dialect = conn.dialect.name
        for i in range(0, len(ids), CHUNK):
            await conn.execute(
                update(ob)
                .where(
                    one_of(dialect, ob.c.id, "ids"),
                    ob.c.state == OutboxState.DELIVERING.value,
                )
                .values(claimed_until=until),
                {"ids": bound_values(dialect, ids[i : i + CHUNK])},
            )


async def release(engine: AsyncEngine, ids: Sequence[int]) -> int:
    """Give back the leases of rows whose delivery was stopped (they are pending again and
    go out on the next scan, here or on another node); how many were still leased."""
    released = 0
    async with writing(engine, "release notification leases", full_reason=True) as conn:
        dialect = conn.dialect.name
        for i in range(0, len(ids), CHUNK):
            result = await conn.execute(
                update(ob)
                .where(
                    one_of(dialect, ob.c.id, "ids"),
                    ob.c.state == OutboxState.DELIVERING.value,
                )
                .values(state=OutboxState.PENDING.value, claimed_until=None),
                {"ids": bound_values(dialect, ids[i : i + CHUNK])},
            )
            released += result.rowcount
    return released


async def release_abandoned(engine: AsyncEngine) -> int:
    """Make every leased row pending again, for a process that knows no other one delivers
    from this store; how many there were."""
    async with writing(engine, "release abandoned notification leases") as conn:
        result = await conn.execute(
            update(ob)
            .where(ob.c.state == OutboxState.DELIVERING.value)
            .values(state=OutboxState.PENDING.value, claimed_until=None)
        )
    return result.rowcount


async def last_tried(engine: AsyncEngine, rows: Sequence[Row]) -> dict[int, float]:
    """When the last attempt of each of `rows` ended (wall clock, from the delivery log)."""
    out: dict[int, float] = {}
    async with reading(engine, "read the delivery log", full_reason=True) as conn:
        dialect = conn.dialect.name
        query = (
            select(dl.c.outbox_id, func.max(dl.c.started_at + dl.c.latency))
            .where(
                one_of(dialect, dl.c.incident_id, "incidents"),
                one_of(dialect, dl.c.outbox_id, "ids"),
            )
            .group_by(dl.c.outbox_id)
        )
        for i in range(0, len(rows), CHUNK):
            part = rows[i : i + CHUNK]
            values = {
                "incidents": bound_values(dialect, sorted({r.incident_id for r in part})),
                "ids": bound_values(dialect, [r.id for r in part]),
            }
            out.update({r[0]: float(r[1]) for r in await conn.execute(query, values)})
    return out


def backlog_statement() -> Select[Any]:
    """The backlog's one statement (bench/outbox_backlog.py prints SQLite's plan of it)."""
    is_open = ob.c.state.in_([s.value for s in OPEN_STATES])
    first_open = select(func.min(ob.c.id)).where(is_open).scalar_subquery()
    return select(
        select(func.count()).select_from(ob).where(is_open).scalar_subquery(),
        select(ob.c.created_at).where(ob.c.id == first_open).scalar_subquery(),
        select(func.min(ob.c.next_attempt_at))
        .where(ob.c.state == OutboxState.PENDING.value)
        .scalar_subquery(),
    )


async def backlog(engine: AsyncEngine, now: float) -> OutboxFigures:
    """The outbox's backlog for /metrics, in one statement the state index serves: the rows
    not final, the age of the first inserted of them, how long the pending row due longest
    ago has waited. (Ids grow with insertion, so the lowest open id is the oldest row, found
    in the index; its created_at is one primary-key lookup.) 14 ms with 100,000 pending rows
    on SQLite (bench/outbox_backlog.py)."""
    async with reading(engine, "read the outbox backlog") as conn:
        count, created, due = (await conn.execute(backlog_statement())).one()
    return OutboxFigures(
        pending=int(count),
        oldest_age=max(0.0, now - created) if created is not None else 0.0,
        oldest_due=max(0.0, now - due) if due is not None else 0.0,
    )
