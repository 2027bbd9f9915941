"""The real daemon and the `watchd oncall` command on one store: an override added with the CLI
shows in the daemon's API, one added over the API in the CLI, and a SIGHUP with a changed
schedule changes who is on call without a restart."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_daemon import RunningDaemon, free_port, start_daemon
from tests.integration.test_daemon_incidents import config_with_token, request

pytestmark = pytest.mark.integration

PEOPLE = """
[[users]]
name = "alice"
display_name = "Alice Li"

[[users]]
name = "bob"

[[schedules]]
name = "primary"
timezone = "Europe/Berlin"
[[schedules.layers]]
name = "daily"
users = ["alice", "bob"]
start = "2030-01-01T09:00"
rotation = "1d"
"""
AT = "2030-01-01T12:00"  # turn 0: alice's


def oncall(config: Path, *argv: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "watchd.cli", "-c", str(config), "oncall", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def on_call(daemon: RunningDaemon, at: str = AT) -> list[tuple[str, str]]:
    status, view = request(daemon.port, "GET", f"/api/v1/oncall/primary?at={at}")
    assert status == 200, view
    return [(s["user"], s["layer"]) for s in view["on_call"]]


def test_overrides_reach_the_daemon_and_the_cli_and_a_reload_changes_the_rotation(
    tmp_path: Path,
) -> None:
    """A CLI override is served by the running daemon's API, an API override is listed by the
    CLI with its author, and a reloaded rotation order answers at once."""
    port = free_port()
    config = config_with_token(tmp_path, port, PEOPLE)
    daemon = start_daemon(tmp_path, config, port)
    try:
        assert on_call(daemon) == [("alice", "daily")]
        code, out, err = oncall(
            config, "override", "add", "primary", "--user", "bob", "--from", "2030-01-01T11:00",
            "--to", "2030-01-01T13:00", "--reason", "alice is ill", "--by", "carol", "--json",
        )  # fmt: skip
        assert code == 0, err
        by_cli = json.loads(out)
        assert on_call(daemon) == [("bob", "override")]
        status, by_api = request(
            port,
            "POST",
            "/api/v1/oncall/primary/overrides",
            {"user": "alice", "start": "2030-01-02T09:00", "end": "2030-01-02T10:00",
             "reason": "swap back", "by": "dave"},
        )  # fmt: skip
        assert status == 201, by_api
        code, out, _ = oncall(config, "override", "list", "primary", "--all", "--json")
        assert [(o["id"], o["author"]) for o in json.loads(out)] == [
            (by_cli["id"], "carol"),
            (by_api["id"], "dave via token ops"),
        ]
        code, out, _ = oncall(config, "primary", "--at", "2030-01-02T09:30")
        assert (
            "on call now: Alice Li (alice) since 2030-01-02T09:00+01:00 until 2030-01-02T10:00+01:00"
            in out
        )
        status, _ = request(port, "DELETE", f"/api/v1/oncall/primary/overrides/{by_cli['id']}")
        assert status == 200
        assert on_call(daemon) == [("alice", "daily")]
        config.write_text(config.read_text().replace('["alice", "bob"]', '["bob", "alice"]'))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for_log("reloaded")
        assert on_call(daemon) == [("bob", "daily")]
        status, doc = request(port, "GET", "/api/openapi.json")
        assert "/api/v1/oncall/{schedule}/overrides/{id}" in doc["paths"]
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.proc.wait(timeout=20)
        daemon.notify.close()
