"""SQLite's plans for the statements an alert storm runs per batch: index searches that read
no more than they answer (issue 13). Each of these was a scan or row reads per alert before,
and the storm's CPU went there."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from tests.pipeline.conftest import settings_from
from watchd.clock import FakeClock
from watchd.incidents.ledger import _member_groups_of
from watchd.notify import outbox
from watchd.pipeline.mute import MuteView
from watchd.pipeline.sweep import mute_flips
from watchd.store import Store
from watchd.store.alerts import _stored_query
from watchd.store.members import bound_values


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(f"sqlite:///{tmp_path}/watchd.db", clock=FakeClock())
    yield store
    await store.close()


async def plan(store: Store, statement: ClauseElement, values: Mapping[str, Any]) -> list[str]:
    """SQLite's EXPLAIN QUERY PLAN steps for `statement` with `values` bound."""
    async with store.engine.connect() as conn:
        compiled = statement.compile(dialect=conn.dialect)
        assert isinstance(compiled, SQLCompiler)
        bound = compiled.params | dict(values)
        parameters = tuple(bound[name] for name in compiled.positiontup or ())
        rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", parameters)
        return [step for *_, step in rows]


async def test_whether_stored_alerts_are_incident_members_is_read_from_the_index_alone(
    sqlite_store: Store,
) -> None:
    """Ingestion asks of every alert it takes in whether it is an incident member and whether
    it awaits a recheck: both come from the members' index, never reading their rows
    (reading them made the batch's read twice as slow)."""
    steps = await plan(
        sqlite_store,
        _stored_query("sqlite"),
        {"fingerprints": bound_values("sqlite", ["f1", "f2"])},
    )
    lookups = [step for step in steps if "incident_alerts" in step]
    assert len(lookups) == 2
    assert all(step.startswith("SEARCH incident_alerts USING COVERING INDEX") for step in lookups)


async def test_the_members_of_touched_incidents_are_counted_from_an_index_in_group_order(
    sqlite_store: Store,
) -> None:
    """Settling counts each touched incident's members by role, status, severity and mute,
    every batch: from index entries already in group order, not each member's row sorted
    (an outage of 100,000 alerts in 50 incidents spent over half its CPU there)."""
    steps = await plan(
        sqlite_store, _member_groups_of("sqlite"), {"ids": bound_values("sqlite", [1, 2])}
    )
    assert any(
        step.startswith("SEARCH incident_alerts USING COVERING INDEX ix_incident_alerts_groups")
        for step in steps
    ), steps
    assert not any("TEMP B-TREE" in step for step in steps), steps


async def test_a_sweep_with_nothing_muting_reads_only_muted_and_internal_members(
    sqlite_store: Store,
) -> None:
    """With no silence, window, change or inhibiting alert, the timers' sweep looks at the
    members muted now and the alerts made inside watchd, each through its partial index: it
    read every member of every active incident before (335 ms every tick with 100,000
    alerts). With no alert of watchd's own, it asks for no member of one."""
    sent: list[tuple[str, Any]] = []
    engine = sqlite_store.engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    async with sqlite_store.engine.connect() as conn:
        view = await MuteView.load(conn, 0.0, settings_from({}))
        assert view.mutes_nothing
        event.listen(engine, "before_cursor_execute", record)
        try:
            await mute_flips(conn, view, limit=2_000)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        plans = []
        for statement, parameters in sent:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plans.append([step for *_, step in rows])
    assert len(plans) == 2
    muted, internal = plans
    assert "SEARCH incident_alerts USING INDEX ix_incident_alerts_muted (incident_id>?)" in muted
    assert internal == ["SCAN alerts USING INDEX ix_alerts_internal"]
    assert not any(step.startswith("SCAN incident_alerts") for step in muted)


async def test_the_dispatcher_alone_on_its_store_reads_the_free_outbox_rows_by_their_state(
    sqlite_store: Store,
) -> None:
    """Each dispatcher pass of a daemon alone on its store reads the pending rows and those
    whose lease ran out: through the state index, both ways, never a scan of the outbox,
    whose delivered rows stay until retention removes them."""
    steps = await plan(sqlite_store, outbox._CURRENT_FREE, {"now": 1.0})
    outbox_steps = [step for step in steps if " outbox " in f"{step} "]
    assert len(outbox_steps) == 2, steps
    assert all(
        step.startswith("SEARCH outbox USING INDEX ix_outbox_state_next") for step in outbox_steps
    )
