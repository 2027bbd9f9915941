"""Fixtures: the alert pipeline and incident core on a real store (SQLite file and real PostgreSQL) and a FakeClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from tests.store.conftest import pg_url  # noqa: F401  (the session PostgreSQL database)
from watchd.clock import FakeClock
from watchd.config import parse_config
from watchd.incidents.settings import IncidentSettings
from watchd.loading import incident_settings
from watchd.model import Alert, AlertStatus
from watchd.pipeline import AlertPipeline
from watchd.store import Store
from watchd.store.incident_tables import incident_alerts, incident_events, incidents, outbox

INCIDENT_TABLES = (
    "review_actions, reviews, outbox, incident_events, incident_alerts, incidents, problems, "
    "changes, silences, ingest_journal"
)

BASE_CONFIG: dict[str, Any] = {
    "items": [
        # Host checks by default: the router's TCP check, the switch's ping, web1's HTTP check.
        {"name": "router", "checks": [{"name": "tcp", "kind": "tcp", "port": 22}]},
        {
            "name": "switch",
            "parents": ["router"],
            "checks": [{"name": "ping", "kind": "ping"}],
        },
        {
            "name": "web1",
            "parents": ["switch"],
            "checks": [{"name": "http", "kind": "http", "url": "http://web1/"}],
        },
        {"name": "db1"},
    ],
    "receivers": [{"name": "log"}, {"name": "pager"}],
}


def settings_from(raw: dict[str, Any]) -> IncidentSettings:
    return incident_settings(parse_config({**BASE_CONFIG, **raw}, Path("test.toml")))


def alert(
    item: str = "db1",
    name: str = "check_tcp",
    *,
    severity: str = "critical",
    firing: bool = True,
    source: str = "check",
    ends_at: float | None = None,
    **labels: str,
) -> Alert:
    """An alert as a check would raise it: check_<kind> on an item, with the check's name."""
    check = labels.pop("check", name.removeprefix("check_"))
    return Alert(
        labels={"alertname": name, "item": item, "check": check, "severity": severity, **labels},
        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
        starts_at=1_800_000_000.0,
        annotations={"summary": f"{name} on {item}"},
        ends_at=ends_at,
        source=source,
    )


class Harness:
    """A pipeline on a real store with a fake clock, and readers for what it wrote."""

    def __init__(self, store: Store, clock: FakeClock) -> None:
        self.store = store
        self.clock = clock
        self.settings = settings_from({})
        self.rechecked: list[set[tuple[str, str]]] = []  # what the pipeline asked to re-run
        self.pipeline = AlertPipeline(
            store.engine, clock=clock, settings=self.settings, recheck=self.rechecked.append
        )

    def configure(self, **raw: Any) -> None:
        self.settings = settings_from(raw)
        self.pipeline.reconfigure(self.settings)

    async def send(self, *alerts: Alert) -> None:
        await self.pipeline.submit(tuple(alerts))

    async def rows(self, query: Any) -> list[dict[str, Any]]:
        if isinstance(query, str):
            query = text(query)
        async with self.store.engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(query)]

    async def incidents(self) -> list[dict[str, Any]]:
        return await self.rows(select(incidents).order_by(incidents.c.id))

    async def members(self, incident_id: int) -> list[dict[str, Any]]:
        return await self.rows(
            select(incident_alerts).where(incident_alerts.c.incident_id == incident_id)
        )

    async def timeline(self, incident_id: int) -> list[str]:
        rows = await self.rows(
            select(incident_events.c.kind)
            .where(incident_events.c.incident_id == incident_id)
            .order_by(incident_events.c.seq)
        )
        return [r["kind"] for r in rows]

    async def events(self, incident_id: int, kind: str) -> list[dict[str, Any]]:
        """The details of the incident's timeline events of `kind`, in order."""
        rows = await self.rows(
            select(incident_events.c.detail)
            .where(incident_events.c.incident_id == incident_id, incident_events.c.kind == kind)
            .order_by(incident_events.c.seq)
        )
        return [dict(r["detail"]) for r in rows]

    async def notifications(self, receiver: str = "log") -> list[tuple[int, str]]:
        """(incident id, kind) of every outbox row for `receiver`, in order."""
        rows = await self.rows(
            select(outbox.c.incident_id, outbox.c.kind)
            .where(outbox.c.receiver == receiver)
            .order_by(outbox.c.id)
        )
        return [(r["incident_id"], r["kind"]) for r in rows]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A SQLite file, then the session's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/watchd.db"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
async def harness(db_url: str) -> AsyncIterator[Harness]:
    """The incident core on SQLite and on PostgreSQL, tables emptied for each test."""
    url = db_url
    clock = FakeClock()
    store = await Store.open(url, clock=clock, batch_size=10, flush_interval=1.0)
    if store.engine.dialect.name == "postgresql":
        async with store.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE alerts, {INCIDENT_TABLES} RESTART IDENTITY"))
    yield Harness(store, clock)
    await store.close()
