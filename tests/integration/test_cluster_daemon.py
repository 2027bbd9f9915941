"""Two real daemons on one PostgreSQL: they see each other, a third under a taken name is
refused, SIGTERM makes a node leave at once (its row gone, its lease taken over), and the
outbox they share delivers each notification once."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from tests.integration.cluster_nodes import pg_config
from tests.integration.test_daemon import RunningDaemon, free_port, run_to_exit, start_daemon

pytestmark = pytest.mark.integration


def cluster_config(tmp: Path, url: str, name: str) -> tuple[Path, int]:
    """A daemon named `name` on `url`, its own directory and API port."""
    home = tmp / name
    home.mkdir()
    port = free_port()
    extra = f'[cluster]\nnode_name = "{name}"\ndead_after = "10s"\nheartbeat_interval = "2s"\n'
    return pg_config(home, port, url, extra=extra), port


def node_names(url: str) -> list[str]:
    async def read() -> list[str]:
        conn = await asyncpg.connect(url.replace("+asyncpg", ""))
        try:
            rows = await conn.fetch("SELECT name FROM cluster_nodes ORDER BY name")
        finally:
            await conn.close()
        return [row["name"] for row in rows]

    return asyncio.run(read())


def test_sigterm_makes_a_node_leave_at_once_and_a_taken_name_is_refused(
    tmp_path: Path, fresh_pg_url: str
) -> None:
    """Two nodes join; a third named like a live one exits 1 naming it; SIGTERM of a node
    removes its row at once and the other takes its lease long before dead_after (10 s)."""
    daemons: list[RunningDaemon] = []
    try:
        config_a, port_a = cluster_config(tmp_path, fresh_pg_url, "a")
        daemons.append(start_daemon(config_a.parent, config_a, port_a))
        a = daemons[0]
        a.wait_for_log("lease_acquired")
        config_b, port_b = cluster_config(tmp_path, fresh_pg_url, "b")
        daemons.append(start_daemon(config_b.parent, config_b, port_b))
        b = daemons[1]
        joined = b.wait_for_log("cluster_joined")
        assert joined["live"] == ["a", "b"]
        assert a.wait_for_log("node_joined")["node"] == "b"
        assert node_names(fresh_pg_url) == ["a", "b"]

        config_a2, _ = cluster_config(tmp_path / "a", fresh_pg_url, "a")
        code, lines = run_to_exit(config_a2)
        assert code == 1
        (refused,) = [line for line in lines if line.get("event") == "cluster_node_name_taken"]
        assert refused["node"] == "a" and refused["pid"] == a.proc.pid

        a.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        taken = b.wait_for_log("lease_acquired", timeout=10)
        took = time.monotonic() - sent
        assert took < 5.0, took  # dead_after is 10 s: this came from the leave, not a death
        assert b.wait_for_log("node_left")["node"] == "a"
        assert node_names(fresh_pg_url) == ["b"]
        assert taken["node"] == "b"
        assert a.proc.wait(timeout=20) == 0
    finally:
        for daemon in daemons:
            daemon.discard()


ALERTS = 60


async def test_two_daemons_deliver_each_notification_once(
    tmp_path: Path, fresh_pg_url: str
) -> None:
    """Two daemon processes on one PostgreSQL share the outbox (FOR UPDATE SKIP LOCKED): the
    incidents opened through both are each delivered once to the webhook, never twice."""
    keys: Counter[str] = Counter()

    async def hook(request: web.Request) -> web.Response:
        keys[request.headers["Idempotency-Key"]] += 1
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook_port = runner.addresses[0][1]
    receiver = (
        f'[[receivers]]\nname = "hook"\nkind = "webhook"\nurl = "http://127.0.0.1:{hook_port}/hook"\n'
        '[route]\ngroup_wait = "0s"\n'
    )
    daemons: list[RunningDaemon] = []
    try:
        for name in ("a", "b"):
            home = tmp_path / name
            home.mkdir()
            port = free_port()
            extra = f'[cluster]\nnode_name = "{name}"\n{receiver}'
            config = pg_config(home, port, fresh_pg_url, extra=extra)
            daemons.append(await asyncio.to_thread(start_daemon, home, config, port))
        async with aiohttp.ClientSession() as http:
            for n in range(ALERTS):
                alert = {"labels": {"alertname": "Split", "item": f"host{n}"}}
                url = daemons[n % 2].url("/api/v2/alerts")
                async with http.post(url, json=[alert]) as resp:
                    assert resp.status == 200
        async with asyncio.timeout(60):
            while len(keys) < ALERTS:  # noqa: ASYNC110  # the daemons deliver in their own time
                await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # time for a second delivery of any row, were one to come
    finally:
        for daemon in daemons:
            daemon.discard()
        await runner.cleanup()
    assert len(keys) == ALERTS
    assert keys.most_common(1)[0][1] == 1
