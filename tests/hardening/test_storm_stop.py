"""Finding 12: after a storm of new incidents, SIGTERM stops the daemon within its shutdown
grace, with the `stopped` line and the states saved (issue 19)."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from tests.hardening.running import Notifications
from tests.integration.test_daemon import RunningDaemon, free_port, shipped_config_for, start_daemon

pytestmark = pytest.mark.integration

STORM = 5_000  # new incidents, as in the report
BATCH = 50
ENDS_IN = 30.0  # seconds after they are sent again, the storm's alerts all end at once
GRACE = 10.0  # the shipped config's daemon.shutdown_grace


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def storm(base: str, ends_at: float) -> dict[int, int]:
    """Post STORM alerts, each opening its own incident, eight requests at a time."""
    answers: dict[int, int] = {}
    limit = asyncio.Semaphore(8)

    async def post(session: aiohttp.ClientSession, first: int) -> None:
        body = [
            {
                "labels": {"alertname": "Storm", "item": f"host{n}", "check": "storm"},
                "annotations": {"summary": f"storm {n}"},
                "endsAt": iso(ends_at),
            }
            for n in range(first, first + BATCH)
        ]
        async with limit:
            for _ in range(30):
                async with session.post(f"{base}/api/v2/alerts", json=body) as resp:
                    answers[resp.status] = answers.get(resp.status, 0) + 1
                    if resp.status == 200:
                        return
                await asyncio.sleep(1)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(post(session, n) for n in range(0, STORM, BATCH)))
    return answers


def test_sigterm_during_the_expiry_after_a_storm_stops_within_the_grace(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    """5,000 new incidents whose alerts then expire together: a SIGTERM in the middle of that
    still stops the daemon within the grace, exit 0, `stopped` logged, check states saved."""
    daemon.wait_for_log("started")
    notifications = Notifications(daemon)
    base = f"http://127.0.0.1:{daemon.port}"
    answers = asyncio.run(storm(base, time.time() + 3600))
    assert set(answers) == {200}, answers
    # The same alerts again (repeats: quick), now ending together ENDS_IN from now.
    refreshed = time.time()
    assert set(asyncio.run(storm(base, refreshed + ENDS_IN))) == {200}
    assert time.time() < refreshed + ENDS_IN, "the repeats outlasted their alerts' end"
    # The incident timers (every 5s) start resolving the 5,000 alerts within 5s of their end.
    time.sleep(max(0.0, refreshed + ENDS_IN + 7.0 - time.time()))
    assert daemon.proc.poll() is None
    daemon.proc.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    try:
        code: int | None = daemon.proc.wait(timeout=GRACE + 5.0)
    except subprocess.TimeoutExpired:
        code = None
    took = time.monotonic() - signalled
    assert code == 0, f"still running {took:.0f}s after SIGTERM:\n{daemon.log.read_text()[-3000:]}"
    stopped = daemon.wait_for_log("stopped")
    assert int(stopped["alerts"]) >= 2 * STORM  # type: ignore[call-overload]
    assert "STOPPING=1" in notifications.stop()
    with sqlite3.connect(tmp_path / "state" / "watchd.db") as db:
        saved = db.execute("SELECT count(*) FROM states WHERE namespace = 'check'").fetchone()
    assert saved[0] >= 1


@pytest.fixture
def short_grace(tmp_path: Path) -> Iterator[RunningDaemon]:
    """The shipped config with a 2 s shutdown grace: the stop deadline is 12 s."""
    port = free_port()
    config = shipped_config_for(tmp_path, port)
    config.write_text(config.read_text().replace('shutdown_grace = "10s"', 'shutdown_grace = "2s"'))
    running = start_daemon(tmp_path, config, port)
    yield running
    running.discard()


def test_a_stop_that_cannot_finish_ends_at_the_deadline_with_the_tasks_named(
    short_grace: RunningDaemon, tmp_path: Path
) -> None:
    """With another process holding SQLite's write lock for good, every write at shutdown
    waits its 10 s busy timeout (20 s or more in all); the daemon still exits at
    shutdown_grace + 10 s, exit 1, naming the tasks still running (`stop_overdue`)."""
    daemon = short_grace
    daemon.wait_for_log("started")
    notifications = Notifications(daemon)
    holder = sqlite3.connect(tmp_path / "state" / "watchd.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        time.sleep(1.0)
        daemon.proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = daemon.proc.wait(timeout=60.0)
        took = time.monotonic() - signalled
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        notifications.stop()
    assert code == 1, f"exit {code} after {took:.1f}s"
    assert 11.0 < took < 12.0 + 5.0, took
    overdue = daemon.wait_for_log("stop_overdue")
    assert overdue["running"], overdue
    assert daemon.wait_for_log("stopped")["forced"] is True
