"""Finding 2: 100,000 alerts from outside ending at once are resolved while ingestion keeps
answering within a second, and nothing is lost (issue 19).

The alerts are stored by the real alert pipeline on the daemon's SQLite file before the
daemon starts (posting them would take minutes), all already past their end: the daemon's
first incident-timer pass finds all of them stale.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.hardening.running import Notifications
from tests.integration.test_daemon import RunningDaemon, free_port, shipped_config_for, start_daemon
from watchd.clock import SystemClock
from watchd.loading import incident_settings, load_setup
from watchd.model import Alert, AlertStatus
from watchd.pipeline import AlertPipeline
from watchd.store import Store

pytestmark = pytest.mark.integration

# WATCHD_MASS_EXPIRY_ALERTS runs it smaller on a slow machine (a multiple of PER_INCIDENT).
ALERTS = int(os.environ.get("WATCHD_MASS_EXPIRY_ALERTS", "100000"))
PER_INCIDENT = 100  # 1,000 incidents
BATCH = 5_000
PROBE_EVERY = 0.25  # seconds between ingestion probes
DEADLINE = 3_600.0  # seconds for the daemon to resolve them all


async def seed(config: Path) -> None:
    """Store ALERTS firing external alerts whose end has just passed."""
    setup = load_setup(config)
    store = await Store.open(setup.config.store_url(), clock=SystemClock())
    try:
        pipeline = AlertPipeline(
            store.engine, clock=SystemClock(), settings=incident_settings(setup.config)
        )
        now = time.time()
        for first in range(0, ALERTS, BATCH):
            await pipeline.submit(
                tuple(
                    Alert(
                        labels={
                            "alertname": "Stale",
                            "item": f"ext{n // PER_INCIDENT}",
                            "check": "prometheus",
                            "n": str(n),
                        },
                        status=AlertStatus.FIRING,
                        starts_at=now - 600,
                        ends_at=now,
                        source="alertmanager-api",
                    )
                    for n in range(first, first + BATCH)
                )
            )
    finally:
        await store.close()


class Probes:
    """Posts one new alert every PROBE_EVERY seconds and times each answer."""

    def __init__(self, port: int) -> None:
        self.answers: list[tuple[int, float]] = []
        self._url = f"http://127.0.0.1:{port}/api/v2/alerts"
        self._done = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as session:
            n = 0
            while not self._done.is_set():
                body = [{"labels": {"alertname": "Probe", "n": str(n)}}]
                started = time.monotonic()
                try:
                    async with session.post(self._url, json=body, timeout=30) as resp:
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                self.answers.append((status, time.monotonic() - started))
                n += 1
                await asyncio.sleep(PROBE_EVERY)

    def stop(self) -> list[tuple[int, float]]:
        self._done.set()
        self._thread.join()
        return self.answers


def count(db: Path, query: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute(query).fetchone()[0])


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[Path, int, float]]:
    """The shipped config on a free port, its database holding the stale alerts."""
    port = free_port()
    config = shipped_config_for(tmp_path, port)
    started = time.monotonic()
    asyncio.run(seed(config))
    yield config, port, time.monotonic() - started


def test_100000_alerts_expiring_at_once_leave_ingestion_answering_within_a_second(
    seeded: tuple[Path, int, float], tmp_path: Path
) -> None:
    """While 100,000 alerts of 1,000 incidents expire together, every ingestion probe gets
    200 (95 % within a second, all within 5 s); in the end every alert is resolved and each
    incident resolved once."""
    config, port, seeding = seeded
    db = tmp_path / "state" / "watchd.db"
    daemon: RunningDaemon = start_daemon(tmp_path, config, port)
    notifications = Notifications(daemon)
    try:
        probes = Probes(port)
        began = time.monotonic()
        firing = "SELECT count(*) FROM alerts WHERE status = 'firing' AND source != 'check'"
        stale = f"{firing} AND json_extract(labels, '$.alertname') = 'Stale'"
        while count(db, stale) and time.monotonic() - began < DEADLINE:
            time.sleep(2)
        took = time.monotonic() - began
        time.sleep(2)  # probes after the last chunk too
        answers = probes.stop()
        left = count(db, stale)
    finally:
        notifications.stop()
        daemon.proc.terminate()
        daemon.proc.wait(timeout=30)
        daemon.notify.close()
    latencies = sorted(seconds for _, seconds in answers)
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"\nseeded {ALERTS} in {seeding:.0f}s; {ALERTS - left} resolved in {took:.0f}s; "
        f"{len(answers)} probes: p50 {quantiles[49]:.3f}s p99 {quantiles[98]:.3f}s "
        f"max {latencies[-1]:.3f}s, over 1s {sum(s > 1.0 for s in latencies)}"
    )
    assert left == 0, f"not all resolved within {DEADLINE:.0f}s"
    assert {status for status, _ in answers} == {200}, answers
    # Before: probes failed with 503 after the 10 s busy timeout for minutes. Now 95 % answer
    # within a second; on a 2-core machine shared with other suites the slowest took 2-3 s.
    assert quantiles[94] < 1.0
    assert latencies[-1] < 5.0
    incidents = count(db, "SELECT count(*) FROM incidents WHERE key LIKE '%ext%'")
    assert incidents == ALERTS // PER_INCIDENT
    assert (
        count(db, "SELECT count(*) FROM incidents WHERE key LIKE '%ext%' AND state != 'resolved'")
        == 0
    )
    resolutions = (
        "SELECT count(*) FROM incident_events e JOIN incidents i ON i.id = e.incident_id "
        "WHERE i.key LIKE '%ext%' AND e.kind = 'resolved'"
    )
    assert count(db, resolutions) == incidents
    log = daemon.log.read_text()
    assert "database is locked" not in log
    # One line per expired alert, or per chunk past 20 alerts a summary saying how many.
    lines = [json.loads(line) for line in log.splitlines() if "_expired" in line]
    each = sum(1 for line in lines if line["event"] == "alert_expired")
    summed = sum(line["alerts"] for line in lines if line["event"] == "alerts_expired")
    assert each + summed == ALERTS
