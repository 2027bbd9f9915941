"""Incidents opened in the current transaction, held in memory and written set-wise.

A storm opens thousands of incidents in a few transactions. Written as they were made, each
cost about 15 statements (its row, its members, every timeline event, every update of the row
while it settles, its outbox rows): ~5 ms of CPU an incident, 1,360 alerts/s in a storm. The
alert pipeline's Ledger keeps a new incident here instead, answers reads of it from here, and
writes all of them with one INSERT per table when the batch is done (`write`): no other
transaction can see a row before the commit anyway, so nothing is lost by writing it late in
the same transaction. Whatever reads these tables with SQL of its own writes them first
(`Ledger.write_held`).

Ids are taken up front, so notification payloads and idempotency keys name the final id:
SQLite (one writer, which holds the write lock here) counts on from the highest id, PostgreSQL
draws them from the table's sequence a block at a time (a gap on rollback, as any serial).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from watchd.incidents.model import Incident, MemberGroup
from watchd.model import Alert
from watchd.store.bulk import insert_rows
from watchd.store.incident_tables import incident_alerts as ia
from watchd.store.incident_tables import incident_events as ev
from watchd.store.incident_tables import incidents as inc
from watchd.store.incident_tables import outbox as ob

# Ids drawn from PostgreSQL's sequence per statement: a storm's batch opens up to hundreds.
ID_BLOCK = 64

_EMPTY_ROW: dict[str, Any] = {column.name: None for column in inc.columns}


class UnwrittenIncidents:
    """The rows of incidents opened in this transaction, written together by `write`.

    `alerts` are the batch's alerts by fingerprint, as the transaction stored them: the alert
    rows of a member are built from them (`alert_rows`).
    """

    def __init__(self, alerts: Mapping[str, Alert]) -> None:
        self._alerts = alerts
        self._rows: dict[int, dict[str, Any]] = {}
        # Each held row as an Incident, changed with the row (Incident.changed): settling reads
        # a new incident several times.
        self._incidents: dict[int, Incident] = {}
        # Members by incident, in the order they joined (fingerprint → incident_alerts row).
        self._members: dict[int, dict[str, dict[str, Any]]] = {}
        self._events: list[dict[str, Any]] = []
        self._outbox: list[dict[str, Any]] = []
        self._ids: list[int] = []
        self._last_id: int | None = None  # SQLite: the highest id given out

    def __contains__(self, incident_id: object) -> bool:
        return incident_id in self._rows

    async def new_id(self, conn: AsyncConnection) -> int:
        """The id the next incident of this transaction gets."""
        if conn.dialect.name == "postgresql":
            if not self._ids:
                drawn = await conn.execute(_DRAW_IDS, {"n": ID_BLOCK})
                self._ids = sorted(drawn.scalars(), reverse=True)
            return self._ids.pop()
        if self._last_id is None:
            self._last_id = (await conn.execute(_HIGHEST_ID)).scalar_one()
        self._last_id += 1
        return self._last_id

    def add(self, row: Mapping[str, Any]) -> Incident:
        """Hold a new incident row (every column; `id` from `new_id`); the incident."""
        stored = {**_EMPTY_ROW, **row}
        self._rows[stored["id"]] = stored
        self._members[stored["id"]] = {}
        incident = self._incidents[stored["id"]] = Incident.from_mapping(stored)
        return incident

    def incident(self, incident_id: int) -> Incident:
        return self._incidents[incident_id]

    def update(self, incident_id: int, values: Mapping[str, Any]) -> Incident:
        """Change the held row; the incident as it is now."""
        self._rows[incident_id].update(values)
        incident = self._incidents[incident_id] = self._incidents[incident_id].changed(values)
        return incident

    def add_member(self, row: dict[str, Any]) -> None:
        """Hold a new incident_alerts row (the caller's own dict: it is changed in place)."""
        self._members[row["incident_id"]][row["fingerprint"]] = row

    def set_member(self, incident_id: int, fingerprint: str, values: Mapping[str, Any]) -> None:
        member = self._members[incident_id].get(fingerprint)
        if member is not None:
            member.update(values)

    def member_status(self, incident_id: int, fingerprint: str) -> str | None:
        member = self._members[incident_id].get(fingerprint)
        return None if member is None else str(member["status"])

    def member_groups(self, incident_id: int) -> list[MemberGroup]:
        """Ledger.member_groups of a held incident."""
        # Counted in a dict: Counter's constructor (its Mapping check) cost more than the
        # counting for an incident's few members, once per settle.
        counted: dict[tuple[str, str, str, str | None], int] = {}
        for m in self._members[incident_id].values():
            group = (m["role"], m["status"], m["severity"], m["muted"])
            counted[group] = counted.get(group, 0) + 1
        return [MemberGroup(*group, count) for group, count in counted.items()]

    def alert_rows(self, incident_id: int) -> list[dict[str, Any]] | None:
        """Ledger.alert_rows of a held incident, or None when one of its members is not an
        alert of this batch (the caller then writes and reads the tables)."""
        members = self._members[incident_id]
        if any(fp not in self._alerts for fp in members):
            return None
        rows = []
        # The store orders them by (joined_at, fingerprint): all joined at this instant.
        for fp in sorted(members):
            member, alert = members[fp], self._alerts[fp]
            rows.append(
                {
                    "fingerprint": fp,
                    "role": member["role"],
                    "muted": member["muted"],
                    "status": member["status"],
                    "labels": dict(alert.labels),
                    "annotations": dict(alert.annotations),
                    "starts_at": alert.starts_at,
                    "ends_at": alert.ends_at,
                    "generator_url": alert.generator_url,
                    "source": alert.source,
                }
            )
        return rows

    def add_events(self, rows: list[dict[str, Any]]) -> None:
        self._events += rows

    def add_outbox(self, rows: list[dict[str, Any]]) -> None:
        self._outbox += rows

    async def write(self, conn: AsyncConnection) -> list[Incident]:
        """Insert everything held, one statement per table (in foreign-key order), and hold
        nothing more; the incidents written, as they now are."""
        if not self._rows:
            return []
        rows, self._rows = self._rows, {}
        incidents, self._incidents = self._incidents, {}
        members, self._members = self._members, {}
        events, self._events = self._events, []
        outbox, self._outbox = self._outbox, []
        await insert_rows(conn, inc, [rows[i] for i in sorted(rows)])
        await insert_rows(conn, ia, [m for i in sorted(members) for m in members[i].values()])
        await insert_rows(conn, ev, events)
        if outbox:
            await insert_rows(conn, ob, outbox)
        return list(incidents.values())


_HIGHEST_ID = text("SELECT coalesce(max(id), 0) FROM incidents")
_DRAW_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('incidents', 'id')) FROM generate_series(1, :n)"
)
