"""Heartbeat pings on a cluster: any node takes a ping, the node that owns the check judges it."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.cluster_nodes import start_pg_nodes
from tests.integration.test_daemon import RunningDaemon

pytestmark = pytest.mark.integration

JOBS = 8


def _jobs() -> str:
    """JOBS items with a heartbeat check each (no secret: the API has no tokens)."""
    return "".join(
        f'[[items]]\nname = "job{i}"\n[[items.checks]]\nname = "beat"\nkind = "heartbeat"\n'
        'period = "1h"\ngrace = "1m"\ninterval = "0.5s"\n'
        for i in range(JOBS)
    )


def _beats(daemon: RunningDaemon) -> dict[str, dict[str, object]]:
    status, body = daemon.get("/api/v1/items")
    assert status == 200, body
    return {
        item["name"]: check
        for item in json.loads(body)["items"]
        for check in item["checks"]
        if check["kind"] == "heartbeat"
    }


def test_a_ping_to_any_node_reaches_the_check_on_the_node_that_runs_it(
    tmp_path: Path, fresh_pg_url: str
) -> None:
    """Two nodes on one PostgreSQL: each job pings the node that does not run its check, and
    the owner's state of the check shows the ping at its next run."""
    daemons = start_pg_nodes(tmp_path, fresh_pg_url, _jobs())
    try:
        daemons["b"].wait_for_log("cluster_handover_done", timeout=20)
        time.sleep(2.0)  # a has let go of b's checks
        owners = {job: str(check["node"]) for job, check in _beats(daemons["a"]).items()}
        assert set(owners.values()) == {"a", "b"}, owners
        for job, owner in owners.items():
            other = daemons["b" if owner == "a" else "a"]
            request = urllib.request.Request(
                other.url(f"/api/v1/heartbeat/{job}/beat"), method="POST"
            )
            with urllib.request.urlopen(request, timeout=5) as resp:
                assert resp.status == 200
        deadline = time.monotonic() + 10
        while True:
            seen = {
                job: str(_beats(daemons[owner])[job].get("message", ""))
                for job, owner in owners.items()
            }
            if all(m.startswith("last ping at") for m in seen.values()):
                break
            assert time.monotonic() < deadline, seen
            time.sleep(0.2)
    finally:
        for daemon in daemons.values():
            daemon.discard()
