"""Finding 2: many alerts ending at once are resolved a chunk per transaction, so other writers
get the store in between; the mute sweep reads its members a page at a time (issue 19)."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select, update

from tests.pipeline.conftest import Harness, alert
from watchd.model import Alert, AlertStatus
from watchd.pipeline import alert_pipeline
from watchd.pipeline.actions import IncidentService
from watchd.store.incident_tables import incident_alerts, incident_events, incidents
from watchd.store.tables import alerts

STALE = 1_500
PER_INCIDENT = 30


def external(n: int, now: float) -> Alert:
    return Alert(
        labels={
            "alertname": "Stale",
            "item": f"ext{n // PER_INCIDENT}",
            "check": "am",
            "n": str(n),
        },
        status=AlertStatus.FIRING,
        starts_at=now,
        ends_at=now + 60,
        source="alertmanager-api",
    )


async def test_mass_expiry_lets_other_writers_in_and_resolves_each_incident_once(
    harness: Harness,
) -> None:
    """1,500 alerts ending at once resolve a chunk per transaction: alerts sent meanwhile are
    stored within a second each, and every incident resolves exactly once."""
    now = harness.clock.now()
    for start in range(0, STALE, 1_000):
        await harness.send(*(external(n, now) for n in range(start, min(STALE, start + 1_000))))
    await harness.clock.advance(120)
    transactions = 0
    transact = alert_pipeline.AlertPipeline._transact

    async def counting(self, operation, body):  # type: ignore[no-untyped-def]
        nonlocal transactions
        transactions += operation == "expire stale alerts"
        return await transact(self, operation, body)

    latencies: list[float] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(alert_pipeline.AlertPipeline, "_transact", counting)
        patch.setattr(alert_pipeline, "EXPIRE_PAGE", 400)  # looked up in pages: 4 of them
        expiry = asyncio.create_task(harness.pipeline.expire())
        probe = 0
        while not expiry.done():
            started = time.monotonic()
            await harness.send(alert("db1", f"Probe{probe}", ends_at=harness.clock.now() + 3600))
            latencies.append(time.monotonic() - started)
            probe += 1
            await asyncio.sleep(0.05)
        assert await expiry == STALE
    assert latencies and max(latencies) < 2.0, latencies  # 8.2s before, on a busy machine
    assert transactions > 1
    firing = await harness.rows(
        select(alerts.c.fingerprint).where(
            alerts.c.status == "firing", alerts.c.labels["alertname"].as_string() == "Stale"
        )
    )
    assert firing == []
    resolved_events = await harness.rows(
        select(incident_events.c.incident_id, func.count().label("n"))
        .where(incident_events.c.kind == "resolved")
        .group_by(incident_events.c.incident_id)
    )
    external_incidents = await harness.rows(
        select(incidents.c.id, incidents.c.state).where(incidents.c.key.like("%ext%"))
    )
    assert len(external_incidents) == STALE // PER_INCIDENT
    assert {i["state"] for i in external_incidents} == {"resolved"}
    once = {r["incident_id"]: r["n"] for r in resolved_events}
    assert all(once.get(i["id"]) == 1 for i in external_incidents), once


async def test_an_alert_sent_again_during_a_mass_expiry_stays_firing(harness: Harness) -> None:
    """An alert refreshed between the expiry's look-up and its chunk is not resolved."""
    now = harness.clock.now()
    await harness.send(*(external(n, now) for n in range(1_200)))
    await harness.clock.advance(120)
    later = harness.clock.now()
    original = alert_pipeline.AlertPipeline._process_for
    refreshed = external(1_100, later)
    refreshed = Alert(
        labels=refreshed.labels,
        status=AlertStatus.FIRING,
        starts_at=now,
        ends_at=later + 600,
        source="alertmanager-api",
    )
    sent = False

    async def send_between(self, conn, stale, now_, hold):  # type: ignore[no-untyped-def]
        nonlocal sent
        result = await original(self, conn, stale, now_, hold)
        if not sent:
            sent = True
            asyncio.get_running_loop().create_task(harness.send(refreshed))
            await asyncio.sleep(0)
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(alert_pipeline, "EXPIRE_CHUNK", 500)
        patch.setattr(alert_pipeline.AlertPipeline, "_process_for", send_between)
        expired = await harness.pipeline.expire()
    assert expired == 1_199
    rows = await harness.rows(
        select(alerts.c.status).where(alerts.c.fingerprint == refreshed.fingerprint)
    )
    assert rows == [{"status": "firing"}]


async def test_the_mute_sweep_reads_in_pages_and_misses_no_member(harness: Harness) -> None:
    """With pages smaller than an incident, a silence added behind the pipeline's back still
    mutes every member of every incident at the next sweep, and ending it unmutes them."""
    now = harness.clock.now()
    await harness.send(*(external(n, now) for n in range(95)))  # incidents of 30, 30, 30, 5
    service = IncidentService(
        harness.store.engine, clock=harness.clock, settings=lambda: harness.settings
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(alert_pipeline, "SWEEP_PAGE", 7)
        patch.setattr(alert_pipeline, "SWEEP_INCIDENTS", 2)
        silence = await service.add_silence(
            matchers=['alertname="Stale"'], ends_at=now + 600, created_by="test"
        )
        async with harness.store.engine.begin() as conn:  # as if the silence came after
            await conn.execute(update(incident_alerts).values(muted=None))
        assert await harness.pipeline.sweep() == 95
        muted = await harness.rows(
            select(incident_alerts.c.muted).where(incident_alerts.c.role == "member")
        )
        assert {m["muted"] for m in muted} == {f"silence:{silence['id']}"}
        await harness.clock.advance(601)
        assert await harness.pipeline.sweep() == 95
        muted = await harness.rows(select(incident_alerts.c.muted))
        assert {m["muted"] for m in muted} == {None}
