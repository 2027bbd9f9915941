"""Finding 10 of issue 19: a report over an unbounded period cannot keep a core busy or hold up
a stop; against the real daemon (`watchd run`) with the shipped config."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_daemon import (
    RunningDaemon,
    free_port,
    shipped_config_for,
    start_daemon,
)

pytestmark = pytest.mark.integration

SINCE_1970 = "/api/v1/reports/availability?from=1970-01-01&to=2026-11-01"


def _daemon(tmp_path: Path, report: str = "") -> Iterator[RunningDaemon]:
    port = free_port()
    config = shipped_config_for(tmp_path, port)
    if report:
        config.write_text(config.read_text() + f"\n[report]\n{report}\n")
    running = start_daemon(tmp_path, config, port)
    yield running
    running.discard()


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    yield from _daemon(tmp_path)


@pytest.fixture
def unbounded(tmp_path: Path) -> Iterator[RunningDaemon]:
    """A daemon whose reports may cover 3,000 years; 1970 to now is 20,000 days: the slow report of the finding."""
    yield from _daemon(tmp_path, 'max_period = "1100000d"')


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def _leave_after(daemon: RunningDaemon, path: str, seconds: float) -> None:
    """Ask for `path` and hang up after `seconds` without reading the answer."""
    with socket.create_connection(("127.0.0.1", daemon.port)) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{daemon.port}\r\n\r\n".encode())
        time.sleep(seconds)


def test_a_report_period_longer_than_the_bound_is_a_400_naming_it(daemon: RunningDaemon) -> None:
    """A report from 1970 is refused at once with a 400 naming the 400-day bound and its setting."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(daemon.url(SINCE_1970), timeout=10) as resp:
            status, body = resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode()
    assert time.monotonic() - started < 5
    assert status == 400
    assert "400 days" in body and "max_period" in body and "1970-01-01" in body


def test_a_report_is_cancelled_when_its_client_leaves(unbounded: RunningDaemon) -> None:
    """A slow report whose client hung up stops costing CPU within a second or so."""
    _leave_after(unbounded, SINCE_1970, 1.0)
    time.sleep(1.5)
    before = _cpu_seconds(unbounded.proc.pid)
    time.sleep(3.0)
    used = _cpu_seconds(unbounded.proc.pid) - before
    assert used < 0.5, f"{used:.2f} s of CPU in 3 s"  # was 1 s and more: still computing
    unbounded.wait_for_log("report_cancelled", timeout=2)


def test_sigterm_during_a_slow_report_stops_promptly(unbounded: RunningDaemon) -> None:
    """SIGTERM while a slow report is being built stops the daemon within seconds, not 62."""
    with socket.create_connection(("127.0.0.1", unbounded.port)) as conn:
        conn.sendall(
            f"GET {SINCE_1970} HTTP/1.1\r\nHost: 127.0.0.1:{unbounded.port}\r\n\r\n".encode()
        )
        time.sleep(1.0)
        started = time.monotonic()
        unbounded.proc.send_signal(signal.SIGTERM)
        unbounded.proc.wait(timeout=30)
    assert time.monotonic() - started < 10
    assert unbounded.proc.returncode == 0


def test_the_report_command_refuses_a_period_past_the_bound(tmp_path: Path) -> None:
    """`watchd report --from 1970-01-01` exits 2 at once with the bound named, instead of running for hours."""
    config = shipped_config_for(tmp_path, free_port())
    done = subprocess.run(
        [sys.executable, "-m", "watchd.cli", "report", "-c", str(config),
         "--from", "1970-01-01", "--to", "2026-11-01"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "more than the longest a report may cover, 400 days ([report] max_period)" in done.stderr
