"""A served dashboard over a real SQLite store with one open incident (for the dashboard tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.api.conftest import TOKEN_NAMES
from watchd.api import ack as ack_routes
from watchd.api import create_app, dashboard, reports, review_pages, start_api, work_pages
from watchd.api import incidents as incident_routes
from watchd.api import ingest as ingest_routes
from watchd.api import reviews as review_routes
from watchd.api import runbooks as runbook_routes
from watchd.api.reports import ReportSource
from watchd.clock import FakeClock
from watchd.cluster.config import ClusterConfig
from watchd.cluster.membership import Membership
from watchd.cluster.status import read_status
from watchd.config import parse_config
from watchd.incidents.settings import IncidentSettings
from watchd.loading import incident_settings, report_catalog
from watchd.metrics import Metrics
from watchd.model import Alert, AlertStatus
from watchd.people.passwords import Account
from watchd.pipeline import AlertPipeline
from watchd.pipeline.actions import IncidentService
from watchd.pipeline.reviews import ReviewService
from watchd.store import AvailabilitySample, Store

RAW = {
    "items": [
        {"name": "web1", "checks": [{"name": "http", "kind": "tcp", "port": 80}]},
        {"name": "db1", "checks": [{"name": "tcp", "kind": "tcp", "port": 5432}]},
    ],
    "services": [{"name": "shop", "checks": ["web1/*", "db1/*"], "objective": 99.9}],
    "maintenance": [
        {
            "name": "backup",
            "items": ["db1"],
            "start": "2020-01-01T00:00:00Z",
            "end": "2099-01-01T00:00:00Z",
        }
    ],
}
ITEMS = [
    {
        "name": "web1",
        "checks": [
            {"name": "http", "kind": "tcp", "status": "CRITICAL", "message": "connection refused"}
        ],
    },
    {"name": "db1", "checks": [{"name": "tcp", "kind": "tcp", "status": "OK", "message": ""}]},
]


RUNBOOK_URL = "https://wiki.example/runbooks/web-down"
ACK_KEY = b"ack-link-key-for-the-dashboard-tests"


@dataclass
class Served:
    base: str
    incident_id: int
    incidents: IncidentService
    clock: FakeClock
    store: Store
    settings: IncidentSettings
    reviews: ReviewService


@asynccontextmanager
async def served_dashboard(
    tmp_path: Path,
    tokens: Mapping[str, frozenset[str]],
    *,
    port: int = 0,
    runbooks: Mapping[str, Path] | None = None,
    accounts: Callable[[], Mapping[str, Account]] = dict,
    reach: Callable[[str | None], frozenset[str]] = lambda policy: frozenset(),
    session_key: str | None = None,
    raw: Mapping[str, Any] = RAW,
    **web: Any,
) -> AsyncIterator[Served]:
    """The API with ingestion, incidents, ack links (ACK_KEY), reports, dashboard and runbook
    routes (serving `runbooks`) on 127.0.0.1 (`port`, by default a free one), one incident open
    (its alert names RUNBOOK_URL); `accounts` may sign in with a password; `reach` gives the
    teams an escalation policy pages; `session_key` signs their sessions; `raw` is the config
    (RAW with other [daemon] settings, say); `web` goes to create_app (allowed_hosts,
    trusted_proxies, token_users)."""
    config = parse_config(dict(raw), Path("test.toml"))
    clock = FakeClock()
    store = await Store.open(f"sqlite:///{tmp_path}/dash.db", clock=clock)
    settings = incident_settings(config)
    for n in range(30):
        store.record_sample(AvailabilitySample("web1", "http", clock.now() - 600 + 20 * n, 0, 0.01))
    await store.flush()
    pipeline = AlertPipeline(store.engine, clock=clock, settings=settings)
    labels = {"alertname": "HttpDown", "item": "web1", "severity": "critical"}
    await pipeline.submit(
        (
            Alert(
                labels,
                AlertStatus.FIRING,
                clock.now(),
                annotations={"summary": "web1 is down", "runbook_url": RUNBOOK_URL},
            ),
        )
    )
    service = IncidentService(store.engine, clock=clock, settings=lambda: settings)
    (incident,) = await service.list_incidents()
    catalog = report_catalog(config)
    app = create_app(
        tokens=tokens,
        token_names={**TOKEN_NAMES, **web.pop("token_names", {})},
        metrics=Metrics(),
        items=lambda: ITEMS,
        ready=lambda: True,
        **web,
    )
    source = ReportSource(store.engine, lambda: catalog, clock)
    ingest_routes.add_routes(app, sink=pipeline, clock=clock)
    incident_routes.add_routes(app, service, reach=reach)
    ack_routes.add_routes(
        app, service=service, key=lambda: ACK_KEY, clock=clock, locale=lambda: catalog.locale
    )
    reports.add_routes(app, source)
    membership = Membership(
        store.engine, ClusterConfig(node_name="node-1"), clock=clock, checks_owned=lambda: 2
    )
    await membership.join()

    async def cluster() -> dict[str, Any]:
        return (await read_status(store.engine, dead_after=10.0, clock=clock)).to_dict()

    dashboard.add_routes(
        app,
        incidents=service,
        reports=source,
        tokens=tokens,
        cluster=cluster,
        accounts=accounts,
        session_key=session_key,
    )
    runbook_routes.add_routes(app, lambda: runbooks or {})
    review_service = ReviewService(store.engine, clock=clock)
    review_routes.add_routes(app, review_service)
    review_pages.add_routes(app)
    work_pages.add_routes(app)
    runner = await start_api(app, "127.0.0.1", port)
    try:
        port = runner.addresses[0][1]
        yield Served(
            f"http://127.0.0.1:{port}",
            int(incident["id"]),
            service,
            clock,
            store,
            settings,
            review_service,
        )
    finally:
        await runner.cleanup()
        await store.close()
