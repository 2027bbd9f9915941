"""Issue 19, finding 4: slow and idle clients cannot take the daemon's descriptors or its API."""

from __future__ import annotations

import json
import resource
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_daemon import RunningDaemon, free_port, start_daemon

pytestmark = pytest.mark.integration

NOFILE = 256  # a quarter of systemd's default soft limit, so the attack is cheap
TOKEN = "slowloris-ingest-token-4f2a"
HEADER_TIMEOUT = 2.0
BODY_TIMEOUT = 3.0


def _post_alert(daemon: RunningDaemon, timeout: float) -> int:
    body = json.dumps([{"labels": {"alertname": "Probe", "item": "localhost"}}]).encode()
    request = urllib.request.Request(
        daemon.url("/api/v2/alerts"),
        data=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _connect(daemon: RunningDaemon, first_bytes: bytes = b"") -> socket.socket | None:
    """A connection that sends `first_bytes` and then nothing; None if it is not taken."""
    sock = socket.socket()
    sock.settimeout(0.5)
    try:
        sock.connect(("127.0.0.1", daemon.port))
        if first_bytes:
            sock.sendall(first_bytes)
    except OSError:
        sock.close()
        return None
    return sock


def _low_nofile() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    port = free_port()
    (tmp_path / "ingest.token").write_text(TOKEN)
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[daemon]
state_dir = "state"
[api]
listen = "127.0.0.1:{port}"
header_timeout = "{HEADER_TIMEOUT}s"
body_timeout = "{BODY_TIMEOUT}s"
[[api.tokens]]
name = "prometheus"
scopes = ["ingest"]
file = "ingest.token"
[[items]]
name = "localhost"
address = "127.0.0.1"
  [[items.checks]]
  name = "load"
  kind = "local"
  probe = "load"
  interval = "5s"
"""
    )
    running = start_daemon(tmp_path, config, port, preexec_fn=_low_nofile)
    yield running
    running.proc.terminate()
    try:
        running.proc.wait(30)
    except subprocess.TimeoutExpired:  # not this test's subject: say so, do not leave it behind
        running.proc.kill()
        running.proc.wait()
        pytest.fail(f"watchd did not stop on SIGTERM:\n{running.log.read_text()[-3000:]}")
    finally:
        running.notify.close()


def _closed_by_peer(sock: socket.socket, within: float) -> bool:
    """Whether the daemon closes `sock` (EOF or reset) within `within` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except OSError:
        pass
    return True


def test_slowloris_beyond_the_descriptor_limit_does_not_block_ingestion(
    daemon: RunningDaemon,
) -> None:
    """With 256 descriptors, 400 half-sent requests are cut off and an authenticated alert post still gets 200 at once, with a log of a few lines."""
    half_sent = b"POST /api/v2/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: app"
    attackers = [s for s in (_connect(daemon, half_sent) for _ in range(400)) if s is not None]
    try:
        started = time.monotonic()
        assert _post_alert(daemon, timeout=20) == 200
        answered = time.monotonic() - started
        # Sooner than the header timeout: it took the place of a half-sent request.
        assert answered < HEADER_TIMEOUT, f"the alert post took {answered:.1f} s"
        # Every connection the daemon took is closed by the header timeout, not held.
        assert len(attackers) >= NOFILE // 2
        held = [s for s in attackers[: NOFILE // 2] if not _closed_by_peer(s, HEADER_TIMEOUT + 3)]
        assert held == []
    finally:
        for sock in attackers:
            sock.close()
    assert daemon.proc.poll() is None
    log = daemon.log.read_text()
    assert len(log) < 20_000, log[-3000:]
    assert "Too many open files" not in log


def test_an_idle_connection_is_closed_after_the_header_timeout(daemon: RunningDaemon) -> None:
    """A connection that sends nothing is closed header_timeout after it opened."""
    sock = _connect(daemon)
    assert sock is not None
    with sock:
        started = time.monotonic()
        assert _closed_by_peer(sock, HEADER_TIMEOUT + 3)
        assert time.monotonic() - started >= HEADER_TIMEOUT - 0.5


def test_a_trickled_body_gets_408_and_the_connection_closed(daemon: RunningDaemon) -> None:
    """An authenticated post whose body stops arriving gets 408 after body_timeout, then EOF."""
    headers = (
        "POST /api/v2/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Length: 1000\r\n\r\n"
    )
    sock = _connect(daemon, headers.encode() + b'[{"labels": ')
    assert sock is not None
    with sock:
        started = time.monotonic()
        sock.settimeout(BODY_TIMEOUT + 5)
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"did not arrive within 3 s" in answer
    assert BODY_TIMEOUT - 0.5 <= elapsed < BODY_TIMEOUT + 3
