"""Schema migrations: idempotent upgrade, schema matching the tables, shipped in the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from watchd.clock import FakeClock
from watchd.store import Store, StoreError, upgrade
from watchd.store.engine import create_engine
from watchd.store.migrate import alembic_config
from watchd.store.tables import metadata

REPO = Path(__file__).resolve().parents[2]


async def upgrade_over(url: str, revision: str, *statements: str) -> None:
    """Upgrade the database at `url` to `revision`, run `statements` (rows as that revision
    stored them), then upgrade it to the head."""
    from alembic import command

    config = alembic_config()

    def to(target: str) -> Callable[[Connection], None]:
        def run(connection: Connection) -> None:
            config.attributes["connection"] = connection
            command.upgrade(config, target)

        return run

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(to(revision))
            for statement in statements:
                await conn.execute(text(statement))
        async with engine.begin() as conn:
            await conn.run_sync(to("head"))
    finally:
        await engine.dispose()


def _schema_drift(conn: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(conn), metadata))


async def test_upgrade_is_idempotent_and_matches_the_tables(fresh_db_url: str) -> None:
    """`watchd db upgrade` creates the schema, can run again, and the result equals tables.py."""
    await upgrade(fresh_db_url)
    await upgrade(fresh_db_url)
    engine = create_engine(fresh_db_url)
    try:
        async with engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            drift = await conn.run_sync(_schema_drift)
    finally:
        await engine.dispose()
    assert version == [(ScriptDirectory.from_config(alembic_config()).get_current_head(),)]
    assert {"samples", "states", "alerts"} <= names
    assert drift == []


async def test_open_without_migrate_on_an_empty_database_fails_on_use(
    fresh_db_url: str,
) -> None:
    """With migrate=False nothing is created, and using the store says what failed."""
    store = await Store.open(fresh_db_url, clock=FakeClock(), migrate=False)
    try:
        with pytest.raises(StoreError) as caught:
            await store.load_states("checks")
        assert caught.value.operation == "load checks states"
    finally:
        await store.close()


async def test_upgrade_of_an_unreachable_database_raises_store_error() -> None:
    """A database that cannot be reached gives a StoreError naming the operation."""
    with pytest.raises(StoreError) as caught:
        await upgrade("postgresql://postgres@127.0.0.1:1/none")
    assert caught.value.operation == "upgrade the database schema"


@pytest.mark.integration
def test_built_wheel_ships_the_migrations(tmp_path: Path) -> None:
    """A non-editable build of watchd contains env.py, the template and every revision."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        check=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("watchd-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    revisions = {
        f"watchd/store/migrations/versions/{p.name}"
        for p in (REPO / "watchd/store/migrations/versions").glob("[0-9]*.py")
    }
    assert revisions
    assert {
        "watchd/store/migrations/env.py",
        "watchd/store/migrations/script.py.mako",
        *revisions,
    } <= names


async def test_samples_stored_before_the_compact_layout_survive_its_migration(
    fresh_db_url: str,
) -> None:
    """Samples in the old wide layout (0004) are all there after 0005, with failure messages."""
    await upgrade_over(
        fresh_db_url,
        "0004",
        'INSERT INTO samples (item, "check", time, status, latency, message) VALUES '
        "('db1', 'pg', 10.0, 0, 0.01, '5432 connected'), "
        "('db1', 'pg', 70.0, 2, NULL, 'refused'), "
        "('web1', 'http', 15.0, 0, 0.2, '200 in 200 ms')",
    )
    store = await Store.open(fresh_db_url, clock=FakeClock())
    try:
        got = [(s.item, s.check, s.time, s.status, s.message) for s in await store.samples()]
    finally:
        await store.close()
    assert got == [
        ("db1", "pg", 10.0, 0, ""),
        ("web1", "http", 15.0, 0, ""),
        ("db1", "pg", 70.0, 2, "refused"),
    ]


async def test_running_escalations_keep_their_step_times_across_0007(fresh_db_url: str) -> None:
    """An incident escalating before 0007 counts its steps from its notification time after."""
    await upgrade_over(
        fresh_db_url,
        "0006",
        "INSERT INTO incidents (key, group_labels, title, state, severity, seq, opened_at, "
        "notified, notified_at, audible, escalation_step, sla_ack_breached, "
        "sla_resolve_breached, updated_at) VALUES ('item=db1', '{}', 'db1', 'open', 'critical', "
        "3, 100.0, 'firing', 160.0, true, 1, false, false, 160.0)",
    )
    assert await read_rows(fresh_db_url, "SELECT escalation_from FROM incidents") == [(160.0,)]


async def read_rows(url: str, query: str) -> list[tuple[Any, ...]]:
    """The rows `query` reads from the database at `url`."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(query))]
    finally:
        await engine.dispose()


async def test_an_incident_muted_at_0008_keeps_its_sla_clocks_paused(fresh_db_url: str) -> None:
    """After 0008 an incident muted before it counts as muted since its last "muted" event; an
    audible one and one held only by flapping do not."""

    def incident(key: str, audible: bool) -> str:
        return (
            "INSERT INTO incidents (key, group_labels, title, state, severity, seq, opened_at, "
            "notified, notified_at, audible, escalation_step, sla_ack_breached, "
            f"sla_resolve_breached, updated_at) VALUES ('{key}', '{{}}', '{key}', 'open', "
            f"'critical', 2, 100.0, 'firing', 100.0, {str(audible).lower()}, 0, false, false, "
            "130.0)"
        )

    def member(incident_id: int, muted: str) -> str:
        return (
            "INSERT INTO incident_alerts (incident_id, fingerprint, role, item, severity, status, "
            f"muted, joined_at, updated_at) VALUES ({incident_id}, 'f{incident_id}', 'member', "
            f"'db1', 'critical', 'firing', {muted}, 100.0, 130.0)"
        )

    await upgrade_over(
        fresh_db_url,
        "0007",
        incident("silenced", False),
        incident("audible", True),
        incident("flapping", False),
        member(1, "'silence:s1'"),
        member(2, "NULL"),
        member(3, "'flapping'"),
        "INSERT INTO incident_events (incident_id, seq, time, kind, actor, detail) VALUES "
        "(1, 1, 100.0, 'opened', 'watchd', '{}'), (1, 2, 130.0, 'muted', 'watchd', '{}')",
    )
    assert await read_rows(
        fresh_db_url, "SELECT key, muted_since, muted_seconds FROM incidents ORDER BY id"
    ) == [("silenced", 130.0, 0.0), ("audible", None, 0.0), ("flapping", None, 0.0)]


async def test_states_saved_before_0010_load_by_their_check(
    fresh_db_url: str, clock: FakeClock
) -> None:
    """After 0010 a check's state and the rule series its samples fed, saved before it, load
    by that check; the rules engine's own state and a series without a check do not."""

    def state(namespace: str, key: str) -> str:
        return (
            "INSERT INTO states (namespace, key, data, updated_at) "
            f"VALUES ('{namespace}', '{key}', '{{}}', 1.0)"
        )

    series = '["Down", [["check", "ping"], ["item", "db1"], ["kind", "ping"]]]'
    await upgrade_over(
        fresh_db_url,
        "0009",
        state("check", "db1/ping"),
        state("rules", series),
        state("rules", '["Hot", [["sensor", "t1"]]]'),
        state("rules", "@engine"),
    )
    store = await Store.open(fresh_db_url, clock=clock)
    try:
        assert list(await store.load_states_of("check", ["db1/ping"])) == ["db1/ping"]
        assert list(await store.load_states_of("rules", ["db1/ping"])) == [series]
    finally:
        await store.close()


async def test_daily_rollups_made_before_0016_are_read_as_utc_days(fresh_db_url: str) -> None:
    """Each day of daily rows stored before 0016 becomes one 24-hour UTC day in rollup_days."""
    row = (
        "INSERT INTO rollups_daily VALUES ({sid}, {start}, 86400.0, 0.0, 0.0, 0.0, 0.0, "
        "288, 0, 1.0, 288, 0.1, 0.05)"
    )
    await upgrade_over(
        fresh_db_url,
        "0015",
        "INSERT INTO rollup_series (id, item, \"check\") VALUES (1, 'db1', 'tcp'), (2, 'db1', 'pg')",
        row.format(sid=1, start=1_790_812_800.0),
        row.format(sid=2, start=1_790_812_800.0),
        row.format(sid=1, start=1_790_899_200.0),
    )
    assert await read_rows(
        fresh_db_url, 'SELECT start, "end", zone FROM rollup_days ORDER BY start'
    ) == [(1_790_812_800.0, 1_790_899_200.0, "UTC"), (1_790_899_200.0, 1_790_985_600.0, "UTC")]
