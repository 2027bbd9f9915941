"""A PostgreSQL restart under a running daemon: ingestion answers 503 + Retry-After meanwhile,
the daemon reconnects by itself, and nothing that was answered 200 is lost."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from tests.integration.cluster_nodes import CHECKS, LoopbackServers, pg_config
from tests.integration.test_daemon import RunningDaemon, free_port, start_daemon
from tests.pg_server import PrivatePostgres, StopMode
from tests.store.conftest import eventually
from watchd.model import fingerprint

pytestmark = pytest.mark.integration

DOWN_SECONDS = 4.0


@dataclass
class Posted:
    """What the sender saw: alerts answered 200 and every other answer, with when it came."""

    acked: set[str] = field(default_factory=set)
    answers: list[tuple[float, int, str | None, float]] = field(default_factory=list)

    def statuses(self, since: float, until: float) -> set[int]:
        return {status for at, status, _, _ in self.answers if since <= at <= until}


async def post_continuously(
    urls: list[str], posted: Posted, stop: asyncio.Event, counter: Iterator[int]
) -> None:
    """Post one new alert at a time, round robin over `urls`, until `stop`; record each
    answer (time, status, Retry-After, seconds taken); status 0 is no answer within 15 s."""
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        for url in itertools.cycle(urls):
            if stop.is_set():
                return
            alert = {
                "labels": {"alertname": "PgRestart", "n": str(next(counter))},
                "endsAt": "2100-01-01T00:00:00.000Z",
            }
            started = time.monotonic()
            try:
                async with http.post(url, json=[alert]) as resp:
                    status, retry_after = resp.status, resp.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError):
                status, retry_after = 0, None
            taken = time.monotonic() - started
            posted.answers.append((started, status, retry_after, taken))
            if status == 200:
                posted.acked.add(fingerprint(alert["labels"]))
            else:
                await asyncio.sleep(0.05)


async def stored_fingerprints(pg: PrivatePostgres) -> set[str]:
    rows = await pg.fetch("SELECT fingerprint FROM alerts WHERE labels->>'alertname' = 'PgRestart'")
    return {row["fingerprint"] for row in rows}


async def sample_times(pg: PrivatePostgres) -> list[float]:
    return [row["time"] for row in await pg.fetch("SELECT time FROM samples")]


@pytest.fixture
def target() -> Iterator[LoopbackServers]:
    """A TCP server the daemon's "target/tcp" check connects to; closing it fails the check."""
    servers = LoopbackServers(1)
    yield servers
    servers.close()


@pytest.fixture
def daemon_on_pg(
    tmp_path: Path, private_pg: PrivatePostgres, target: LoopbackServers
) -> Iterator[RunningDaemon]:
    port = free_port()
    item = (
        '[[items]]\nname = "target"\naddress = "127.0.0.1"\n'
        f'  [[items.checks]]\n  name = "tcp"\n  kind = "tcp"\n  port = {target.ports[0]}\n'
        "  max_attempts = 1\n"
    )
    config = pg_config(tmp_path, port, private_pg.url("watchd"), extra=item)
    running = start_daemon(tmp_path, config, port)
    yield running
    running.discard()


async def target_alert(pg: PrivatePostgres) -> str | None:
    """The status of the target check's alert in the store, None while there is none."""
    rows = await pg.fetch("SELECT status FROM alerts WHERE labels->>'item' = 'target'")
    return str(rows[0]["status"]) if rows else None


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_a_postgresql_restart_loses_nothing_answered_200(
    daemon_on_pg: RunningDaemon, private_pg: PrivatePostgres, target: LoopbackServers,
    mode: StopMode,
) -> None:  # fmt: skip
    """While PostgreSQL restarts (shut down cleanly, or aborted like a crash) ingestion answers 503 with Retry-After, never 500 and never hangs; the daemon reconnects by itself, every alert answered 200 is stored, and the check samples taken and the check alert raised while it was down are written afterwards."""
    posted, stop = Posted(), asyncio.Event()
    sender = asyncio.create_task(
        post_continuously([daemon_on_pg.url("/api/v2/alerts")], posted, stop, itertools.count())
    )
    await asyncio.sleep(2)
    went_down = time.monotonic()
    down_wall = time.time()
    await asyncio.to_thread(private_pg.stop, mode)
    target.close()  # its check goes HARD CRITICAL while nothing can be stored
    await asyncio.sleep(DOWN_SECONDS)
    ready_while_down = daemon_on_pg.get("/readyz")[0]
    back_wall = time.time()
    await asyncio.to_thread(private_pg.start)
    came_back = time.monotonic()
    # The daemon reconnects on its own: alerts are answered 200 again within a few seconds.
    async with asyncio.timeout(20):
        while not any(at > came_back and s == 200 for at, s, _, _ in posted.answers):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    stop.set()
    await sender

    assert daemon_on_pg.proc.poll() is None
    during = posted.statuses(went_down + 0.5, came_back)
    assert 503 in during, posted.answers
    assert {s for _, s, _, _ in posted.answers} <= {200, 503}, posted.answers
    assert all(ra == "5" for _, s, ra, _ in posted.answers if s == 503)
    assert max(taken for _, _, _, taken in posted.answers) < 10
    assert ready_while_down == 200  # readiness is the process's, not the shared database's
    assert daemon_on_pg.get("/readyz")[0] == 200

    stored = await stored_fingerprints(private_pg)
    assert posted.acked and posted.acked <= stored
    # Samples of the checks that ran while PostgreSQL was down waited in memory and were written:
    # the writer retries with backoff, so wait for it.
    async with asyncio.timeout(30):
        while True:
            times = await sample_times(private_pg)
            if sum(down_wall + 0.5 < t < back_wall for t in times) >= CHECKS * (DOWN_SECONDS - 1):
                break
            await asyncio.sleep(0.5)
    assert "sample writes recovered" in {e.get("event") for e in daemon_on_pg.log_lines()}

    async def alert_stored() -> bool:
        return await target_alert(private_pg) == "firing"

    await eventually(alert_stored, within=30, poll=0.5)
