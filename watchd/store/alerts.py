"""Alerts stored by fingerprint: repeats update the row, first_seen keeps the first arrival."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Select, Text, Update, bindparam, cast, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from watchd.model import Alert, AlertStatus
from watchd.store.bound_rows import Columns, bound_rows, bound_table
from watchd.store.bulk import insert_rows
from watchd.store.incident_tables import AWAITING_RECHECK
from watchd.store.incident_tables import incident_alerts as members
from watchd.store.members import bound_values, one_of
from watchd.store.tables import alerts as t
from watchd.store.upsert import upsert

_UPDATED = (
    "labels",
    "annotations",
    "status",
    "starts_at",
    "ends_at",
    "source",
    "generator_url",
    "updated_at",
)


async def upsert_alerts(conn: AsyncConnection, alerts: Sequence[Alert], now: float) -> None:
    """Insert or update each alert by fingerprint (the caller owns the transaction).

    Within one call the last alert of a fingerprint wins, as if they had come one by one.
    """
    latest = {alert.fingerprint: alert for alert in alerts}
    if not latest:
        return
    rows = [
        {
            "fingerprint": fp,
            "labels": dict(a.labels),
            "annotations": dict(a.annotations),
            "status": a.status.value,
            "starts_at": a.starts_at,
            "ends_at": a.ends_at,
            "source": a.source,
            "generator_url": a.generator_url,
            "first_seen": now,
            "updated_at": now,
        }
        for fp, a in sorted(latest.items())  # rows are locked in this order: always the same
    ]
    await insert_rows(conn, t, rows, _upsert(conn.dialect.name))


class StoredAlert(NamedTuple):
    """What the store holds of an alert, to tell a plain repeat from a change.

    A tuple, not a dataclass: hundreds are built per ingestion batch.
    """

    status: str
    starts_at: float
    annotations: Mapping[str, Any]
    generator_url: str
    source: str
    attached: bool  # a member or symptom of some incident, open or not
    rechecking: bool  # a symptom awaiting a fresh result: a firing repeat says it still fails

    def repeated_by(self, alert: Alert) -> bool:
        """Whether `alert` says nothing new but its end and that it was seen again."""
        return (
            self.status == alert.status  # a StrEnum: equal to its text
            and self.starts_at == alert.starts_at
            and self.annotations == alert.annotations
            and self.generator_url == alert.generator_url
            and self.source == alert.source
        )


async def stored_alerts(
    conn: AsyncConnection, fingerprints: Sequence[str]
) -> dict[str, StoredAlert]:
    """The stored state of the alerts with these fingerprints (those never seen are absent)."""
    dialect = conn.dialect.name
    rows = await conn.execute(
        _stored_query(dialect), {"fingerprints": bound_values(dialect, fingerprints)}
    )
    return {
        fp: StoredAlert(
            status, starts_at, _decoded(annotations), url, source, bool(member), bool(recheck)
        )
        for fp, status, starts_at, annotations, url, source, member, recheck in rows
    }


# The same annotations come back batch after batch: each stored text is decoded once
# (read as text: PostgreSQL's driver would otherwise decode every row itself).
# The result is shared, so it is read, never changed.
@lru_cache(maxsize=16_384)
def _decoded(text: str) -> Mapping[str, Any]:
    decoded: Mapping[str, Any] = json.loads(text)
    return decoded


async def refresh_alerts(
    conn: AsyncConnection, repeats: Sequence[tuple[str, float | None]], now: float
) -> None:
    """Mark repeated alerts (fingerprint, new end) seen at `now` with their new ends.

    One UPDATE for the whole batch instead of rewriting every row with its labels and
    annotations; the ends travel with the fingerprints (an UPDATE per distinct end was one per
    request of a batch: each request's alerts without endsAt end `resolve_timeout` after it).
    """
    if not repeats:
        return
    dialect = conn.dialect.name
    statement, columns = _refresh_statement(dialect)
    await conn.execute(statement, {**bound_rows(dialect, "v", columns, repeats), "seen_at": now})


# Built once per dialect: constructing a statement cost more than running it.
@cache
def _upsert(dialect: str) -> Insert:
    return upsert(dialect, t, ("fingerprint",), _UPDATED)


@cache
def _stored_query(dialect: str) -> Select[str, str, float, str, str, str, bool, bool]:
    return select(
        t.c.fingerprint,
        t.c.status,
        t.c.starts_at,
        cast(t.c.annotations, Text),
        t.c.generator_url,
        t.c.source,
        # Index columns only, not SELECT *: both are answered from the members' index on
        # (fingerprint, status) without reading a member's row.
        select(members.c.fingerprint).where(members.c.fingerprint == t.c.fingerprint).exists(),
        select(members.c.fingerprint)
        .where(members.c.fingerprint == t.c.fingerprint, members.c.status == AWAITING_RECHECK)
        .exists(),
    ).where(one_of(dialect, t.c.fingerprint, "fingerprints"))


@cache
def _refresh_statement(dialect: str) -> tuple[Update, Columns]:
    """UPDATE alerts SET ends_at, updated_at FROM bound (fingerprint, ends_at) rows; with the
    bound columns for bound_rows."""
    columns: Columns = (("fingerprint", t.c.fingerprint.type), ("ends_at", t.c.ends_at.type))
    v = bound_table(dialect, "v", columns)
    statement = (
        update(t)
        .where(t.c.fingerprint == v.c.fingerprint)
        .values(ends_at=v.c.ends_at, updated_at=bindparam("seen_at"))
    )
    return statement, columns


async def select_alerts(conn: AsyncConnection, status: str | None) -> list[Alert]:
    """Stored alerts, optionally only those with `status`, in order of first arrival."""
    query = select(
        t.c.labels,
        t.c.status,
        t.c.starts_at,
        t.c.annotations,
        t.c.ends_at,
        t.c.source,
        t.c.generator_url,
    )
    if status is not None:
        query = query.where(t.c.status == status)
    result = await conn.execute(query.order_by(t.c.first_seen, t.c.fingerprint))
    return [
        Alert(
            labels=labels,
            status=AlertStatus(st),
            starts_at=starts_at,
            annotations=annotations,
            ends_at=ends_at,
            source=source,
            generator_url=url,
        )
        for labels, st, starts_at, annotations, ends_at, source, url in result
    ]
