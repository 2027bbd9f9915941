"""Alerts: one row per fingerprint, updated by repeats, filterable by status, durable."""

from __future__ import annotations

from sqlalchemy import select

from watchd.clock import FakeClock
from watchd.model import Alert, AlertStatus
from watchd.store import Store
from watchd.store.alerts import refresh_alerts, stored_alerts
from watchd.store.engine import write_transaction
from watchd.store.tables import alerts as alerts_table

DISK = {"alertname": "DiskFull", "instance": "web1"}


async def test_repeats_update_the_alert_and_keep_first_seen(store: Store, clock: FakeClock) -> None:
    """A repeat of an alert updates its row (status, ends_at, annotations) and keeps first_seen."""
    firing = Alert(DISK, AlertStatus.FIRING, 100.0, {"summary": "90% full"}, source="rules")
    await store.record_alerts([firing])
    first_seen = clock.now()
    await clock.advance(60)
    resolved = Alert(
        {"instance": "web1", "alertname": "DiskFull"},  # same labels, other order
        AlertStatus.RESOLVED,
        100.0,
        {"summary": "70% full"},
        ends_at=160.0,
        source="rules",
        generator_url="http://127.0.0.1/rules",
    )
    await store.record_alerts([resolved])

    assert await store.alerts() == [resolved]
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(alerts_table))).one()
    assert row.fingerprint == firing.fingerprint
    assert row.first_seen == first_seen
    assert row.updated_at == first_seen + 60


async def test_alerts_filter_by_status(store: Store) -> None:
    """Asking for firing alerts leaves out resolved ones, and the reverse."""
    cpu = Alert({"alertname": "HighCPU"}, AlertStatus.FIRING, 1.0)
    down = Alert({"alertname": "Down"}, AlertStatus.RESOLVED, 2.0, ends_at=3.0)
    await store.record_alerts([cpu, down])
    assert await store.alerts(status="firing") == [cpu]
    assert await store.alerts(status="resolved") == [down]
    assert len(await store.alerts()) == 2


async def test_last_alert_of_a_fingerprint_in_one_call_wins(store: Store) -> None:
    """Two alerts with the same labels in one call store one row, the later one."""
    first = Alert(DISK, AlertStatus.FIRING, 1.0)
    last = Alert(DISK, AlertStatus.RESOLVED, 1.0, ends_at=5.0)
    await store.record_alerts([first, last])
    assert await store.alerts() == [last]
    await store.record_alerts([])


async def test_recorded_alerts_are_durable(db_url: str, store: Store, clock: FakeClock) -> None:
    """Alerts are in the database when record_alerts returns, seen by a fresh store."""
    alert = Alert(DISK, AlertStatus.FIRING, 1.0, {"runbook": "https://example.invalid/disk"})
    await store.record_alerts([alert])
    other = await Store.open(db_url, clock=clock, migrate=False)
    try:
        assert await other.alerts() == [alert]
    finally:
        await other.close()


async def test_stored_state_of_40000_alerts_is_read_in_one_statement(store: Store) -> None:
    """More fingerprints than either database takes bound parameters are read and refreshed."""
    many = [
        Alert({"alertname": "Bulk", "n": str(i)}, AlertStatus.FIRING, 1.0, {"summary": "x"})
        for i in range(40_000)
    ]
    await store.record_alerts(many)
    fingerprints = [a.fingerprint for a in many] + ["never-seen"]
    async with write_transaction(store.engine) as conn:
        known = await stored_alerts(conn, fingerprints)
        await refresh_alerts(conn, [(fp, 500.0) for fp in fingerprints], now=2.0)
    assert len(known) == 40_000
    assert all(known[a.fingerprint].repeated_by(a) for a in many)
    assert not any(k.attached for k in known.values())
    async with store.engine.connect() as conn:
        ends = set((await conn.execute(select(alerts_table.c.ends_at))).scalars())
    assert ends == {500.0}
