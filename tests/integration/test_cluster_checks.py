"""Two real daemons on one PostgreSQL split their checks: every check is polled by exactly one
of them (samples.node says which), and either one's API shows every check with its node."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from pathlib import Path

import asyncpg
import pytest

from tests.integration.cluster_nodes import LoopbackServers, start_pg_nodes

pytestmark = pytest.mark.integration

ITEMS = 30


def _items(port: int) -> str:
    """ITEMS items with a one-second TCP check each, of the loopback server on `port`."""
    return "".join(
        f'[[items]]\nname = "h{i}"\naddress = "127.0.0.1"\n'
        f'[[items.checks]]\nname = "api"\nkind = "tcp"\nport = {port}\n'
        for i in range(ITEMS)
    )


def _polled_by(url: str, since: float) -> dict[tuple[str, str], set[str | None]]:
    """Which nodes wrote samples of each check since `since` (epoch seconds)."""

    async def read() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url.replace("+asyncpg", ""))
        try:
            return await conn.fetch(
                'SELECT r.item, r."check", s.node FROM samples s '
                "JOIN rollup_series r ON r.id = s.series_id WHERE s.time >= $1",
                since,
            )
        finally:
            await conn.close()

    nodes: dict[tuple[str, str], set[str | None]] = defaultdict(set)
    for row in asyncio.run(read()):
        nodes[(row["item"], row["check"])].add(row["node"])
    return nodes


def test_two_daemons_poll_each_check_on_exactly_one_node(
    tmp_path: Path,
    fresh_pg_url: str,
) -> None:
    """Node b joins node a: after the handover each of 35 checks is polled by one node only,
    both nodes poll some, and a's /api/v1/items names every check's node and shows the checks
    b polls with b's state, not PENDING."""
    servers = LoopbackServers(1)
    daemons = start_pg_nodes(tmp_path, fresh_pg_url, _items(servers.ports[0]))
    try:
        a, b = daemons["a"], daemons["b"]
        b.wait_for_log("cluster_handover_done", timeout=20)
        settled = time.time() + 1.0  # a has let go of b's checks (it saw b join at once)
        time.sleep(4.0)
        polled = _polled_by(fresh_pg_url, settled)
        assert len(polled) == ITEMS + 5  # pg_config's own five checks too
        assert all(len(nodes) == 1 for nodes in polled.values()), polled
        assert {node for nodes in polled.values() for node in nodes} == {"a", "b"}

        deadline = time.monotonic() + 15.0  # a reads b's states every 10 s
        while True:
            status, body = a.get("/api/v1/items")
            assert status == 200
            checks = [check for item in json.loads(body)["items"] for check in item["checks"]]
            owners = {check["node"] for check in checks}
            pending = [check for check in checks if check["status"] == "PENDING"]
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert owners == {"a", "b"}
        assert pending == []
    finally:
        for daemon in daemons.values():
            daemon.discard()
        servers.close()
