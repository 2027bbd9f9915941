"""A month of history on a real SQLite store: samples, an incident, rule states, rollups."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from watchd.clock import FakeClock
from watchd.config import Config, parse_config
from watchd.loading import incident_settings, report_catalog
from watchd.model import Alert, AlertStatus
from watchd.pipeline import AlertPipeline
from watchd.pipeline.actions import IncidentService
from watchd.report.catalog import Catalog
from watchd.report.rollup import Rollup
from watchd.store import AvailabilitySample, Store


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


RAW_CONFIG: dict[str, Any] = {
    "check_defaults": {"interval": "5m"},
    "items": [
        {
            "name": "web1",
            "labels": {"role": "web"},
            "checks": [{"name": "http", "kind": "tcp", "port": 80}],
        },
        {"name": "db1", "checks": [{"name": "tcp", "kind": "tcp", "port": 5432}]},
    ],
    "services": [
        {"name": "shop", "checks": ["web1/http", "db1/*"], "objective": 99.5},
        {"name": "web", "matchers": ['role="web"'], "objective": 99.9},
    ],
}
OUTAGE = (ts("2026-10-10T10:00:00"), ts("2026-10-10T11:00:00"))
NOW = ts("2026-10-20T12:00:00")


@dataclass
class World:
    store: Store
    clock: FakeClock
    config: Config
    catalog: Catalog
    incidents: IncidentService
    incident_id: int


def config_of(raw: dict[str, Any]) -> Config:
    return parse_config(raw, Path("test.toml"))


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """web1/http every 5 min since Oct 1 (down Oct 10 10:00–11:00, slower each day), db1/tcp
    since Oct 16; one incident acknowledged after 15 min and resolved after an hour; a disk
    forecast and a certificate in the rule states; rollups up to date at Oct 20 12:00."""
    config = config_of(RAW_CONFIG)
    clock = FakeClock(OUTAGE[0])
    store = await Store.open(f"sqlite:///{tmp_path}/w.db", clock=clock)
    t = ts("2026-10-01")
    while t < NOW:
        down = OUTAGE[0] <= t < OUTAGE[1]
        day = (t - ts("2026-10-01")) // 86400
        store.record_sample(
            AvailabilitySample("web1", "http", t, 2 if down else 0, 0.05 + 0.01 * day)
        )
        if t >= ts("2026-10-16"):
            store.record_sample(AvailabilitySample("db1", "tcp", t, 0, 0.002))
        t += 300
    await store.flush()
    settings = incident_settings(config)
    pipeline = AlertPipeline(store.engine, clock=clock, settings=settings)
    labels = {"alertname": "HttpDown", "item": "web1", "severity": "critical"}
    await pipeline.submit((Alert(labels, AlertStatus.FIRING, OUTAGE[0]),))
    service = IncidentService(store.engine, clock=clock, settings=lambda: settings)
    (incident,) = await service.list_incidents()
    await clock.advance(900)
    await service.acknowledge(incident["id"], "alice", "looking")
    await clock.advance(2700)
    await pipeline.submit((Alert(labels, AlertStatus.RESOLVED, OUTAGE[0], ends_at=OUTAGE[1]),))
    await clock.advance(NOW - clock.now())
    forecast_key = json.dumps(
        ["HostDiskFullForecast", sorted({"item": "db1", "mount": "/var"}.items())]
    )
    cert_key = json.dumps(
        ["TlsCertificateExpiring", sorted({"item": "web1", "url": "https://web1/"}.items())]
    )
    await store.save_states(
        "rules",
        {
            forecast_key: {"predicted": NOW + 3 * 86400, "value": 91.0, "last_time": NOW},
            cert_key: {"predicted": None, "value": 12.0, "last_time": NOW - 86400},
        },
    )
    catalog = report_catalog(config)
    await Rollup(store.engine, clock=clock, catalog=lambda: catalog, max_hours=10_000).run()
    yield World(store, clock, config, catalog, service, incident["id"])
    await store.close()
