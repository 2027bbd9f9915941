"""SIGKILL the ingestion daemon mid-stream: every alert that got a 200 is there after restart."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from watchd.clock import SystemClock
from watchd.model import fingerprint
from watchd.store import Store

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
DAEMON = ROOT / "tests" / "data" / "ingest_daemon.py"


class Daemon:
    def __init__(self, tmp: Path, sink: str) -> None:
        self.db = tmp / "watchd.db"
        self.port_file = tmp / "port"
        self.port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, str(DAEMON), str(self.db), str(self.port_file), sink],
            cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=(tmp / "daemon.log").open("a"),
        )
        deadline = time.monotonic() + 20
        while not self.port_file.exists():
            assert self.proc.poll() is None, (tmp / "daemon.log").read_text()
            assert time.monotonic() < deadline, "the ingestion daemon did not start in 20 s"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port_file.read_text()}/api/v2/alerts"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.kill()


async def _send_until_killed(
    url: str, acked: set[str], counter: Iterator[int], stop: asyncio.Event
) -> None:
    """Post batches of 5 new alerts until the daemon dies; remember the ones answered 200."""
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        while not stop.is_set():
            batch = [
                {
                    "labels": {"alertname": "CrashTest", "n": str(next(counter))},
                    "startsAt": "2027-01-15T08:00:00.000Z",
                    "endsAt": "2100-01-01T00:00:00.000Z",
                }
                for _ in range(5)
            ]
            try:
                async with http.post(url, json=batch) as resp:
                    if resp.status == 200:
                        acked.update(fingerprint(a["labels"]) for a in batch)
            except (aiohttp.ClientError, TimeoutError):
                return


@pytest.mark.parametrize("sink", ["pipeline", "storing"])
async def test_every_acknowledged_alert_survives_sigkill(
    tmp_path: Path, daemons: list[Daemon], sink: str
) -> None:
    """Alerts answered 200 are in the store after a SIGKILL during concurrent ingestion."""
    daemon = Daemon(tmp_path, sink)
    daemons.append(daemon)
    acked: set[str] = set()
    counter = itertools.count()
    stop = asyncio.Event()
    senders = [
        asyncio.create_task(_send_until_killed(daemon.url, acked, counter, stop)) for _ in range(8)
    ]
    async with asyncio.timeout(20):
        while len(acked) < 500:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    daemon.kill()  # with requests in flight: some were being committed right now
    stop.set()
    await asyncio.wait_for(asyncio.gather(*senders), 15)
    sent = next(counter)
    assert sent > len(acked), "the kill should have caught requests in flight"

    store = await Store.open(f"sqlite:///{daemon.db}", clock=SystemClock())
    try:
        kept = {a.fingerprint for a in await store.alerts()}
    finally:
        await store.close()
    assert acked <= kept, f"{len(acked - kept)} acknowledged alerts were lost"

    # And the daemon restarts on the same file and accepts alerts again.
    again = Daemon(tmp_path, sink)
    daemons.append(again)
    async with (
        aiohttp.ClientSession() as http,
        http.post(again.url, json=[{"labels": {"alertname": "AfterRestart"}}]) as resp,
    ):
        assert resp.status == 200
