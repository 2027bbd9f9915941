"""Served status pages (and the dashboard's service pages) over a real SQLite store: three services, two open incidents whose
alerts carry secret-looking labels and annotations (for the status page tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchd.api import create_app, dashboard, service_pages, start_api
from watchd.api import status as status_routes
from watchd.api.reports import ReportSource
from watchd.clock import FakeClock
from watchd.config import Config, parse_config
from watchd.loading import incident_settings, report_catalog
from watchd.metrics import Metrics
from watchd.model import Alert, AlertStatus
from watchd.pipeline import AlertPipeline
from watchd.pipeline.actions import IncidentService
from watchd.store import AvailabilitySample, Store

DAY = 86400.0
CHECKS: dict[str, dict[str, Any]] = {  # item: its one check
    "web-7f3a": {"name": "http", "kind": "tcp", "port": 80},
    "db-prod-2": {"name": "pg", "kind": "tcp", "port": 5432},
    "mx-int-1": {"name": "smtp", "kind": "tcp", "port": 25},
    "rep-9": {"name": "tcp", "kind": "tcp", "port": 9},
}
RAW: dict[str, Any] = {
    "items": [
        {"name": name, "address": f"10.20.30.{41 + n}", "checks": [check]}
        for n, (name, check) in enumerate(CHECKS.items())
    ],
    "services": [
        {"name": "shop", "checks": ["web-7f3a/*", "db-prod-2/*"], "objective": 99.5},
        {"name": "mail", "checks": ["mx-int-1/*"], "objective": 99.0},
        {"name": "reports", "checks": ["rep-9/*"]},
    ],
    "maintenance": [
        {
            "name": "rack-move",
            "items": ["rep-9"],
            "start": "2020-01-01T00:00:00Z",
            "end": "2099-01-01T00:00:00Z",
        }
    ],
    "status_pages": [
        {
            "name": "public",
            "title": "Example Shop status",
            "public": True,
            "services": [
                {"service": "shop", "name": "Web shop", "description": "Catalogue and checkout"},
                {"service": "mail", "name": "E-mail"},
                "reports",
            ],
        },
        {"name": "internal", "services": ["shop"]},
    ],
}
# What the secret-looking labels and annotations hold: none of it may reach a status page.
SECRETS = (
    "web-7f3a",
    "db-prod-2",
    "mx-int-1",
    "rep-9",
    "10.20.30.4",
    "hunter2",
    "PgReplicationBroken",
    "payments-core",
    "internal summary",
    "runbooks.internal",
    "s3cr3t",
)
DB_ALERT = Alert(
    {
        "alertname": "PgReplicationBroken",
        "item": "db-prod-2",
        "severity": "critical",
        "instance": "10.20.30.42:5432",
        "team": "payments-core",
        "dsn": "postgres://app:hunter2@10.20.30.42/shop",
    },
    AlertStatus.FIRING,
    0.0,
    annotations={
        "summary": "internal summary: replica lag on db-prod-2 (s3cr3t)",
        "runbook_url": "https://runbooks.internal/pg",
    },
)
MAIL_ALERT = Alert(
    {"alertname": "SmtpQueueHigh", "item": "mx-int-1", "severity": "warning"},
    AlertStatus.FIRING,
    0.0,
    annotations={
        "summary": "queue on mx-int-1 at 10.20.30.43 over 5000",
        "public_summary": "Some e-mails are delayed by up to an hour.",
    },
)


@dataclass
class World:
    base: str
    clock: FakeClock
    items: list[dict[str, Any]]
    store: Store

    def set_status(self, item: str, status: str) -> None:
        """Make `item`'s only check HARD `status` in the items view."""
        for entry in self.items:
            if entry["name"] == item:
                entry["checks"][0]["hard_status"] = status


def _items(config: Config) -> list[dict[str, Any]]:
    return [
        {
            "name": item.name,
            "address": item.address,
            "labels": item.labels,
            "checks": [
                {"name": c.name, "kind": c.kind, "enabled": True, "hard_status": "OK"}
                for c in item.checks
            ],
        }
        for item in config.items
    ]


@asynccontextmanager
async def served_status(
    tmp_path: Path,
    tokens: Mapping[str, frozenset[str]],
    *,
    raw: Mapping[str, Any] = RAW,
    **web: Any,
) -> AsyncIterator[World]:
    """The API with the dashboard and status pages of `raw` on a free loopback port; two days
    of samples (mail down from 06:00 to 12:00 UTC yesterday) and two open incidents (DB_ALERT,
    MAIL_ALERT); `web` goes to create_app (allowed_hosts)."""
    config = parse_config(dict(raw), Path("test.toml"))
    clock = FakeClock()
    store = await Store.open(f"sqlite:///{tmp_path}/status.db", clock=clock)
    today = clock.now() - clock.now() % DAY
    for t in range(int(today - DAY), int(clock.now()), 60):
        for item, check in (("web-7f3a", "http"), ("db-prod-2", "pg"), ("rep-9", "tcp")):
            store.record_sample(AvailabilitySample(item, check, t, 0, 0.01))
        down = today - DAY + 6 * 3600 <= t < today - DAY + 12 * 3600
        store.record_sample(AvailabilitySample("mx-int-1", "smtp", t, 2 if down else 0, 0.01))
    await store.flush()
    settings = incident_settings(config)
    pipeline = AlertPipeline(store.engine, clock=clock, settings=settings)
    for alert in (DB_ALERT, MAIL_ALERT):
        await pipeline.submit(
            (Alert(alert.labels, alert.status, clock.now(), annotations=alert.annotations),)
        )
    incidents = IncidentService(store.engine, clock=clock, settings=lambda: settings)
    catalog = report_catalog(config)
    items = _items(config)
    app = create_app(
        tokens=tokens, metrics=Metrics(), items=lambda: items, ready=lambda: True, **web
    )
    reports = ReportSource(store.engine, lambda: catalog, clock)
    dashboard.add_routes(app, incidents=incidents, reports=reports, tokens=tokens)
    service_pages.add_routes(app)
    status_routes.add_routes(
        app,
        status_routes.StatusSource(reports, incidents, lambda: items, lambda: config.status_pages),
    )
    runner = await start_api(app, "127.0.0.1", 0)
    try:
        yield World(f"http://127.0.0.1:{runner.addresses[0][1]}", clock, items, store)
    finally:
        await runner.cleanup()
        await store.close()
