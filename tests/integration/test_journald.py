"""The daemon's log lines in a real journald: `journalctl -p warning` shows its warnings and
errors and not its info lines.

A private journald (its own namespace, so the machine's journal is not touched) takes the
daemon's stderr through a stream socket, set up as systemd sets up `StandardOutput=journal`:
the stream header asks for level prefixes (SyslogLevelPrefix=yes) and JOURNAL_STREAM names the
socket. Needs root and systemd-journald (the Debian systemd package, which scripts/test.sh
installs); systemd itself need not run.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_daemon import shipped_config_for

JOURNALD = Path("/lib/systemd/systemd-journald")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not JOURNALD.exists() or shutil.which("journalctl") is None or os.geteuid() != 0,
        reason="needs root, systemd-journald and journalctl",
    ),
]


@pytest.fixture
def namespace() -> Iterator[str]:
    """A running journald of a namespace of its own; its journal files go when the test ends."""
    name = f"watchdtest{uuid.uuid4().hex[:12]}"
    proc = subprocess.Popen(
        [str(JOURNALD), name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    stdout_socket = Path(f"/run/systemd/journal.{name}/stdout")
    deadline = time.monotonic() + 10
    while not stdout_socket.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "journald did not start"
        time.sleep(0.05)
    try:
        yield name
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(f"/run/systemd/journal.{name}", ignore_errors=True)
        machine = Path("/etc/machine-id").read_text().strip()
        for base in ("/var/log/journal", "/run/log/journal"):
            shutil.rmtree(f"{base}/{machine}.{name}", ignore_errors=True)


def journal_stream(namespace: str, identifier: str) -> socket.socket:
    """A stream into journald, as systemd opens one for a service: identifier, no unit,
    priority 6 for lines without a prefix, level prefixes on, no forwarding."""
    stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stream.connect(f"/run/systemd/journal.{namespace}/stdout")
    stream.shutdown(socket.SHUT_RD)
    stream.sendall(f"{identifier}\n\n6\n1\n0\n0\n0\n".encode())
    return stream


def entries(namespace: str, identifier: str, *options: str) -> list[dict[str, str]]:
    shown = subprocess.run(
        ["journalctl", f"--namespace={namespace}", "-t", identifier, "-o", "json", *options],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return [json.loads(line) for line in shown.stdout.splitlines()]


def test_journalctl_priority_filter_shows_the_daemons_warnings_and_errors_only(
    tmp_path: Path, namespace: str
) -> None:
    """Under journald, `journalctl -p warning` lists the daemon's config warning and its
    "API port taken" error, with their priorities, and none of its info lines; the entries'
    messages are the JSON objects, without the prefix."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        # The shipped config's rules glob matches nothing in tmp_path: a config warning.
        config = shipped_config_for(tmp_path, port)
        stream = journal_stream(namespace, "watchd-test")
        found = os.fstat(stream.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{found.st_dev}:{found.st_ino}"}
        result = subprocess.run(
            [sys.executable, "-m", "watchd.cli", "run", "-c", str(config)],
            stdout=stream.fileno(),
            stderr=stream.fileno(),
            env=env,
            cwd=tmp_path,
            check=False,
            timeout=60,
        )
        stream.close()
    assert result.returncode == 1

    everything: list[dict[str, str]] = []
    deadline = time.monotonic() + 10
    # journald writes what it read a moment later: wait for the daemon's last line.
    while not any("api_not_started" in entry["MESSAGE"] for entry in everything):
        assert time.monotonic() < deadline, everything
        time.sleep(0.1)
        everything = entries(namespace, "watchd-test")
    assert any(entry["PRIORITY"] == "6" for entry in everything)  # info lines are there

    filtered = entries(namespace, "watchd-test", "-p", "warning")
    shown = {json.loads(entry["MESSAGE"])["event"]: entry["PRIORITY"] for entry in filtered}
    assert shown["config_warning"] == "4"
    assert shown["api_not_started"] == "3"
    assert all(int(priority) <= 4 for priority in shown.values()), shown
