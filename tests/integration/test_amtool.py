"""Debian's real amtool against the real daemon: alert queries with matchers, silences added,
queried and expired, one silence model with watchd's own API, and a silence muting for real."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_daemon import free_port, start_daemon
from tests.integration.test_daemon_incidents import TOKEN, config_with_token, request
from tests.peers import require_installed

pytestmark = pytest.mark.integration

AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"


class Hook:
    """A webhook receiver on loopback keeping every notification's alerts' items."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []  # (item, status) per alert per notification
        received = self.items

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.extend((a["labels"]["item"], a["status"]) for a in body["alerts"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, item: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while (item, "firing") not in self.items:
            assert time.monotonic() < deadline, f"no notification for {item}: {self.items}"
            time.sleep(0.1)


@pytest.fixture
def hook() -> Iterator[Hook]:
    served = Hook()
    yield served
    served.server.shutdown()


def amtool(tmp: Path, port: int, *args: str) -> str:
    """Run amtool against the daemon with the token in --http.config.file; its stdout."""
    done = subprocess.run(
        [
            AMTOOL,
            f"--alertmanager.url=http://127.0.0.1:{port}/",
            f"--http.config.file={tmp / 'amtool-http.yml'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, f"amtool {args}: {done.stderr}"
    return done.stdout


def watchd(config: Path, *args: str) -> str:
    """Run the watchd CLI on `config`; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "watchd.cli", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, f"watchd {args}: {done.stderr}"
    return done.stdout


def firing(item: str) -> dict[str, Any]:
    return {
        "labels": {"alertname": "DiskFull", "item": item, "severity": "critical"},
        "annotations": {"summary": f"disk / on {item} is full"},
        "endsAt": "2099-01-01T00:00:00Z",
    }


def test_amtool_queries_alerts_and_adds_queries_and_expires_silences(
    tmp_path: Path, hook: Hook
) -> None:
    """amtool's alert query filters by matchers; `silence add` makes a watchd silence (listed
    by watchd's API and `watchd silence list`) that keeps db2's alert from the webhook and
    shows silenced in amtool; one made with `watchd silence add` shows in `silence query`;
    `silence update` keeps db2 muted; `silence expire` ends it and db2 is notified."""
    require_installed(Path(AMTOOL).exists(), "prometheus-alertmanager (amtool)")
    (tmp_path / "amtool-http.yml").write_text(
        f"authorization:\n  type: Bearer\n  credentials: {TOKEN}\n"
    )
    port = free_port()
    receiver = (
        f'\n[[receivers]]\nname = "hook"\nkind = "webhook"\nurl = "http://127.0.0.1:{hook.port}/"\n'
    )
    config = config_with_token(tmp_path, port, receiver)
    daemon = start_daemon(tmp_path, config, port)
    try:
        added = amtool(
            tmp_path,
            port,
            "silence",
            "add",
            "item=db2",
            "--comment=disk swap",
            "--duration=1h",
            "--author=alice",
        ).strip()
        (v1,) = request(port, "GET", "/api/v1/silences")[1]["silences"]
        assert v1["id"] == added and v1["matchers"] == ['item="db2"']
        assert v1["created_by"] == "alice via token ops"

        for item in ("db1", "db2", "web1"):
            assert request(port, "POST", "/api/v2/alerts", [firing(item)])[0] == 200
        hook.wait_for("db1")
        hook.wait_for("web1")

        shown = json.loads(
            amtool(tmp_path, port, "alert", "query", "-o", "json", "alertname=DiskFull")
        )
        assert sorted(a["labels"]["item"] for a in shown) == ["db1", "web1"]  # db2 is silenced
        shown = json.loads(
            amtool(tmp_path, port, "alert", "query", "-o", "json", "-s", 'item=~"db.*"')
        )
        states = {a["labels"]["item"]: a["status"] for a in shown}  # -s alone: the silenced
        assert states == {"db2": {"state": "suppressed", "silencedBy": [added], "inhibitedBy": []}}
        by_receiver = json.loads(
            amtool(tmp_path, port, "alert", "query", "-o", "json", "-r", "ho+k")
        )
        assert sorted(a["labels"]["item"] for a in by_receiver) == ["db1", "web1"]
        assert (
            amtool(tmp_path, port, "alert", "query", "-r", "ho").strip()
            == "Alertname  Starts At  Summary  State"
        )
        simple = amtool(tmp_path, port, "alert", "query", "item=web1")
        assert "DiskFull" in simple and "disk / on web1 is full" in simple

        # watchd's CLI lists the amtool silence, and one it adds shows in amtool.
        listed = json.loads(watchd(config, "silence", "list", "--json"))
        assert [(s["id"], s["matchers"]) for s in listed] == [(added, ['item="db2"'])]
        made = json.loads(
            watchd(config, "silence", "add", 'item=~"web.*"', "--duration=2h", "--by=bob", "--json")
        )["id"]
        listed = amtool(tmp_path, port, "silence", "query", "-q").split()
        assert sorted(listed) == sorted([added, made])
        extended = amtool(tmp_path, port, "silence", "query", "item=db2")
        assert added in extended and "alice" in extended and made not in extended

        # An update replaces the silence (a new id) in one transaction: db2 stays muted.
        # `update -q` of amtool 0.25 prints a pointer, not the id: read the id from the table.
        table = amtool(tmp_path, port, "silence", "update", added, "--duration=3h")
        updated = table.splitlines()[1].split()[0]
        assert updated != added
        assert sorted(amtool(tmp_path, port, "silence", "query", "-q").split()) == sorted(
            [updated, made]
        )
        time.sleep(1)  # time for a notification, were one to leak between the two silences
        assert ("db2", "firing") not in hook.items  # muted all along
        amtool(tmp_path, port, "silence", "expire", updated)
        hook.wait_for("db2")  # the end of its silence notifies what it held back
        assert amtool(tmp_path, port, "silence", "query", "-q").split() == [made]
        ended = amtool(tmp_path, port, "silence", "query", "--expired", "-q").split()
        assert sorted(ended) == sorted([added, updated])
        shown = json.loads(amtool(tmp_path, port, "silence", "query", "--expired", "-o", "json"))
        assert {s["createdBy"] for s in shown} == {"alice via token ops"}
    finally:
        daemon.discard()


ROUTES = """
[[receivers]]
name = "pager"
kind = "webhook"
url = "http://127.0.0.1:{port}/pager"

[[receivers]]
name = "mail"
kind = "webhook"
url = "http://127.0.0.1:{port}/mail"

[route]
receivers = ["log"]
group_by = ["item"]
group_wait = "30s"

  [[route.routes]]
  matchers = ['severity="critical"']
  receivers = ["pager", "mail"]
  continue = true

  [[route.routes]]
  matchers = ['team="db"']
  receivers = ["mail"]

[[inhibit_rules]]
source_matchers = ['alertname="HostDown"']
target_matchers = ['severity="warning"']
equal = ["item"]

[[maintenance]]
name = "patching"
matchers = ['item="lab1"']
start = 2020-01-01T00:00:00Z
end = 2099-01-01T00:00:00Z
"""


def test_amtool_draws_and_tests_watchds_routes_and_names_maintenance_in_silenced_by(
    tmp_path: Path, hook: Hook
) -> None:
    """`amtool config routes` parses /api/v2/status and draws watchd's route tree (several
    receivers as one named a+b), `config routes test` picks the receivers watchd would, and an
    alert muted by a maintenance window shows `maintenance:patching` in silencedBy."""
    require_installed(Path(AMTOOL).exists(), "prometheus-alertmanager (amtool)")
    (tmp_path / "amtool-http.yml").write_text(
        f"authorization:\n  type: Bearer\n  credentials: {TOKEN}\n"
    )
    port = free_port()
    config = config_with_token(tmp_path, port, ROUTES.format(port=hook.port))
    daemon = start_daemon(tmp_path, config, port)
    try:
        tree = amtool(tmp_path, port, "config", "routes")
        assert "receiver: log" in tree
        assert '{severity="critical"}  continue: true  receiver: pager+mail' in tree
        assert '{team="db"}  receiver: mail' in tree

        def routed(*labels: str) -> str:
            return amtool(tmp_path, port, "config", "routes", "test", *labels).strip()

        assert routed("severity=critical", "team=db") == "pager+mail,mail"
        assert routed("team=db") == "mail"
        assert routed("team=web") == "log"

        assert request(port, "POST", "/api/v2/alerts", [firing("lab1")])[0] == 200
        shown = json.loads(amtool(tmp_path, port, "alert", "query", "-o", "json", "-s"))
        assert [(a["labels"]["item"], a["status"]) for a in shown] == [
            (
                "lab1",
                {"state": "suppressed", "silencedBy": ["maintenance:patching"], "inhibitedBy": []},
            )
        ]
    finally:
        daemon.discard()
