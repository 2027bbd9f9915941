"""Error-budget burn alerts: fast burn fires critical, slow burn warning, recovery resolves."""

from __future__ import annotations

from pathlib import Path

from watchd.clock import FakeClock
from watchd.loading import report_catalog
from watchd.model import Alert, AlertStatus
from watchd.report.burn import BurnRateMonitor
from watchd.store import AvailabilitySample, Store

from .conftest import config_of

CONFIG = {
    "check_defaults": {"interval": "1m"},
    "items": [{"name": "web1", "checks": [{"name": "http", "kind": "tcp", "port": 80}]}],
    "services": [{"name": "shop", "checks": ["web1/http"], "objective": 99.9}],
}


class Collected:
    """An AlertSink that keeps what it is given, in order."""

    def __init__(self) -> None:
        self.batches: list[tuple[Alert, ...]] = []

    async def submit(self, alerts: tuple[Alert, ...]) -> None:
        self.batches.append(alerts)


async def _history(
    store: Store, start: float, end: float, down_from: float, down_to: float
) -> None:
    t = start
    while t < end:
        store.record_sample(
            AvailabilitySample("web1", "http", t, 2 if down_from <= t < down_to else 0, 0.01)
        )
        t += 60
    await store.flush()


async def test_a_fast_burn_fires_critical_and_resolves_when_it_stops(tmp_path: Path) -> None:
    """Down for the last 10 minutes fires the critical fast burn (and the slow one); 5 minutes up again resolves the fast one."""
    clock = FakeClock(1_800_000_000.0)
    now = clock.now()
    store = await Store.open(f"sqlite:///{tmp_path}/w.db", clock=clock)
    catalog = report_catalog(config_of(CONFIG))
    sink = Collected()
    monitor = BurnRateMonitor(
        store.engine, clock=clock, catalog=lambda: catalog, sink=sink, valid_for=180.0
    )
    try:
        await _history(store, now - 8 * 3600, now, now - 600, now + 3600)
        fired = await monitor.evaluate()
        # 10 min down: burn 167 over 1 h, 1000 over 5 min, 28 over 6 h, 333 over 30 min.
        assert [(a.labels["window"], a.labels["severity"], a.status) for a in fired] == [
            ("fast", "critical", AlertStatus.FIRING),
            ("slow", "warning", AlertStatus.FIRING),
        ]
        assert "shop" in fired[0].annotations["summary"]
        await _history(store, now, now + 900, now, now + 300)
        await clock.advance(900)
        after = await monitor.evaluate()
        statuses = {(a.labels["window"], a.status) for a in after}
        # The last 5 minutes were up: fast resolves; the 30 min window still burns: slow stays.
        assert statuses == {("fast", AlertStatus.RESOLVED), ("slow", AlertStatus.FIRING)}
        slow = next(a for a in after if a.labels["window"] == "slow")
        assert slow.starts_at == now  # a going-on alert keeps its first start
        # Each evaluation moves the end ahead; should watchd stop, the alert ends then.
        assert fired[1].ends_at == now + 180.0
        assert slow.ends_at == now + 900 + 180.0
    finally:
        await store.close()


async def test_a_steady_slow_burn_fires_the_warning_only(tmp_path: Path) -> None:
    """Down 7 minutes in every 10 against a 90 % objective (burn 7) fires the slow warning and not the fast critical."""
    clock = FakeClock(1_800_000_000.0)
    now = clock.now()
    store = await Store.open(f"sqlite:///{tmp_path}/w.db", clock=clock)
    catalog = report_catalog(
        config_of(
            {**CONFIG, "services": [{"name": "shop", "checks": ["web1/http"], "objective": 90}]}
        )
    )
    sink = Collected()
    monitor = BurnRateMonitor(
        store.engine, clock=clock, catalog=lambda: catalog, sink=sink, valid_for=180.0
    )
    try:
        t = now - 7 * 3600
        while t < now:
            minute = int((t - (now - 7 * 3600)) // 60)
            store.record_sample(
                AvailabilitySample("web1", "http", t, 2 if minute % 10 < 7 else 0, 0.01)
            )
            t += 60
        await store.flush()
        fired = await monitor.evaluate()
        # 70 % down against a 10 % budget: burn 7 — above the slow factor 6, below the fast 14.4.
        assert [(a.labels["window"], a.labels["severity"]) for a in fired] == [("slow", "warning")]
    finally:
        await store.close()
