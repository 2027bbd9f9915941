"""`watchd cluster status`, GET /api/v1/cluster and the watchd_cluster_* metrics, read from
real stores where real nodes joined."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cluster.conftest import StartNode
from watchd.cli import main
from watchd.clock import SystemClock
from watchd.cluster.config import ClusterConfig
from watchd.cluster.membership import Membership
from watchd.cluster.metrics import ClusterMetrics
from watchd.metrics import Metrics
from watchd.store import Store


def config_file(tmp: Path, url: str) -> Path:
    path = tmp / "config.toml"
    path.write_text(
        f'[store]\nurl = "{url}"\n[cluster]\ndead_after = "1s"\nheartbeat_interval = "0.2s"\n'
    )
    return path


async def test_status_lists_live_and_dead_nodes_with_their_leases_on_postgresql(
    fresh_pg_url: str,
    start_node: StartNode,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    """`watchd cluster status --json` shows each node live or dead, its heartbeat age, zones,
    checks owned and the lease its holder has; without --json a table says the same."""
    a = await start_node("a", fresh_pg_url)
    b = await start_node("b", fresh_pg_url)
    await b.stop_heartbeat()
    await asyncio.sleep(1.3)
    config = config_file(tmp_path, fresh_pg_url)
    capsys.readouterr()  # the nodes' own log lines
    code = await asyncio.to_thread(main, ["cluster", "status", "--json", "-c", str(config)])
    assert code == 0
    status = json.loads(capsys.readouterr().out)
    assert status["single_node"] is False
    nodes = {node["name"]: node for node in status["nodes"]}
    assert (nodes["a"]["state"], nodes["b"]["state"]) == ("live", "dead")
    assert nodes["a"]["heartbeat_age"] < 1.0 <= nodes["b"]["heartbeat_age"]
    assert nodes["a"]["zones"] == ["default"] and nodes["a"]["checks_owned"] == 7
    assert nodes["a"]["leases"] == ["singleton"] and nodes["b"]["leases"] == []
    assert [(le["name"], le["holder"]) for le in status["leases"]] == [("singleton", "a")]
    assert a.membership.lease.held()

    code = await asyncio.to_thread(main, ["cluster", "status", "-c", str(config)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("1 live, 1 dead (dead after 1s without a heartbeat)\n")
    assert "lease singleton: a, expires in" in out


async def test_status_on_sqlite_says_it_is_a_single_node(
    tmp_path: Path,
    start_node: StartNode,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    """On SQLite the status says the daemon is the whole cluster, and exits 0."""
    url = f"sqlite:///{tmp_path}/watchd.db"
    await start_node("solo", url)
    capsys.readouterr()  # the node's own log lines
    code = await asyncio.to_thread(
        main, ["cluster", "status", "-c", str(config_file(tmp_path, url))]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("SQLite store: a single node")
    assert "solo" in out and "singleton" in out


async def test_cluster_metrics_pass_promtool_and_follow_the_node(tmp_path: Path) -> None:
    """The watchd_cluster_* series are valid for promtool and say live nodes, checks owned,
    the lease held and the membership changes seen."""
    metrics = Metrics()
    store = await Store.open(f"sqlite:///{tmp_path}/watchd.db", clock=SystemClock())
    try:
        membership = Membership(
            store.engine,
            ClusterConfig(node_name="solo"),
            clock=SystemClock(),
            checks_owned=lambda: 12,
            metrics=ClusterMetrics(metrics.registry),
        )
        await membership.join()
        text = metrics.render()[0].decode()
    finally:
        await store.close()
    lines = [line for line in text.splitlines() if line.startswith("watchd_cluster_")]
    assert set(lines) >= {
        'watchd_cluster_nodes{state="live"} 1.0',
        'watchd_cluster_nodes{state="dead"} 0.0',
        "watchd_cluster_checks_owned 12.0",
        'watchd_cluster_lease_held{lease="singleton"} 1.0',
        "watchd_cluster_membership_changes_total 1.0",
        "watchd_cluster_heartbeat_failures_total 0.0",
    }
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed (apt-get install prometheus)")
    checked = await asyncio.to_thread(
        subprocess.run,
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "watchd_cluster" not in checked.stdout + checked.stderr, checked.stdout + checked.stderr
