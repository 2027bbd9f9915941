"""The real daemon (`watchd run`) delivering to a webhook: rows left undelivered when it is
SIGKILLed go out after a restart, once each per idempotency key; and `watchd notify test`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_daemon import free_port, start_daemon

pytestmark = pytest.mark.integration


class Receiver:
    """A loopback webhook receiver in a thread: 503 while `down`, else 200; keeps keys, and
    each delivery as (path, key, body): several receivers may post to paths of one server.
    While `stalling`, a request is held unanswered (`asked` is set) until `unstall()`."""

    def __init__(self) -> None:
        self.down = True
        self.stalling = False
        self.asked = threading.Event()
        self._unstalled = threading.Event()
        self.keys: list[str] = []
        self.deliveries: list[tuple[str, str, dict[str, Any]]] = []
        self.unique: dict[str, dict[str, object]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.stalling:
                    outer.asked.set()
                    outer._unstalled.wait(timeout=60)
                    return  # no answer: the sender's timeout or its death ends it
                if outer.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                key = self.headers["Idempotency-Key"]
                outer.keys.append(key)
                outer.deliveries.append((self.path, key, json.loads(body)))
                outer.unique.setdefault(key, json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def unstall(self) -> None:
        self.stalling = False
        self._unstalled.set()

    def close(self) -> None:
        self.unstall()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


def config_for(tmp: Path, port: int, url: str) -> Path:
    path = tmp / "config.toml"
    path.write_text(
        f'[daemon]\nstate_dir = "state"\nlog_format = "json"\n'
        f'[api]\nlisten = "127.0.0.1:{port}"\n'
        f'[[receivers]]\nname = "hook"\nkind = "webhook"\nurl = "{url}"\n'
        'backoff_initial = "200ms"\nbackoff_max = "500ms"\ntimeout = "2s"\n'
    )
    return path


def post_alerts(port: int, count: int) -> None:
    alerts = [
        {
            "labels": {"alertname": "Down", "item": f"host{i}", "severity": "critical"},
            "annotations": {"summary": f"host{i} is down"},
        }
        for i in range(count)
    ]
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v2/alerts",
        data=json.dumps(alerts).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def restart_until_all_five_delivered(
    tmp_path: Path, config: Path, port: int, receiver: Receiver, *, within: float, logs: str = ""
) -> None:
    """Start the daemon again, wait up to `within` seconds for the 5 alerts' notifications
    (and for a `logs` event in its log, if given), stop it, and check each host got one,
    each key once."""
    restarted = start_daemon(tmp_path, config, port)
    try:
        deadline = time.monotonic() + within
        while len(receiver.unique) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        if logs:
            restarted.wait_for_log(logs)
    finally:
        restarted.proc.terminate()
        restarted.proc.wait(timeout=15)
        restarted.notify.close()
    assert sorted(d["incident"]["item"] for d in receiver.unique.values()) == [
        f"host{i}" for i in range(5)
    ]  # type: ignore[index]
    assert len(receiver.keys) == len(set(receiver.keys)) == 5


def test_undelivered_rows_go_out_after_sigkill_and_restart(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Notifications still failing when the daemon is SIGKILLed are delivered by the restarted daemon, each idempotency key once."""
    port = free_port()
    config = config_for(tmp_path, port, receiver.url)
    daemon = start_daemon(tmp_path, config, port)
    try:
        post_alerts(port, 5)
        daemon.wait_for_log("receiver_failing")
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait(timeout=10)
    finally:
        daemon.notify.close()
    assert receiver.unique == {}
    receiver.down = False
    restart_until_all_five_delivered(tmp_path, config, port, receiver, within=20)


def test_notifications_in_flight_at_a_sigkill_go_out_at_once_after_the_restart(
    tmp_path: Path, receiver: Receiver
) -> None:
    """Rows a SIGKILLed daemon was delivering (leased for the receiver's timeout + 35 s) are
    sent as soon as it restarts on its SQLite file, which no other process can be delivering
    from, instead of after that lease."""
    port = free_port()
    config = config_for(tmp_path, port, receiver.url)
    receiver.stalling = True
    daemon = start_daemon(tmp_path, config, port)
    try:
        post_alerts(port, 5)
        assert receiver.asked.wait(timeout=20)
        daemon.proc.send_signal(signal.SIGKILL)  # while a delivery waits for its answer
        daemon.proc.wait(timeout=10)
    finally:
        daemon.notify.close()
    receiver.unstall()
    receiver.down = False
    # The lease would hold the rows 37 s.
    restart_until_all_five_delivered(
        tmp_path, config, port, receiver, within=15, logs="notifications_released"
    )


def test_notify_test_sends_through_the_receiver_and_prints_the_outcome(
    tmp_path: Path, receiver: Receiver
) -> None:
    """`watchd notify test hook` posts a test notification and says delivered; a down receiver makes it exit 1 and say so."""
    config = config_for(tmp_path, free_port(), receiver.url)
    receiver.down = False
    done = subprocess.run(
        [sys.executable, "-m", "watchd.cli", "notify", "test", "hook", "-c", str(config)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("hook (webhook): delivered (HTTP 200")
    (doc,) = receiver.unique.values()
    assert doc["incident"]["title"] == "Test notification from watchd"  # type: ignore[index]
    receiver.down = True
    failed = subprocess.run(
        [sys.executable, "-m", "watchd.cli", "notify", "test", "hook", "-c", str(config)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert failed.returncode == 1
    assert "failed, would be retried (HTTP 503" in failed.stdout
