"""Fixtures: the alert pipeline and the notification dispatcher on a real SQLite store with a
fake clock, and real loopback HTTP receivers whose behaviour a test scripts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select, text

from watchd.clock import FakeClock
from watchd.config import Config, parse_config
from watchd.loading import incident_settings, notify_router
from watchd.metrics import Metrics
from watchd.model import Alert, AlertStatus
from watchd.notify.dispatcher import Dispatcher
from watchd.notify.outbox import Row
from watchd.pipeline import AlertPipeline
from watchd.store import Store
from watchd.store.incident_tables import OutboxState, outbox
from watchd.store.notify_tables import deliveries

Behaviour = Callable[[web.Request, int], Any]


@dataclass
class Hook:
    """A loopback HTTP receiver: `behaviour(request, n)` answers the n-th request (from 0);
    `received` keeps every request body; `unique` the first body per Idempotency-Key."""

    behaviour: Behaviour
    received: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    unique: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        n = len(self.received)
        body = await request.read()
        doc = json.loads(body) if body else {}
        self.received.append(doc)
        self.raw.append(body)
        self.headers.append(dict(request.headers))
        answer = await self.behaviour(request, n)
        if answer is None:
            key = request.headers.get("Idempotency-Key", str(n))
            self.unique.setdefault(key, doc)
            return web.json_response({"ok": True})
        return answer


def ok() -> Behaviour:
    async def behaviour(request: web.Request, n: int) -> None:
        return None

    return behaviour


@pytest.fixture
async def hook_server() -> AsyncIterator[Callable[[Behaviour], Any]]:
    """Start loopback receivers on free ports; stopped after the test."""
    runners: list[web.AppRunner] = []

    async def start(behaviour: Behaviour, path: str = "/hook") -> Hook:
        hook = Hook(behaviour)
        app = web.Application()
        app.router.add_route("*", path, hook.handle)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        hook.url = f"http://127.0.0.1:{port}{path}"
        return hook

    yield start
    for runner in runners:
        await runner.cleanup()


def alert(item: str = "db1", name: str = "down", *, firing: bool = True, **labels: str) -> Alert:
    return Alert(
        labels={"alertname": name, "item": item, "severity": "critical", **labels},
        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
        starts_at=1_800_000_000.0,
        annotations={"summary": f"{name} on {item}"},
    )


def ack_links(tmp_path: Path) -> dict[str, Any]:
    """A `[notify]` table with signed acknowledge links (its key file written in `tmp_path`)."""
    (tmp_path / "ack.key").write_text("k" * 32)
    key = {"file": str(tmp_path / "ack.key")}
    return {"ack_links": {"base_url": "http://127.0.0.1:9797", "key": key}}


class RecordingSink:
    """An AlertSink that keeps what it is given (the dispatcher's self-alerts)."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def submit(self, alerts: tuple[Alert, ...]) -> None:
        self.alerts.extend(alerts)


class Notify:
    """Pipeline + dispatcher on one store with a fake clock; `pump` delivers until idle.
    `sole`: the dispatcher is told no other process delivers from the store, as the daemon
    tells it when it holds its SQLite file."""

    def __init__(
        self, store: Store, clock: FakeClock, raw: dict[str, Any], base: Path, sole: bool = False
    ) -> None:
        self.store = store
        self.clock = clock
        self.sink = RecordingSink()
        self.config: Config = parse_config(raw, base / "config.toml")
        self.router = notify_router(self.config)
        self.settings = incident_settings(self.config, self.router)
        self.pipeline = AlertPipeline(store.engine, clock=clock, settings=self.settings)
        self.metrics = Metrics()  # the dispatcher counts each row's outcome on it
        self.dispatcher = Dispatcher(
            store.engine,
            clock=clock,
            receivers=self.config.receivers,
            notify=self.config.notify,
            router=self.router,
            settings=self.settings,
            sink=self.sink,
            base=base,
            count=self.metrics.flow.count_notifications,
            locale=self.config.daemon.locale,
            sole=sole,
        )

    async def send(self, *alerts: Alert) -> None:
        await self.pipeline.submit(tuple(alerts))

    async def pump(self, rounds: int = 5) -> None:
        for _ in range(rounds):
            await self.dispatcher.run_once()

    async def rows(self, query: Any) -> list[dict[str, Any]]:
        if isinstance(query, str):
            query = text(query)
        async with self.store.engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(query)]

    async def outbox(self, receiver: str) -> list[dict[str, Any]]:
        return await self.rows(
            select(outbox).where(outbox.c.receiver == receiver).order_by(outbox.c.id)
        )

    async def deliveries(self, receiver: str) -> list[dict[str, Any]]:
        return await self.rows(
            select(deliveries).where(deliveries.c.receiver == receiver).order_by(deliveries.c.id)
        )

    async def timeline(self, incident_id: int) -> list[tuple[str, dict[str, Any]]]:
        rows = await self.rows(
            f"SELECT kind, detail FROM incident_events WHERE incident_id = {incident_id} ORDER BY seq"
        )
        return [
            (r["kind"], json.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"])
            for r in rows
        ]


NOW = 1_800_000_000.0
ROW_LABELS = {"alertname": "down", "severity": "critical", "item": "db1"}


def outbox_row(
    id: int,
    incident: int = 1,
    receiver: str = "hook",
    *,
    created: float = NOW - 10,
    next_at: float = NOW - 10,
    state: OutboxState = OutboxState.PENDING,
    claimed_until: float | None = None,
    labels: dict[str, str] = ROW_LABELS,
) -> Row:
    """An open outbox row as the scan reads it (no payload), due and free by default."""
    return Row(
        id=id,
        incident_id=incident,
        seq=id,
        receiver=receiver,
        kind="opened",
        state=state,
        attempts=0,
        created_at=created,
        next_attempt_at=next_at,
        claimed_until=claimed_until,
        idempotency_key=f"{incident}:{id}",
        incident_key=f"incident-{incident}",
        label_sets=(labels,),
    )


TABLES = (
    "handoff_notices, review_actions, reviews, alerts, deliveries, tickets, notify_groups, outbox, "
    "incident_events, incident_alerts, incidents, problems, changes, silences"
)


@pytest.fixture
def notify_db(tmp_path: Path) -> str:
    """The store notification tests run on: a SQLite file (see test_postgres for PostgreSQL)."""
    return f"sqlite:///{tmp_path}/watchd.db"


@pytest.fixture
async def make_notify(
    tmp_path: Path, notify_db: str
) -> AsyncIterator[Callable[[dict[str, Any]], Any]]:
    """Build a Notify harness from a config dict (receivers, route, ...)."""
    clock = FakeClock()
    store = await Store.open(notify_db, clock=clock)
    if store.engine.dialect.name == "postgresql":
        async with store.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY"))
    made: list[Notify] = []

    async def make(raw: dict[str, Any], *, sole: bool = False) -> Notify:
        notify = Notify(store, clock, raw, tmp_path, sole)
        made.append(notify)
        return notify

    yield make
    for notify in made:
        await notify.dispatcher.aclose()
    await store.close()


async def settle(seconds: float = 0.05) -> None:
    """Let loopback servers answer (real I/O); bounded."""
    await asyncio.sleep(seconds)
