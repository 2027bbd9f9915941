"""The last pings of each heartbeat check, one row per check (migration 0011).

Any node's API writes them (a ping is answered 200 only once committed); the node that owns the
check reads them on each run, so a ping reaches its check wherever it runs, and a restart
forgets none.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Double, Integer, Row, String, Table, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.heartbeats import PingKind, PingRecord
from watchd.store.errors import StoreError
from watchd.store.tables import metadata
from watchd.store.upsert import insert_missing

heartbeat_pings = Table(
    "heartbeat_pings",
    metadata,
    Column("check_key", String(), primary_key=True),  # "item/check"
    Column("success_at", Double, nullable=True),
    Column("start_at", Double, nullable=True),
    Column("fail_at", Double, nullable=True),
    Column("exit_code", Integer, nullable=True),
    Column("duration", Double, nullable=True),
)


async def record_ping(
    engine: AsyncEngine, key: str, kind: PingKind, at: float, exit_code: int | None = None
) -> None:
    """Store a ping of the check `key` at `at`: a success, a start or a failure (with its exit
    code when it gave one). Raises StoreError when it cannot be committed."""
    t = heartbeat_pings
    values: dict[str, object]
    if kind == "start":
        values = {"start_at": at}
    elif kind == "fail":
        values = {"fail_at": at, "exit_code": exit_code}
    else:
        values = {"success_at": at, "duration": None}
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert_missing(conn.dialect.name, t, ("check_key",)), {"check_key": key}
            )
            if kind == "success":
                row = (await conn.execute(select(t).where(t.c.check_key == key))).one()
                values["duration"] = run_duration(_record(row), at)
            await conn.execute(t.update().where(t.c.check_key == key).values(values))
    except SQLAlchemyError as exc:
        raise StoreError.wrap("store a heartbeat ping", exc) from exc


def run_duration(record: PingRecord, success_at: float) -> float | None:
    """How long the run a success at `success_at` ends took: from the last start, when that
    start came after the last end (else the job sent no start for this run)."""
    if record.start_at is None:
        return None
    ends = [t for t in (record.success_at, record.fail_at) if t is not None]
    if ends and record.start_at <= max(ends):
        return None
    return max(0.0, success_at - record.start_at)


async def read_pings(engine: AsyncEngine, key: str) -> PingRecord | None:
    """The stored pings of the check `key`, or None if it never had one."""
    t = heartbeat_pings
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.check_key == key))).first()
    except SQLAlchemyError as exc:
        raise StoreError.wrap("read heartbeat pings", exc) from exc
    return None if row is None else _record(row)


def _record(row: Row[Any]) -> PingRecord:
    return PingRecord(
        success_at=row.success_at,
        start_at=row.start_at,
        fail_at=row.fail_at,
        exit_code=row.exit_code,
        duration=row.duration,
    )
