"""Issue 19, finding 6: the SQLite file under a running daemon.

A daemon whose database file is deleted or replaced stops saying "stored" (ingestion 503, so
senders keep their alerts), answers /readyz 503, logs one error and saves a copy of everything it
had; a second daemon on the same file refuses to start, while CLI commands keep working.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.test_daemon import RunningDaemon, free_port, shipped_config_for, start_daemon
from tests.integration.test_daemon_incidents import TOKEN, request

pytestmark = pytest.mark.integration


def alert(name: str) -> dict[str, object]:
    return {
        "labels": {"alertname": name, "item": "db1", "severity": "critical"},
        "annotations": {"summary": f"{name} on db1"},
        "endsAt": "2099-01-01T00:00:00Z",
    }


def config_with_token(tmp: Path, port: int) -> Path:
    (tmp / "ops.token").write_text(TOKEN + "\n")
    config = shipped_config_for(tmp, port)
    config.write_text(
        config.read_text().replace(
            "# [[api.tokens]]",
            '[[api.tokens]]\nname = "ops"\nscopes = ["read", "write", "ingest"]\n'
            'file = "ops.token"\n# ',
        )
    )
    return config


@pytest.fixture
def running(tmp_path: Path) -> Iterator[RunningDaemon]:
    port = free_port()
    daemon = start_daemon(tmp_path, config_with_token(tmp_path, port), port)
    daemon.wait_for_log("started")
    yield daemon
    if daemon.proc.poll() is None:
        daemon.proc.send_signal(signal.SIGTERM)
        try:
            daemon.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.proc.kill()
            daemon.proc.wait()
    daemon.notify.close()


def ready_status(daemon: RunningDaemon) -> int:
    """/readyz's status; 0 if it did not answer in time (a loaded test machine)."""
    try:
        return daemon.get("/readyz")[0]
    except OSError:
        return 0


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not true within {timeout} s")


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_vanished_database_file_stops_acceptance_and_readiness(
    running: RunningDaemon, tmp_path: Path, how: str
) -> None:
    """When the database file is deleted or replaced, senders get 503 and keep their alerts, /readyz says why, one error is logged and a copy of every stored alert is saved."""
    port = running.port
    assert request(port, "POST", "/api/v2/alerts", [alert("BeforeLoss")])[0] == 200
    assert running.get("/readyz")[0] == 200
    db = tmp_path / "state" / "watchd.db"
    db.unlink()
    if how == "replaced":
        sqlite3.connect(db).close()  # an empty database file in its place
    wait_until(lambda: ready_status(running) == 503)
    status, body = running.get("/readyz")
    assert str(db) in body
    status, answer = request(port, "POST", "/api/v2/alerts", [alert("AfterLoss")])
    assert status == 503, answer
    lost = running.wait_for_log("store_file_lost")
    assert lost["path"] == str(db)
    copy = Path(str(lost["copy"]))
    with sqlite3.connect(copy) as saved:
        names = {row[0] for row in saved.execute("SELECT labels FROM alerts")}
    assert any("BeforeLoss" in name for name in names)
    assert not any("AfterLoss" in name for name in names)
    time.sleep(1.5)  # the heartbeat and writes keep finding it gone: still one line
    assert [e["event"] for e in running.log_lines()].count("store_file_lost") == 1
    scrape = urllib.request.Request(
        running.url("/metrics"), headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(scrape, timeout=30) as metrics:
        assert "watchd_store_file_lost 1.0" in metrics.read().decode()
    assert running.get("/healthz")[0] == 200


def test_a_second_daemon_on_the_same_file_refuses_to_start(
    running: RunningDaemon, tmp_path: Path
) -> None:
    """A second daemon on the same SQLite file exits 1 naming the file and the running daemon's pid, while CLI commands keep working on it."""
    port = free_port()
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    config = second_dir / "config.toml"
    state = (tmp_path / "state").resolve()
    config.write_text(
        running.config.read_text()
        .replace(str(running.port), str(port))
        .replace('file = "ops.token"', f'file = "{tmp_path / "ops.token"}"')
        .replace('# url = "postgresql', f'url = "sqlite:///{state}/watchd.db"\n# url = "postgresql')
    )
    second = subprocess.run(
        [sys.executable, "-m", "watchd.cli", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 1, second.stderr
    assert "store_locked" in second.stderr
    assert f"{state}/watchd.db" in second.stderr
    assert f"pid {running.proc.pid}" in second.stderr
    assert running.get("/readyz")[0] == 200
    cli = subprocess.run(
        [sys.executable, "-m", "watchd.cli", "incidents", "-c", str(running.config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
