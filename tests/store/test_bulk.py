"""insert_rows: many rows in one executemany, stored exactly as SQLAlchemy's insert stores them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import DBAPIError

from watchd.store import Store
from watchd.store.bulk import insert_rows
from watchd.store.engine import write_transaction
from watchd.store.incident_tables import incident_events, incidents
from watchd.store.tables import alerts
from watchd.store.upsert import upsert


def incident_row(incident_id: int, **values: Any) -> dict[str, Any]:
    return {
        "id": incident_id,
        "key": f"item=host{incident_id}",
        "group_labels": {"item": f"host{incident_id}", "zone": "上海"},
        "title": "NodeDown on host",
        "item": f"host{incident_id}",
        "severity": "critical",
        "state": "open",
        "seq": 1,
        "audible": True,
        "escalation_step": 0,
        "sla_ack_breached": False,
        "sla_resolve_breached": True,
        "muted_seconds": 0.5,
        "opened_at": 1_800_000_000.25,
        "updated_at": 1_800_000_000.25,
        "muted_since": None,
        **values,
    }


async def read(store: Store, query: Any) -> list[dict[str, Any]]:
    async with store.engine.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(query)]


@pytest.fixture
async def empty(store: Store) -> Store:
    if store.engine.dialect.name == "postgresql":
        async with store.engine.begin() as conn:
            await conn.execute(
                text("TRUNCATE outbox, incident_events, incident_alerts, incidents CASCADE")
            )
    return store


async def test_rows_read_back_as_those_sqlalchemy_inserts(empty: Store) -> None:
    """JSON (non-ASCII text, numbers, nulls), booleans, floats and NULLs come back the same either way."""
    detail = {"fingerprint": "ab12", "ratio": 0.25, "note": "交换机 down", "list": [1, None]}
    async with write_transaction(empty.engine) as conn:
        await conn.execute(insert(incidents), [incident_row(1), incident_row(2, muted_since=7.0)])
        await insert_rows(conn, incidents, [incident_row(3), incident_row(4, muted_since=7.0)])
        events = [
            {"incident_id": i, "seq": 1, "time": 1.5, "kind": "opened", "actor": "watchd"}
            for i in (1, 2, 3, 4)
        ]
        await conn.execute(insert(incident_events), [{**e, "detail": detail} for e in events[:2]])
        await insert_rows(conn, incident_events, [{**e, "detail": detail} for e in events[2:]])

    rows = await read(empty, select(incidents).order_by(incidents.c.id))
    by_sqlalchemy, by_insert_rows = rows[:2], rows[2:]
    named = ("id", "key", "item", "group_labels")  # these name the incident
    for ours, theirs in zip(by_insert_rows, by_sqlalchemy, strict=True):
        assert {k: v for k, v in ours.items() if k not in named} == {
            k: v for k, v in theirs.items() if k not in named
        }
        assert ours["group_labels"] == {"item": ours["item"], "zone": "上海"}
    assert by_insert_rows[0]["audible"] is True and by_insert_rows[0]["muted_since"] is None
    details = await read(empty, select(incident_events.c.detail).order_by(incident_events.c.id))
    assert [d["detail"] for d in details] == [detail] * 4


async def test_an_upsert_statement_updates_the_rows_it_clashes_with(empty: Store) -> None:
    statement = upsert(empty.engine.dialect.name, alerts, ("fingerprint",), ("status", "ends_at"))

    def alert(fp: str, status: str, ends_at: float | None, seen: float) -> dict[str, Any]:
        return {
            "fingerprint": fp,
            "labels": {"alertname": fp},
            "annotations": {},
            "status": status,
            "starts_at": 1.0,
            "ends_at": ends_at,
            "source": "test",
            "generator_url": "",
            "first_seen": seen,
            "updated_at": seen,
        }

    async with write_transaction(empty.engine) as conn:
        await insert_rows(conn, alerts, [alert("a", "firing", None, 1.0)], statement)
        await insert_rows(
            conn,
            alerts,
            [alert("a", "resolved", 9.0, 2.0), alert("b", "firing", None, 2.0)],
            statement,
        )
    rows = await read(
        empty, select(alerts.c.fingerprint, alerts.c.status, alerts.c.ends_at, alerts.c.first_seen)
    )
    assert sorted(tuple(r.values()) for r in rows) == [
        ("a", "resolved", 9.0, 1.0),  # updated, first_seen kept
        ("b", "firing", None, 2.0),
    ]


async def test_listeners_see_one_statement_for_all_the_rows(empty: Store) -> None:
    seen: list[str] = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(empty.engine.sync_engine, "before_cursor_execute", listener)
    try:
        async with write_transaction(empty.engine) as conn:
            await insert_rows(conn, incidents, [incident_row(i) for i in range(1, 101)])
    finally:
        event.remove(empty.engine.sync_engine, "before_cursor_execute", listener)
    assert [s for s in seen if "INSERT" in s] == [seen[-1]]
    assert len(await read(empty, select(incidents.c.id))) == 100


async def test_rows_with_other_columns_than_the_first_are_refused(empty: Store) -> None:
    rows = [incident_row(1), {**incident_row(2), "notified": "firing"}]
    with pytest.raises(ValueError, match="rows with different columns"):
        async with write_transaction(empty.engine) as conn:
            await insert_rows(conn, incidents, rows)
    assert await read(empty, select(incidents.c.id)) == []


async def test_a_text_too_long_for_its_column_is_refused_as_sqlalchemys_insert_refuses_it(
    empty: Store,
) -> None:
    """PostgreSQL refuses a state longer than its VARCHAR(16) rather than storing it cut
    short (an explicit cast to the column's type would cut it); SQLite keeps it whole."""
    row = incident_row(1, state="acknowledged-by-the-night-shift")
    if empty.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="too long"):
            async with write_transaction(empty.engine) as conn:
                await insert_rows(conn, incidents, [row])
        assert await read(empty, select(incidents.c.id)) == []
    else:
        async with write_transaction(empty.engine) as conn:
            await insert_rows(conn, incidents, [row])
        stored = await read(empty, select(incidents.c.state))
        assert stored == [{"state": "acknowledged-by-the-night-shift"}]
