"""Finding 10 of issue 19 on the real daemon: `watchd run` under libfaketime, its wall clock
stepped back an hour while a webhook retry is pending (tests/hardening/test_time.py has the same
case on the dispatcher with a fake clock)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.test_daemon import RunningDaemon, free_port, shipped_config_for, start_daemon

pytestmark = pytest.mark.integration

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
STEP = 3600.0  # seconds the wall clock steps back
BACKOFF = 4.0  # the hook's backoff_initial: the first retry comes 2-4 s after the failure
POLL = 5.0  # the dispatcher's poll interval: the longest it sleeps without a due row
ALERT = "ClockStep"


@dataclass
class Hook:
    """A webhook receiver on loopback that answers 500 to the first notification of ALERT and
    200 to what follows; `attempts` holds the monotonic time of each of them."""

    url: str = ""
    attempts: list[float] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def serve(self) -> ThreadingHTTPServer:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                ours = ALERT.encode() in body
                with hook.arrived:
                    first = ours and not hook.attempts
                    if ours:
                        hook.attempts.append(time.monotonic())
                    hook.arrived.notify_all()
                self.send_response(500 if first else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def wait(self, count: int, timeout: float) -> list[float]:
        """The attempts once there are `count` of them, or as many as came within `timeout`."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.attempts) >= count, timeout)
            return list(self.attempts)


@pytest.fixture
def hook() -> Iterator[Hook]:
    hook = Hook()
    server = hook.serve()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield hook
    server.shutdown()
    server.server_close()


@pytest.fixture
def stepped(
    tmp_path: Path, hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[RunningDaemon, Path]]:
    """`watchd run` on the shipped config plus the hook (routed for ALERT), under libfaketime
    reading its offset from a control file (re-read on every call) that the test rewrites."""
    if not LIBFAKETIME.exists():
        pytest.skip("libfaketime is not installed (Debian package faketime, see scripts/test.sh)")
    control = tmp_path / "faketime"
    control.write_text("+0\n")
    monkeypatch.setenv("LD_PRELOAD", str(LIBFAKETIME))
    monkeypatch.setenv("FAKETIME_TIMESTAMP_FILE", str(control))
    monkeypatch.setenv("FAKETIME_NO_CACHE", "1")
    # An NTP or operator step moves CLOCK_REALTIME only; CLOCK_MONOTONIC never goes back.
    monkeypatch.setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1")
    port = free_port()
    config = shipped_config_for(tmp_path, port)
    url = hook.url
    config.write_text(
        config.read_text()
        + f'\n[[receivers]]\nname = "hook"\nkind = "webhook"\nurl = "{url}"\n'
        + f'timeout = "5s"\nbackoff_initial = "{BACKOFF:.0f}s"\n'
        + '\n[route]\nreceivers = ["log"]\n\n[[route.routes]]\n'
        + f'matchers = [\'alertname="{ALERT}"\']\nreceivers = ["hook"]\n'
    )
    daemon = start_daemon(tmp_path, config, port)
    yield daemon, control
    daemon.discard()


def stamp(line: dict[str, object]) -> float:
    """The wall-clock time (the daemon's) a log line was written at."""
    return datetime.fromisoformat(str(line["timestamp"])).timestamp()


def stored_retry(daemon: RunningDaemon, timeout: float = 10.0) -> float:
    """When the hook's row, failed once, is due again (the daemon's wall clock when stored)."""
    deadline = time.monotonic() + timeout
    query = "SELECT next_attempt_at FROM outbox WHERE receiver = 'hook' AND attempts = 1"
    while time.monotonic() < deadline:
        with contextlib.closing(
            sqlite3.connect(daemon.config.parent / "state" / "watchd.db")
        ) as db:
            row = db.execute(query + " AND state = 'pending'").fetchone()
        if row is not None:
            return float(row[0])
        time.sleep(0.05)
    raise AssertionError(f"no pending retry stored within {timeout}s:\n{daemon.log.read_text()}")


def post_alert(daemon: RunningDaemon) -> None:
    body = [{"labels": {"alertname": ALERT, "item": "clockhost", "check": "clock"}}]
    request = urllib.request.Request(
        daemon.url("/api/v2/alerts"),
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200


def test_a_backward_wall_clock_step_does_not_hold_a_webhook_retry_back(
    stepped: tuple[RunningDaemon, Path], hook: Hook
) -> None:
    """With the real daemon's wall clock (CLOCK_REALTIME only, as NTP steps it; the monotonic
    clock runs on) stepped back an hour while a failed webhook notification waits for its retry,
    the retry goes out within its backoff of the first scan after the step (not an hour later),
    and "receiver_recovered" logs no negative time."""
    daemon, control = stepped
    started = daemon.wait_for_log("started")
    assert daemon.get("/healthz")[0] == 200
    post_alert(daemon)
    first = hook.wait(1, 30.0)
    assert first, f"no first attempt within 30 s:\n{daemon.log.read_text()[-3000:]}"
    due = stored_retry(daemon)
    control.write_text(f"-{STEP:.0f}\n")
    stepped_at = time.monotonic()
    assert time.time() < due, "the retry was due before the step: the machine is too slow"
    attempts = hook.wait(2, BACKOFF + POLL + 10.0)
    assert len(attempts) >= 2, (
        f"the retry did not come within {BACKOFF + POLL + 10.0:.0f}s of the step back:\n"
        + daemon.log.read_text()[-3000:]
    )
    # The dispatcher sees the step at its next scan (within POLL, or when the retry was due)
    # and counts the retry's delay from then (plan.rebase): at most POLL + BACKOFF after it.
    assert attempts[1] - stepped_at <= POLL + BACKOFF + 1.0
    recovered = daemon.wait_for_log("receiver_recovered", timeout=10.0)
    assert recovered["receiver"] == "hook"
    # The daemon's wall clock did step: it logs the recovery an hour before its start.
    assert stamp(recovered) < stamp(started) - STEP / 2
    assert 0 <= float(recovered["failing_for"]) < 60  # type: ignore[arg-type]
    negative = [
        line
        for line in daemon.log_lines()
        if isinstance(line.get("failing_for"), int | float) and float(line["failing_for"]) < 0  # type: ignore[arg-type]
    ]
    assert negative == []
    assert daemon.proc.poll() is None
