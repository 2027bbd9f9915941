"""The one writer of incident rows: every change comes with its timeline event and, when it
is notified, its outbox rows, all on the caller's connection (so in the caller's transaction).

    change ──► incidents row (seq + 1) ──► incident_events (seq) ──► outbox (one row per receiver,
                                                                      key "<incident>:<seq>")

One lock order on PostgreSQL (issue 19, finding 7): a transaction waits for an incident row only
in ascending id order, i.e. only while it holds no row with a higher id; a row below one it holds
is locked NOWAIT, and if another transaction has it, PostgreSQL answers lock_not_available and the
whole transaction runs again (watchd.store.engine.transact). Waits then only ever point to higher
ids, so they cannot form a cycle: no deadlock among incident rows, whichever order the pipeline,
timers, deliveries and operators meet incidents in. Rows are locked FOR NO KEY UPDATE (what an
UPDATE takes), so inserting a row that references an incident (events, outbox, members) is never
held up by it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import BigInteger, Integer, Row, Select, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import ReturningUpdate, Update

from watchd.incidents.model import Event, Incident, MemberGroup, Page, State
from watchd.incidents.payload import idempotency_key, notification_payload
from watchd.incidents.settings import IncidentSettings
from watchd.incidents.unwritten import UnwrittenIncidents
from watchd.model import Alert
from watchd.store.bound_rows import Columns, bound_rows, bound_table
from watchd.store.bulk import insert_rows
from watchd.store.committed import tally
from watchd.store.incident_tables import OutboxState
from watchd.store.incident_tables import incident_alerts as ia
from watchd.store.incident_tables import incident_events as ev
from watchd.store.incident_tables import incidents as inc
from watchd.store.incident_tables import outbox as ob
from watchd.store.members import bound_values, one_of
from watchd.store.tables import alerts as al

# Timeline events counted in watchd_incidents_total{event} (at their transaction's commit).
COUNTED_EVENTS = frozenset({"opened", "reopened", "resolved"})


def member_labels(alerts: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The labels an incident routes on, from its alert rows: those of its own (member) alerts,
    firing or resolved. Symptoms (alerts of unreachable children) are another item's outage:
    they do not route the parent's incident. The maps are the rows' own: routing reads them."""
    return [a["labels"] for a in alerts if a["role"] == "member"]


async def routing_alert_labels(
    conn: AsyncConnection, incident_ids: Collection[int]
) -> dict[int, list[dict[str, str]]]:
    """member_labels of several incidents in one query (the dispatcher's scan, the repeats)."""
    if not incident_ids:
        return {}
    dialect = conn.dialect.name
    rows = await conn.execute(
        _member_labels(dialect), {"ids": bound_values(dialect, sorted(incident_ids))}
    )
    found: dict[int, list[dict[str, str]]] = {}
    for incident_id, labels in rows:
        found.setdefault(incident_id, []).append(dict(labels))
    return found


class IncidentNotFound(LookupError):
    """There is no incident `incident_id`."""

    def __init__(self, incident_id: int) -> None:
        super().__init__(f"There is no incident {incident_id}.")
        self.incident_id = incident_id


def incident_from_row(row: Row[Any]) -> Incident:
    return Incident.from_mapping(row._mapping)


class Ledger:
    """Incident reads and writes on one connection at one instant `now`.

    With `batch` (the alerts of an ingestion batch by fingerprint), the incidents it opens
    are held in memory and written together by `write_held` (see watchd.incidents.unwritten):
    the caller writes them before it reads the incident tables with SQL of its own, and at
    the end of the batch.

    The ledger keeps the incidents it read or wrote as they now are, and loads each only once
    per transaction: a second wave of alerts joining open incidents loaded each of them three
    times (bench/README.md, issue 13). A kept incident is as stored because no one else can
    change it until the transaction ends: on SQLite the transaction holds the write lock, on
    PostgreSQL only rows this ledger has locked are kept. Writes of incident rows go through
    the ledger, which keeps what they return (or forgets what it cannot know).

    A batch's ledger also holds back its writes to kept incidents that exist already: their
    changed columns, timeline events and outbox rows are written together by `write_held`,
    one statement per table (per set of columns changed), as for its new incidents. The end
    of an outage resolved 5,000 incidents with eight statements each (issue 13).
    """

    def __init__(
        self,
        conn: AsyncConnection,
        now: float,
        settings: IncidentSettings,
        *,
        batch: Mapping[str, Alert] | None = None,
    ) -> None:
        self.conn = conn
        self.now = now
        self.settings = settings
        self._locked: set[int] = set()  # incident rows this transaction holds (PostgreSQL)
        self._new = UnwrittenIncidents(batch) if batch is not None else None
        self._kept: dict[int, Incident] = {}  # written incidents as they are now (see above)
        # A batch's writes to stored incidents held back (see above): changed columns by
        # incident, then the rows to insert.
        self._held_changes: dict[int, dict[str, Any]] = {}
        self._held_events: list[dict[str, Any]] = []
        self._held_outbox: list[dict[str, Any]] = []
        # alert_rows read ahead for several incidents (read_alert_rows), each taken once.
        self._read_ahead: dict[int, list[dict[str, Any]]] = {}

    def remember(self, incidents: Collection[Incident]) -> None:
        """Keep incidents the caller read on this ledger's connection in this transaction:
        later loads take them from memory. (On PostgreSQL only those the ledger has locked:
        another transaction may change the others.)"""
        for incident in incidents:
            if not self.postgres or incident.id in self._locked:
                self._kept[incident.id] = incident

    def _held(self, incident_id: int) -> UnwrittenIncidents | None:
        """The holder of the incident's rows when it is new and not written yet."""
        new = self._new
        return new if new is not None and incident_id in new else None

    def holds(self, incident_id: int) -> bool:
        """Whether the incident is new and held in memory, not written yet."""
        return self._held(incident_id) is not None

    async def write_held(self) -> None:
        """Write what this ledger holds back: the incidents it opened (one INSERT per table),
        then its changes to stored incidents (an UPDATE per set of columns changed, an INSERT
        of their events and one of their outbox rows). Callers write before SQL of their own
        reads the incident tables, and at the end of the batch."""
        if self._new is None:
            return
        self.remember(await self._new.write(self.conn))
        changed, self._held_changes = self._held_changes, {}
        events, self._held_events = self._held_events, []
        outbox, self._held_outbox = self._held_outbox, []
        dialect = self.conn.dialect.name
        for columns, rows in _by_columns(((i,), v) for i, v in changed.items()).items():
            statement, bound = _update_each(dialect, columns)
            await self.conn.execute(statement, bound_rows(dialect, "v", bound, rows))
        await insert_rows(self.conn, ev, events)
        if outbox:
            await insert_rows(self.conn, ob, outbox)

    def _holds_back(self, incident_id: int) -> bool:
        """Whether writes to this stored incident wait for write_held (a batch's ledger, the
        incident kept, so what the ledger returns of it is what is in memory)."""
        return self._new is not None and incident_id in self._kept

    @property
    def postgres(self) -> bool:
        return self.conn.dialect.name == "postgresql"

    async def load(self, incident_id: int, *, lock: bool = True) -> Incident:
        """The incident, row-locked on PostgreSQL until the transaction ends (in the lock order
        of the module doc)."""
        held = self._held(incident_id)
        if held is not None:
            return held.incident(incident_id)
        kept = self._kept.get(incident_id)
        if kept is not None:
            return kept
        query = _LOAD
        if lock and self.postgres and incident_id not in self._locked:
            query = _LOAD_LOCKED_NOWAIT if self._below_held(incident_id) else _LOAD_LOCKED
        row = (await self.conn.execute(query, {"incident_id": incident_id})).first()
        if row is None:
            raise IncidentNotFound(incident_id)
        if query is not _LOAD:
            self._locked.add(incident_id)
        incident = incident_from_row(row)
        self.remember((incident,))
        return incident

    async def lock(self, incident_ids: Collection[int]) -> list[Incident]:
        """Lock these incidents (PostgreSQL; in the module doc's order) and return them as they
        are once locked, by id; those that do not exist are left out."""
        ready: list[Incident] = []  # held new or kept: no statement needed
        ids: list[int] = []
        for incident_id in sorted(set(incident_ids)):
            held = self._held(incident_id)
            kept = held.incident(incident_id) if held is not None else self._kept.get(incident_id)
            if kept is None:
                ids.append(incident_id)
            else:
                ready.append(kept)
        rows: Iterable[Row[Any]] = ()
        if ids and not self.postgres:
            rows = await self.conn.execute(_LOAD_MANY_SQLITE, {"ids": bound_values("sqlite", ids)})
        elif ids:
            rows = await self._lock_rows(ids, _LOCK_MANY, _LOCK_MANY_NOWAIT)
        found = [incident_from_row(r) for r in rows]
        self.remember(found)
        return sorted(ready + found, key=lambda i: i.id)

    async def _lock_rows(
        self, ids: Sequence[int], query: Select[Any], nowait: Select[Any]
    ) -> list[Row[Any]]:
        """Lock the incident rows `ids` (PostgreSQL) in the module doc's order with `query`
        (`nowait` for those below a row already held); the rows it selects."""
        found: list[Row[Any]] = []
        below = [i for i in ids if self._below_held(i)]
        above = [i for i in ids if not self._below_held(i)]
        for statement, chunk in ((nowait, below), (query, above)):
            if chunk:
                found += (await self.conn.execute(statement, {"ids": chunk})).all()
                self._locked.update(chunk)
        return found

    def _below_held(self, incident_id: int) -> bool:
        return bool(self._locked) and incident_id < max(self._locked)

    async def create(
        self, values: dict[str, Any], *, event: tuple[str, str, dict[str, Any]] | None = None
    ) -> Incident:
        """A new incident row; `event` (kind, actor, detail) is its first timeline entry, written
        with it (seq 1) rather than as an update of the new row afterwards."""
        row = {
            "title": "",
            "item": "",
            "seq": 0 if event is None else 1,
            "audible": False,
            "escalation_step": 0,
            "sla_ack_breached": False,
            "sla_resolve_breached": False,
            "muted_seconds": 0.0,
            "opened_at": self.now,
            "updated_at": self.now,
            "state": State.OPEN.value,
            **values,
        }
        if self._new is not None:
            row["id"] = await self._new.new_id(self.conn)
            incident = self._new.add(row)
        else:
            incident = incident_from_row((await self.conn.execute(_CREATE, row)).one())
        self._locked.add(incident.id)  # a new row: no one else sees it before the commit
        if self._new is None:  # else held, and kept once written (write_held)
            self.remember((incident,))
        if event is not None:
            kind, actor, detail = event
            row = _event_row(incident.id, 1, self.now, kind, actor, dict(detail))
            await self._insert_events(incident.id, [row])
        return incident

    async def update(self, incident: Incident, **values: Any) -> Incident:
        """Change the incident's row; the new row comes back in the same statement (RETURNING:
        SQLite >= 3.35 and PostgreSQL), the incident is written several times per alert."""
        values = {"updated_at": self.now, **values}
        held = self._held(incident.id)
        if held is not None:
            return held.update(incident.id, values)
        if self._holds_back(incident.id):
            if _SCALAR.issuperset(values):
                incident = self._kept[incident.id] = self._kept[incident.id].changed(values)
                self._held_changes.setdefault(incident.id, {}).update(values)
                return incident
            await self.write_held()  # the row the UPDATE returns then holds what was held back
        result = await self.conn.execute(
            _incident_update(tuple(sorted(values))),
            {"incident_id": incident.id, **{f"new_{k}": v for k, v in values.items()}},
        )
        incident = incident_from_row(result.one())
        self.remember((incident,))
        return incident

    async def set_problem(self, incident_ids: Collection[int], problem_id: int) -> None:
        """Make these incidents (locked by the caller) part of problem `problem_id`."""
        await self.write_held()
        await self.conn.execute(
            update(inc).where(inc.c.id.in_(incident_ids)).values(problem_id=problem_id)
        )
        for incident_id in incident_ids:  # read again when next loaded
            self._kept.pop(incident_id, None)

    async def event(
        self,
        incident: Incident,
        kind: str,
        actor: str,
        detail: dict[str, Any] | None = None,
        *,
        changes: dict[str, Any] | None = None,
    ) -> Incident:
        """Append a timeline event (seq + 1) and return the incident with its new seq;
        `changes` are written to the incident row with the seq, as one change."""
        return await self._append(incident, kind, actor, detail, changes)

    async def notify(
        self,
        incident: Incident,
        kind: str,
        detail: dict[str, Any] | None = None,
        *,
        receivers: Sequence[str] | None = None,
        pages: Sequence[Page] = (),
        changes: dict[str, Any] | None = None,
    ) -> Incident:
        """A notification intent: a "notification" timeline event and one outbox row per
        receiver, keyed "<incident>:<seq>", in the caller's transaction.

        `receivers` overrides the route tree (escalation steps name their own receivers).
        `pages` are people, each reached through one receiver at their own address: a row
        each, keyed per person and contact, and listed in the event as who was paged.
        `changes` are written to the incident row in the same statement as the event's seq.
        """
        alerts = await self.alert_rows(incident.id)
        names = (
            list(receivers)
            if receivers is not None
            else self.settings.receivers_for(incident, member_labels(alerts))
        )
        about: dict[str, Any] = {"kind": kind, "receivers": names}
        if pages:
            about["pages"] = [page.summary() for page in pages]
        incident = await self._append(
            incident, "notification", "watchd", {**about, **(detail or {})}, changes
        )
        await self._outbox(
            incident,
            Event(incident.id, incident.seq, self.now, kind, "watchd", dict(detail or {})),
            [(name, None) for name in dict.fromkeys(names)]
            + [(page.receiver, page) for page in dict.fromkeys(pages)],
            alerts,
        )
        return incident

    async def _append(
        self,
        incident: Incident,
        kind: str,
        actor: str,
        detail: dict[str, Any] | None,
        changes: dict[str, Any] | None = None,
    ) -> Incident:
        """The incident with its seq moved on (and `changes` made), its event written."""
        seq = incident.seq + 1
        incident = await self.update(incident, seq=seq, **(changes or {}))
        row = _event_row(incident.id, seq, self.now, kind, actor, dict(detail or {}))
        await self._insert_events(incident.id, [row])
        return incident

    async def _insert_events(self, incident_id: int, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if row["kind"] in COUNTED_EVENTS:
                # watchd_incidents_total{event}: counted when this transaction commits.
                tally(self.conn, row["kind"])
        held = self._held(incident_id)
        if held is not None:
            held.add_events(rows)
        elif self._holds_back(incident_id):
            self._held_events += rows
        else:
            await self.conn.execute(insert(ev), rows)

    async def _outbox(
        self,
        incident: Incident,
        event: Event,
        targets: Sequence[tuple[str, Page | None]],
        alerts: Sequence[dict[str, Any]],
    ) -> None:
        if not targets:
            return
        rows = [
            {
                "incident_id": incident.id,
                "seq": event.seq,
                "idempotency_key": idempotency_key(incident.id, event.seq, page),
                "receiver": name,
                "kind": event.kind,
                "payload": notification_payload(incident, event, alerts, name, page),
                "state": OutboxState.PENDING.value,
                "attempts": 0,
                "created_at": self.now,
                "next_attempt_at": self.now,
            }
            for name, page in targets
        ]
        held = self._held(incident.id)
        if held is not None:
            held.add_outbox(rows)
        elif self._holds_back(incident.id):
            self._held_outbox += rows
        else:
            await insert_rows(self.conn, ob, rows)

    async def member_groups(self, incident_id: int) -> list[MemberGroup]:
        """The incident's members grouped and counted: what settling needs, in O(groups) rows.

        Settling runs for every alert that joins, so reading every member row each time would
        make an incident of n alerts cost n² (measured: 146 new alerts/s at 1,000 alerts).
        """
        held = self._held(incident_id)
        if held is not None:
            return held.member_groups(incident_id)
        rows = await self.conn.execute(_MEMBER_GROUPS, {"incident_id": incident_id})
        return [MemberGroup(*row) for row in rows]

    async def member_groups_of(self, incident_ids: Collection[int]) -> dict[int, list[MemberGroup]]:
        """member_groups of several incidents, those not held in memory read in one query
        (an incident with no members has an empty list)."""
        found: dict[int, list[MemberGroup]] = {}
        stored = []
        for incident_id in incident_ids:
            held = self._held(incident_id)
            if held is None:
                stored.append(incident_id)
                found[incident_id] = []
            else:
                found[incident_id] = held.member_groups(incident_id)
        if stored:
            dialect = self.conn.dialect.name
            rows = await self.conn.execute(
                _member_groups_of(dialect), {"ids": bound_values(dialect, sorted(stored))}
            )
            for incident_id, *group in rows:
                found[incident_id].append(MemberGroup(*group))
        return found

    async def read_alert_rows(self, incident_ids: Collection[int]) -> None:
        """Read the alert_rows of these stored incidents in one query, for the next
        alert_rows of each (until its members change): incidents about to notify."""
        if not incident_ids:
            return
        dialect = self.conn.dialect.name
        rows = await self.conn.execute(
            _alert_rows_of(dialect), {"ids": bound_values(dialect, sorted(incident_ids))}
        )
        found: dict[int, list[dict[str, Any]]] = {i: [] for i in incident_ids}
        for incident_id, *columns in rows:
            found[incident_id].append(dict(zip(_ALERT_ROW_NAMES, columns, strict=True)))
        self._read_ahead.update(found)

    async def alert_rows(self, incident_id: int) -> list[dict[str, Any]]:
        """The incident's alerts with their stored labels, annotations, times and mute reason."""
        ahead = self._read_ahead.pop(incident_id, None)
        if ahead is not None:
            return ahead
        held = self._held(incident_id)
        if held is not None:
            found = held.alert_rows(incident_id)
            if found is not None:
                return found
            await self.write_held()
        rows = await self.conn.execute(_ALERT_ROWS, {"incident_id": incident_id})
        return [dict(r._mapping) for r in rows]

    async def events(self, incident_id: int) -> list[Event]:
        await self.write_held()  # its events may be held back
        rows = await self.conn.execute(
            select(ev).where(ev.c.incident_id == incident_id).order_by(ev.c.seq)
        )
        return [Event(r.incident_id, r.seq, r.time, r.kind, r.actor, dict(r.detail)) for r in rows]

    async def set_member(self, incident_id: int, fingerprint: str, **values: Any) -> None:
        self._read_ahead.pop(incident_id, None)
        held = self._held(incident_id)
        if held is not None:
            held.set_member(incident_id, fingerprint, {"updated_at": self.now, **values})
            return
        await self.conn.execute(
            update(ia)
            .where(ia.c.incident_id == incident_id, ia.c.fingerprint == fingerprint)
            .values(updated_at=self.now, **values)
        )

    async def set_members(
        self, incident_id: int, fingerprints: Sequence[str], **values: Any
    ) -> None:
        """set_member for several alerts of the incident at once (the same values)."""
        self._read_ahead.pop(incident_id, None)
        held = self._held(incident_id)
        if held is not None:
            for fingerprint in fingerprints:
                held.set_member(incident_id, fingerprint, {"updated_at": self.now, **values})
            return
        dialect = self.conn.dialect.name
        await self.conn.execute(
            update(ia)
            .where(ia.c.incident_id == incident_id, one_of(dialect, ia.c.fingerprint, "fps"))
            .values(updated_at=self.now, **values),
            {"fps": bound_values(dialect, fingerprints)},
        )

    async def set_members_each(self, changes: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """set_member for many (incident id, fingerprint, values): those of held incidents in
        memory, the stored ones in one UPDATE per set of columns changed. 5,000 incidents each
        losing an alert at the end of an outage cost a statement each."""
        stored: list[tuple[tuple[int, str], dict[str, Any]]] = []
        for incident_id, fingerprint, values in changes:
            self._read_ahead.pop(incident_id, None)
            held = self._held(incident_id)
            if held is not None:
                held.set_member(incident_id, fingerprint, {"updated_at": self.now, **values})
            else:
                stored.append(((incident_id, fingerprint), values))
        dialect = self.conn.dialect.name
        for columns, rows in _by_columns(stored).items():
            statement, bound = _set_members_each(dialect, columns)
            values = bound_rows(dialect, "v", bound, rows)
            await self.conn.execute(statement, {**values, "now": self.now})

    async def add_members(self, incident_id: int, members: Sequence[dict[str, Any]]) -> None:
        """Insert several new members at once; each dict holds add_member's keyword values."""
        await self.add_members_to_each({incident_id: members})

    async def add_members_to_each(self, members: Mapping[int, Sequence[dict[str, Any]]]) -> None:
        """add_members for several incidents by id: the stored ones' rows in one INSERT."""
        rows = []
        for incident_id, joining in members.items():
            self._read_ahead.pop(incident_id, None)
            held = self._held(incident_id)
            for member in joining:
                row = {
                    "incident_id": incident_id,
                    "joined_at": self.now,
                    "updated_at": self.now,
                    **member,
                }
                if held is None:
                    rows.append(row)
                else:
                    held.add_member(row)
        await insert_rows(self.conn, ia, rows)  # compiled once, not each row's parameters

    async def member_status(self, incident_id: int, fingerprint: str) -> str | None:
        """The status of the alert in the incident, or None when it is not one of its alerts."""
        held = self._held(incident_id)
        if held is not None:
            return held.member_status(incident_id, fingerprint)
        return (
            await self.conn.execute(
                _MEMBER_STATUS, {"incident_id": incident_id, "fingerprint": fingerprint}
            )
        ).scalar()

    async def append_events(
        self,
        incident: Incident,
        entries: Sequence[tuple[str, str, dict[str, Any]]],
        *,
        times: Sequence[float] | None = None,
    ) -> Incident:
        """Append several timeline events (kind, actor, detail) with consecutive seqs at once,
        at `times` (one per entry; default: the ledger's now)."""
        rows = self._event_rows(incident, entries, times)
        incident = await self.update(incident, seq=incident.seq + len(entries))
        await self._insert_events(incident.id, rows)
        return incident

    async def append_events_to_each(
        self,
        appends: Mapping[int, tuple[Sequence[tuple[str, str, dict[str, Any]]], Sequence[float]]],
    ) -> None:
        """append_events for several incidents by id, each entry (kind, actor, detail) at its
        time, without reading them: their seqs move on in one UPDATE that returns them (after
        a lock of the ids alone on PostgreSQL, in the module doc's order), the events go in in
        one INSERT. A storm's delivery outcomes append an event to an incident each; loading
        each incident (its JSON columns decoded) for its seq cost more than the writes. An id
        with no incident is left out. Incidents held in memory or held back (a batch's) are
        appended to in memory, as append_events does."""
        rest: dict[int, tuple[Sequence[tuple[str, str, dict[str, Any]]], Sequence[float]]] = {}
        for incident_id, (entries, times) in appends.items():
            if self._held(incident_id) is not None or self._holds_back(incident_id):
                await self.append_events(await self.load(incident_id), entries, times=times)
            elif entries:
                rest[incident_id] = (entries, times)
        if not rest:
            return
        ids = sorted(rest)
        dialect = self.conn.dialect.name
        if self.postgres:
            await self._lock_rows(
                [i for i in ids if i not in self._locked], _LOCK_IDS, _LOCK_IDS_NOWAIT
            )
        counts = bound_rows(dialect, "v", _SEQ_STEPS, [(i, len(rest[i][0])) for i in ids])
        moved = await self.conn.execute(_bump_seqs(dialect), {**counts, "now": self.now})
        rows: list[dict[str, Any]] = []
        for incident_id, seq in moved:
            kept = self._kept.get(incident_id)
            if kept is not None:
                self._kept[incident_id] = kept.changed({"seq": seq, "updated_at": self.now})
            entries, times = rest[incident_id]
            first = seq - len(entries)  # the seq before these events
            rows += [  # the details encoded at once: no copy to keep
                _event_row(incident_id, first + 1 + n, times[n], kind, actor, detail)
                for n, (kind, actor, detail) in enumerate(entries)
            ]
        await insert_rows(self.conn, ev, rows)  # compiled once, not each row's parameters

    def _event_rows(
        self,
        incident: Incident,
        entries: Sequence[tuple[str, str, dict[str, Any]]],
        times: Sequence[float] | None,
    ) -> list[dict[str, Any]]:
        """incident_events rows for `entries`, numbered on from the incident's seq."""
        return [
            _event_row(
                incident.id,
                incident.seq + 1 + i,
                times[i] if times is not None else self.now,
                kind,
                actor,
                dict(detail),
            )
            for i, (kind, actor, detail) in enumerate(entries)
        ]

    async def add_member(
        self,
        incident_id: int,
        fingerprint: str,
        *,
        role: str,
        item: str,
        severity: str,
        status: str,
        muted: str | None,
    ) -> None:
        member = {"role": role, "item": item, "severity": severity, "status": status}
        await self.add_members(
            incident_id, [{"fingerprint": fingerprint, **member, "muted": muted}]
        )


def _event_row(
    incident_id: int, seq: int, time: float, kind: str, actor: str, detail: dict[str, Any]
) -> dict[str, Any]:
    """An incident_events row (`detail` as given: callers copy it where theirs may change)."""
    return {
        "incident_id": incident_id,
        "seq": seq,
        "time": time,
        "kind": kind,
        "actor": actor,
        "detail": detail,
    }


# The statements of the hot paths (opening, joining, settling, notifying) are built once:
# building one per call cost as much CPU as running it (an update: 281 vs 141 µs).
_LOAD = select(inc).where(inc.c.id == bindparam("incident_id"))
_LOAD_LOCKED = _LOAD.with_for_update(key_share=True)
_LOAD_LOCKED_NOWAIT = _LOAD.with_for_update(key_share=True, nowait=True)
_LOAD_MANY = select(inc).where(inc.c.id.in_(bindparam("ids", expanding=True))).order_by(inc.c.id)
# On SQLite the ids are one value: a statement per number of ids filled the connections'
# statement caches (see watchd.store.members). PostgreSQL's driver does not keep statements
# that large, and its locking queries below stay as they are.
_LOAD_MANY_SQLITE = select(inc).where(one_of("sqlite", inc.c.id, "ids")).order_by(inc.c.id)
_LOCK_MANY = _LOAD_MANY.with_for_update(key_share=True)  # locked in id order, as returned
_LOCK_MANY_NOWAIT = _LOAD_MANY.with_for_update(key_share=True, nowait=True)
_CREATE = insert(inc).returning(inc)
# append_events_to_each's lock (PostgreSQL only): the ids as one array, one SQL text for any number.
_LOAD_IDS = select(inc.c.id).where(one_of("postgresql", inc.c.id, "ids"))
_LOCK_IDS = _LOAD_IDS.order_by(inc.c.id).with_for_update(key_share=True)
_LOCK_IDS_NOWAIT = _LOAD_IDS.order_by(inc.c.id).with_for_update(key_share=True, nowait=True)
# (incident id, events appended) rows of append_events_to_each, bound as one parameter.
_SEQ_STEPS: Columns = (("id", BigInteger()), ("n", Integer()))


@cache
def _bump_seqs(dialect: str) -> ReturningUpdate[Any]:
    """UPDATE incidents SET seq = seq + n FROM the bound (id, n) rows RETURNING id, seq."""
    steps = bound_table(dialect, "v", _SEQ_STEPS)
    return (
        update(inc)
        .where(inc.c.id == steps.c.id)
        .values(seq=inc.c.seq + steps.c.n, updated_at=bindparam("now"))
        .returning(inc.c.id, inc.c.seq)
    )


_MEMBER_STATUS = select(ia.c.status).where(
    ia.c.incident_id == bindparam("incident_id"), ia.c.fingerprint == bindparam("fingerprint")
)
_MEMBER_GROUPS = (
    select(ia.c.role, ia.c.status, ia.c.severity, ia.c.muted, func.count())
    .where(ia.c.incident_id == bindparam("incident_id"))
    .group_by(ia.c.role, ia.c.status, ia.c.severity, ia.c.muted)
)


@cache
def _set_members_each(dialect: str, columns: tuple[str, ...]) -> tuple[Update, Columns]:
    """UPDATE incident_alerts SET <columns>, updated_at FROM bound (incident id, fingerprint,
    <columns>) rows; with the bound columns for bound_rows."""
    bound: Columns = (
        ("incident_id", ia.c.incident_id.type),
        ("fingerprint", ia.c.fingerprint.type),
        *((column, ia.c[column].type) for column in columns),
    )
    v = bound_table(dialect, "v", bound)
    statement = (
        update(ia)
        .where(ia.c.incident_id == v.c.incident_id, ia.c.fingerprint == v.c.fingerprint)
        .values({**{c: v.c[c] for c in columns}, "updated_at": bindparam("now")})
    )
    return statement, bound


def _by_columns(
    changes: Iterable[tuple[tuple[Any, ...], Mapping[str, Any]]],
) -> dict[tuple[str, ...], list[tuple[Any, ...]]]:
    """Changes (the row's key, its new values by column) grouped by the columns they set,
    for one set-wise UPDATE per group: each row is its key, then its values in the order of
    the group's columns (sorted)."""
    groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for key, values in changes:
        columns = tuple(sorted(values))
        groups.setdefault(columns, []).append((*key, *(values[c] for c in columns)))
    return groups


# The columns of an incident an update may hold back: those bound_rows binds as they are (not
# the JSON of group_labels).
_SCALAR = frozenset(c.name for c in inc.c if c.name not in ("id", "key", "group_labels"))


@cache
def _update_each(dialect: str, columns: tuple[str, ...]) -> tuple[Update, Columns]:
    """UPDATE incidents SET <columns> FROM bound (id, <columns>) rows; with the bound columns
    for bound_rows."""
    bound: Columns = (("id", inc.c.id.type), *((c, inc.c[c].type) for c in columns))
    v = bound_table(dialect, "v", bound)
    statement = update(inc).where(inc.c.id == v.c.id).values({c: v.c[c] for c in columns})
    return statement, bound


@cache
def _member_groups_of(dialect: str) -> Select[Any]:
    """_MEMBER_GROUPS of the bound incident ids, each group led by its incident's id."""
    return (
        select(ia.c.incident_id, ia.c.role, ia.c.status, ia.c.severity, ia.c.muted, func.count())
        .where(one_of(dialect, ia.c.incident_id, "ids"))
        .group_by(ia.c.incident_id, ia.c.role, ia.c.status, ia.c.severity, ia.c.muted)
    )


# Built once per dialect, the ids bound as one value: the dispatcher asks for the incidents of
# every open outbox row, a number that follows the load (see watchd.store.members).
@cache
def _member_labels(dialect: str) -> Select[int, dict[str, str]]:
    return (
        select(ia.c.incident_id, al.c.labels)
        .select_from(ia.join(al, al.c.fingerprint == ia.c.fingerprint))
        .where(one_of(dialect, ia.c.incident_id, "ids"), ia.c.role == "member")
        .order_by(ia.c.incident_id, ia.c.joined_at, ia.c.fingerprint)
    )


_ALERT_ROW_COLUMNS = (
    ia.c.fingerprint,
    ia.c.role,
    ia.c.muted,
    ia.c.status,
    al.c.labels,
    al.c.annotations,
    al.c.starts_at,
    al.c.ends_at,
    al.c.generator_url,
    al.c.source,
)
_ALERT_ROW_NAMES = tuple(c.name for c in _ALERT_ROW_COLUMNS)
_ALERT_JOIN = ia.join(al, al.c.fingerprint == ia.c.fingerprint)
_ALERT_ROWS = (
    select(*_ALERT_ROW_COLUMNS)
    .select_from(_ALERT_JOIN)
    .where(ia.c.incident_id == bindparam("incident_id"))
    .order_by(ia.c.joined_at, ia.c.fingerprint)
)


@cache
def _alert_rows_of(dialect: str) -> Select[Any]:
    """_ALERT_ROWS of the bound incident ids, each row led by its incident's id."""
    return (
        select(ia.c.incident_id, *_ALERT_ROW_COLUMNS)
        .select_from(_ALERT_JOIN)
        .where(one_of(dialect, ia.c.incident_id, "ids"))
        .order_by(ia.c.incident_id, ia.c.joined_at, ia.c.fingerprint)
    )


@lru_cache(maxsize=64)
def _incident_update(columns: tuple[str, ...]) -> ReturningUpdate[Any]:
    """UPDATE incidents SET <columns> ... RETURNING the row, one per set of columns changed;
    the values are bound as new_<column>."""
    return (
        update(inc)
        .where(inc.c.id == bindparam("incident_id"))
        .values({column: bindparam(f"new_{column}") for column in columns})
        .returning(inc)
    )
