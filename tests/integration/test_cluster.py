"""Three real `watchd run` nodes on one (private) PostgreSQL with 600 TCP checks against
loopback servers: the checks are shared out, a SIGKILLed node's checks and lease move to the
others and come back when it returns, and nothing answered 200 is lost meanwhile, not even
across a PostgreSQL restart.

The tests share one cluster (module scope, about 20 s to start) and leave it as they found
it: three nodes running, PostgreSQL up.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.cluster_nodes import (
    CheckKey,
    LoopbackServers,
    Node,
    check_items,
    cluster_status,
    node_config,
    runs_since,
)
from tests.integration.test_daemon import free_port
from tests.integration.test_pg_restart import Posted, post_continuously, stored_fingerprints
from tests.notify.test_daemon_restart import Receiver
from tests.pg_server import PrivatePostgres
from tests.store.conftest import eventually

pytestmark = pytest.mark.integration

ITEMS, PER_ITEM = 60, 10  # 600 checks
INTERVAL = 2.0
DEAD_AFTER = 4.0
FAILING: tuple[CheckKey, ...] = tuple((f"item{i}", "c0") for i in range(0, ITEMS, 5))
HOOKS = ("/hook/a", "/hook/b")


@dataclass
class Cluster:
    pg: PrivatePostgres
    database: str
    nodes: list[Node]
    receiver: Receiver

    def live(self) -> list[Node]:
        return [node for node in self.nodes if node.running is not None]

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    pg = PrivatePostgres()
    servers = LoopbackServers(6)
    receiver = Receiver()
    receiver.down = False
    nodes: list[Node] = []
    try:
        pg.start()
        database = pg.create_database("watchd")
        items = check_items(
            ITEMS, PER_ITEM, servers.ports, failing=FAILING, closed_port=servers.closed_port
        )
        root = tmp_path_factory.mktemp("cluster")
        for name in ("node-a", "node-b", "node-c"):
            directory = root / name
            directory.mkdir()
            port = free_port()
            node_config(
                directory, name=name, port=port, database=database, items=items,
                interval=INTERVAL, dead_after=DEAD_AFTER,
                receivers=[receiver.url.removesuffix("/hook") + hook for hook in HOOKS],
            )  # fmt: skip
            nodes.append(Node(name, directory, port))
        for node in nodes:
            node.start()
        yield Cluster(pg, database, nodes, receiver)
    finally:
        for node in nodes:
            node.stop()
        receiver.close()
        servers.close()
        pg.cleanup()


async def settled_runs(cluster: Cluster, seconds: float) -> dict[CheckKey, list[tuple[float, str]]]:
    """The runs of the next `seconds`, once every check has run at least once."""

    async def all_ran() -> bool:
        return len(await runs_since(cluster.pg, time.time() - INTERVAL)) == ITEMS * PER_ITEM

    await eventually(all_ran, within=60, poll=0.5)
    since = time.time()
    await asyncio.sleep(seconds)
    return await runs_since(cluster.pg, since)


def owners(runs: dict[CheckKey, list[tuple[float, str]]]) -> dict[CheckKey, set[str]]:
    return {key: {node for _, node in got} for key, got in runs.items()}


async def test_every_check_runs_on_exactly_one_node_spread_over_the_three(
    cluster: Cluster,
) -> None:
    """Each of the 600 checks is polled by exactly one node, and each node polls about a third of them."""
    runs = await settled_runs(cluster, 3 * INTERVAL)
    by_check = owners(runs)
    assert len(by_check) == ITEMS * PER_ITEM
    assert {key: nodes for key, nodes in by_check.items() if len(nodes) != 1} == {}
    per_node = Counter(next(iter(nodes)) for nodes in by_check.values())
    assert set(per_node) == {"node-a", "node-b", "node-c"}
    assert min(per_node.values()) >= 120, per_node  # 200 each on average


def notified_incidents(cluster: Cluster, hook: str, item: str) -> set[int]:
    return {
        int(body["incident"]["id"])
        for path, _, body in list(cluster.receiver.deliveries)
        if path == hook and body["incident"]["item"] == item
    }


def lease_holders(status: dict[str, Any]) -> dict[str, str]:
    """The held leases in a cluster status (`watchd cluster status --json`, GET
    /api/v1/cluster), by name: their holder."""
    return {lease["name"]: lease["holder"] for lease in status["leases"] if lease["holder"]}


def node_states(status: dict[str, Any]) -> dict[str, str]:
    return {node["name"]: node["state"] for node in status["nodes"]}


def api_status(node: Node) -> dict[str, Any]:
    """GET /api/v1/cluster on `node`."""
    assert node.running is not None
    code, body = node.running.get("/api/v1/cluster")
    assert code == 200, body
    return dict(json.loads(body))


async def test_a_killed_nodes_checks_and_lease_move_within_15s_and_come_back_after_restart(
    cluster: Cluster,
) -> None:
    """SIGKILL the node holding the singleton lease: within 15 s its checks run on the others with their states (a HARD CRITICAL check stays so, no second incident), its lease is taken over, alerts posted meanwhile are all stored and each notification goes out once per receiver; restarted, it gets its checks back with no run skipped and none polled twice."""
    before = owners(await settled_runs(cluster, 2 * INTERVAL))
    holders = lease_holders(await asyncio.to_thread(cluster_status, cluster.nodes[0].config))
    assert holders, "no singleton lease is held"
    victim = cluster.node(next(iter(holders.values())))
    mine = {key for key, nodes in before.items() if nodes == {victim.name}}
    failing_mine = [key for key in FAILING if key in mine]
    assert mine and failing_mine

    # Every failing check's incident is notified to both receivers before the kill.
    async def all_notified() -> bool:
        return all(notified_incidents(cluster, h, i) for h in HOOKS for i, _ in FAILING)

    await eventually(all_notified, within=30, poll=0.2)
    incidents_before = {i: notified_incidents(cluster, HOOKS[0], i) for i, _ in FAILING}

    posted, stop = Posted(), asyncio.Event()
    urls = [node.url("/api/v2/alerts") for node in cluster.nodes]
    sender = asyncio.create_task(post_continuously(urls, posted, stop, itertools.count()))
    await asyncio.sleep(1)
    killed_at = time.time()
    victim.kill()

    # Its checks run on the others within 15 s.
    taken: dict[CheckKey, float] = {}

    async def all_taken() -> bool:
        runs = await runs_since(cluster.pg, killed_at)
        for key in mine - taken.keys():
            others = [t for t, node in runs.get(key, []) if node != victim.name]
            if others:
                taken[key] = others[0]
        return len(taken) == len(mine)

    await eventually(all_taken, within=30, poll=0.5)
    failover = max(taken.values()) - killed_at
    assert failover < 15, failover
    # The singleton lease moved to a live node.
    live = {node.name for node in cluster.live()}

    async def lease_taken_over() -> bool:
        status = await asyncio.to_thread(api_status, cluster.live()[0])
        holders = set(lease_holders(status).values())
        return bool(holders) and holders <= live

    await eventually(lease_taken_over, within=20, poll=0.5)
    status = await asyncio.to_thread(cluster_status, cluster.live()[-1].config)
    assert node_states(status) == {
        n.name: "live" if n.name in live else "dead" for n in cluster.nodes
    }
    assert set(lease_holders(status).values()) <= live

    # Restart it: its checks come back to it.
    await asyncio.to_thread(victim.start)
    restarted_at = time.time()
    settled = restarted_at + 2 * INTERVAL

    async def back_on_victim() -> bool:
        # Read from the samples the nodes write in batches: a run is seen a flush after it.
        runs = await runs_since(cluster.pg, settled)
        return all(any(n == victim.name for _, n in runs.get(key, [])) for key in mine)

    await eventually(back_on_victim, within=30, poll=0.5)
    await asyncio.sleep(2 * INTERVAL)
    stop.set()
    await sender

    runs = await runs_since(cluster.pg, max(taken.values()))
    for key in mine:
        times = [t for t, _ in runs[key]]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert max(gaps) < 1.5 * INTERVAL, (key, gaps)  # the move back skips no run
        assert {n for t, n in runs[key] if t > settled} == {victim.name}, key
        assert sum(t > settled for t in times) <= (time.time() - settled) / INTERVAL + 1, key

    # The failing checks kept their HARD CRITICAL state: no second incident was opened.
    await asyncio.sleep(1)
    for item, _ in FAILING:
        assert notified_incidents(cluster, HOOKS[0], item) == incidents_before[item], item
    rows = await cluster.pg.fetch(
        "SELECT key, data FROM states WHERE namespace = 'check' AND key = ANY($1::text[])",
        [f"{item}/{check}" for item, check in failing_mine],
    )
    states = {row["key"]: json.loads(row["data"]) for row in rows}
    assert len(states) == len(failing_mine)
    for key, state in states.items():
        assert (state["state_type"], state["hard_status"]) == ("hard", 2), (key, state)
        assert state["hard_since"] < killed_at, (key, state)  # the same problem, not a new one

    # Every alert answered 200 by any node is stored; every notification went out once per
    # receiver (its idempotency key once on each path), and every incident reached both.
    assert posted.acked <= await stored_fingerprints(cluster.pg)
    assert posted.acked
    delivered = Counter((path, key) for path, key, _ in cluster.receiver.deliveries)
    assert {k: n for k, n in delivered.items() if n > 1} == {}
    by_hook = {h: {b["incident"]["id"] for p, _, b in cluster.receiver.deliveries if p == h}
               for h in HOOKS}  # fmt: skip
    assert by_hook[HOOKS[0]] == by_hook[HOOKS[1]]


async def test_a_postgresql_restart_under_three_nodes_loses_nothing_answered_200(
    cluster: Cluster,
) -> None:
    """PostgreSQL restarts while alerts go to all three nodes: every alert answered 200 is stored, and every node polls its checks again afterwards."""
    posted, stop = Posted(), asyncio.Event()
    urls = [node.url("/api/v2/alerts") for node in cluster.nodes]
    sender = asyncio.create_task(post_continuously(urls, posted, stop, itertools.count(10**6)))
    await asyncio.sleep(2)
    await asyncio.to_thread(cluster.pg.stop, "fast")
    await asyncio.sleep(3)
    await asyncio.to_thread(cluster.pg.start)
    back = time.time()
    await asyncio.sleep(5)
    stop.set()
    await sender
    assert {s for _, s, _, _ in posted.answers} <= {200, 503}
    assert 503 in {s for _, s, _, _ in posted.answers}
    assert posted.acked <= await stored_fingerprints(cluster.pg)
    assert all(node.running and node.running.proc.poll() is None for node in cluster.nodes)
    runs = await settled_runs(cluster, 2 * INTERVAL)
    assert {n for got in runs.values() for _, n in got} == {"node-a", "node-b", "node-c"}
    assert min(t for got in runs.values() for t, _ in got) > back
