"""A served API for the input tests: ingestion, incidents, silences, changes, problems,
deliveries, reports, ack links, the dashboard and Alertmanager's API v2 over a real store (SQLite or PostgreSQL) holding one open incident
(no tokens, as the shipped config runs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.dashboard_world import ITEMS, RAW
from watchd.api import ack, alertmanager, create_app, dashboard, deliveries, reports, start_api
from watchd.api import incidents as incident_routes
from watchd.api import ingest as ingest_routes
from watchd.api.reports import ReportSource
from watchd.clock import FakeClock
from watchd.config import Config, parse_config
from watchd.loading import incident_settings, notify_router, report_catalog
from watchd.metrics import Metrics
from watchd.model import Alert, AlertStatus
from watchd.pipeline import AlertPipeline
from watchd.pipeline.actions import IncidentService
from watchd.store import Store


@dataclass
class Served:
    base: str
    incident_id: int
    incidents: IncidentService
    engine: AsyncEngine
    clock: FakeClock


def _am_sources(config: Config, clock: FakeClock) -> alertmanager.AmSources:
    async def single_node() -> dict[str, Any]:
        return {"single_node": True, "nodes": []}

    return alertmanager.AmSources(
        router=lambda: notify_router(config),
        receivers=lambda: [r.name for r in config.receivers],
        node_name="test",
        started_at=clock.now(),
        cluster=single_node,
        config_text=lambda: "",
    )


@asynccontextmanager
async def served_api(url: str) -> AsyncIterator[Served]:
    """The API on 127.0.0.1 over the store at `url`, with one open incident on web1."""
    config = parse_config(RAW, Path("test.toml"))
    clock = FakeClock()
    store = await Store.open(url, clock=clock)
    settings = incident_settings(config)
    pipeline = AlertPipeline(store.engine, clock=clock, settings=settings)
    labels = {"alertname": "HttpDown", "item": "web1", "severity": "critical"}
    await pipeline.submit((Alert(labels, AlertStatus.FIRING, clock.now()),))
    service = IncidentService(store.engine, clock=clock, settings=lambda: settings)
    (incident,) = await service.list_incidents()
    catalog = report_catalog(config)
    app = create_app(tokens={}, metrics=Metrics(), items=lambda: ITEMS, ready=lambda: True)
    source = ReportSource(store.engine, lambda: catalog, clock)
    ingest_routes.add_routes(app, sink=pipeline, clock=clock)
    incident_routes.add_routes(app, service)
    deliveries.add_routes(app, store.engine)
    reports.add_routes(app, source)
    ack.add_routes(app, service=service, key=lambda: b"k" * 32, clock=clock)
    dashboard.add_routes(app, incidents=service, reports=source, tokens={})
    alertmanager.add_routes(app, service, _am_sources(config, clock))
    runner = await start_api(app, "127.0.0.1", 0)
    try:
        port = runner.addresses[0][1]
        yield Served(f"http://127.0.0.1:{port}", int(incident["id"]), service, store.engine, clock)
    finally:
        await runner.cleanup()
        await store.close()
