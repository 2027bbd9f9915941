"""Heartbeat checks in the real daemon: pings over HTTP, misses, grace, failures, restarts."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_daemon import RunningDaemon, free_port, start_daemon

pytestmark = pytest.mark.integration

SECRET = "s3cret-for-the-nightly-backup"


def _config(tmp: Path, port: int) -> Path:
    path = tmp / "config.toml"
    path.write_text(
        f"""
[daemon]
state_dir = "state"
log_format = "json"

[api]
listen = "127.0.0.1:{port}"

[check_defaults]
interval = "0.5s"
jitter = "0s"
retry_interval = "0.5s"
max_attempts = 1

[[items]]
name = "backup"
  [[items.checks]]
  name = "nightly"
  kind = "heartbeat"
  period = "3s"
  grace = "2s"
  secret = {{ env = "WATCHD_TEST_HEARTBEAT" }}
"""
    )
    return path


@pytest.fixture
def daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningDaemon]:
    monkeypatch.setenv("WATCHD_TEST_HEARTBEAT", SECRET)
    port = free_port()
    running = start_daemon(tmp_path, _config(tmp_path, port), port)
    yield running
    running.discard()


def _ping(daemon: RunningDaemon, suffix: str = "", key: str | None = SECRET) -> int:
    query = f"?key={key}" if key is not None else ""
    request = urllib.request.Request(
        daemon.url(f"/api/v1/heartbeat/backup/nightly{suffix}{query}"), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _check(daemon: RunningDaemon) -> dict[str, object]:
    status, body = daemon.get("/api/v1/items")
    assert status == 200, body
    (item,) = json.loads(body)["items"]
    (check,) = item["checks"]
    return dict(check)


def _wait_for(daemon: RunningDaemon, hard: str, within: float, text: str = "") -> dict[str, object]:
    deadline = time.monotonic() + within
    check: dict[str, object] = {}
    while time.monotonic() < deadline:
        check = _check(daemon)
        if check.get("hard_status") == hard and text in str(check.get("message", "")):
            return check
        time.sleep(0.1)
    raise AssertionError(f"not {hard} ({text!r}) within {within} s: {check}")


def test_a_job_pings_with_its_secret_and_a_missed_ping_goes_critical(
    daemon: RunningDaemon,
) -> None:
    """A ping needs the check's secret; without pings past period and grace the check is HARD
    CRITICAL, and the next ping makes it OK again."""
    assert _ping(daemon, key=None) == 401
    assert _ping(daemon, key="not-the-secret") == 403
    assert _ping(daemon) == 200
    _wait_for(daemon, "OK", 3, "last ping at")
    missed = _wait_for(daemon, "CRITICAL", 10, "missed the ping due at")
    assert missed["state_type"] == "hard"
    assert _ping(daemon) == 200
    _wait_for(daemon, "OK", 3, "last ping at")
    # The secret is in no log line.
    assert SECRET not in daemon.log.read_text()


def test_a_failure_code_is_critical_at_once_and_a_timed_run_is_sampled(
    daemon: RunningDaemon,
) -> None:
    """/3 (exit code 3) is CRITICAL at the next run; /start then /0 times the run as a sample."""
    assert _ping(daemon, "/3") == 200
    _wait_for(daemon, "CRITICAL", 3, "exit code 3")
    assert _ping(daemon, "/start") == 200
    time.sleep(0.3)
    assert _ping(daemon, "/0") == 200
    _wait_for(daemon, "OK", 3, "last ping at")
    deadline = time.monotonic() + 5
    while "watchd_probe_heartbeat_duration_seconds" not in daemon.get("/metrics")[1]:
        assert time.monotonic() < deadline, daemon.get("/metrics")[1]
        time.sleep(0.1)
    assert _ping(daemon, "/teapot") == 404


def test_a_restarted_daemon_remembers_the_last_ping_and_gives_the_job_its_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pings are stored: after a restart past the due time the check is OK with the last ping
    kept, and goes CRITICAL only once grace has passed from the start."""
    monkeypatch.setenv("WATCHD_TEST_HEARTBEAT", SECRET)
    port = free_port()
    config = _config(tmp_path, port)
    first = start_daemon(tmp_path, config, port)
    try:
        assert _ping(first) == 200
        _wait_for(first, "OK", 3, "last ping at")
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
    finally:
        first.discard()
    time.sleep(6)  # past period (3 s) and grace (2 s): due while watchd was down
    second = start_daemon(tmp_path, config, port)
    try:
        started = time.monotonic()
        check = _wait_for(second, "OK", 3, "last ping at")
        assert time.monotonic() - started < 2
        assert check["state_type"] == "hard"
        _wait_for(second, "CRITICAL", 6, "missed the ping due at")
        assert time.monotonic() - started >= 1.5  # not before the grace from the start
    finally:
        second.discard()


def test_a_reload_does_not_give_a_missed_job_its_grace_again(daemon: RunningDaemon) -> None:
    """A SIGHUP that changes a missed heartbeat check (here its retry interval, so it gets a
    new collector) keeps it CRITICAL: grace restarts with the process, not with a reload."""
    assert _ping(daemon) == 200
    _wait_for(daemon, "CRITICAL", 10, "missed the ping due at")
    text = daemon.config.read_text()
    daemon.config.write_text(text.replace('retry_interval = "0.5s"', 'retry_interval = "0.4s"'))
    daemon.proc.send_signal(signal.SIGHUP)
    daemon.wait_for_log("reloaded")
    deadline = time.monotonic() + 2.0  # four runs
    while time.monotonic() < deadline:
        check = _check(daemon)
        assert check["status"] == "CRITICAL", json.dumps(check)
        time.sleep(0.1)


def test_with_api_tokens_a_ping_needs_the_secret_or_an_ingest_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an API with tokens: an ingest token pings a check, a read-only token gets 403, and a
    check without a secret refuses a ping without a token (401)."""
    monkeypatch.setenv("WATCHD_TEST_HEARTBEAT", SECRET)
    monkeypatch.setenv("WATCHD_TEST_INGEST", "ingest-token-0123456789")
    monkeypatch.setenv("WATCHD_TEST_READ", "read-token-0123456789")
    port = free_port()
    config = _config(tmp_path, port)
    text = config.read_text().replace(
        "[check_defaults]",
        '[[api.tokens]]\nname = "jobs"\nscopes = ["ingest"]\nenv = "WATCHD_TEST_INGEST"\n'
        '[[api.tokens]]\nname = "viewer"\nscopes = ["read"]\nenv = "WATCHD_TEST_READ"\n\n'
        "[check_defaults]",
    )
    text += '\n  [[items.checks]]\n  name = "open"\n  kind = "heartbeat"\n  period = "1h"\n'
    config.write_text(text)
    daemon = start_daemon(tmp_path, config, port)
    try:

        def ping(check: str, token: str | None) -> int:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            request = urllib.request.Request(
                daemon.url(f"/api/v1/heartbeat/backup/{check}"), method="POST", headers=headers
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as resp:
                    return int(resp.status)
            except urllib.error.HTTPError as exc:
                return exc.code

        assert ping("nightly", "ingest-token-0123456789") == 200
        assert ping("nightly", "read-token-0123456789") == 403
        assert ping("open", None) == 401
        assert ping("open", "ingest-token-0123456789") == 200
        assert ping("missing", "ingest-token-0123456789") == 404
        assert ping("missing", None) == 401  # no check names told to strangers
    finally:
        daemon.discard()
