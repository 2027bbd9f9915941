"""systemd notifications reach a real notify socket; without one they do nothing."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from watchd.sdnotify import SystemdNotifier


def test_notifications_arrive_on_the_notify_socket(tmp_path: Path) -> None:
    """READY=1 with a STATUS line and WATCHDOG=1 are sent as datagrams to NOTIFY_SOCKET."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(2)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": str(path)})
        assert notifier.enabled
        notifier.ready("3 checks")
        assert server.recv(4096).decode().split("\n") == ["READY=1", "STATUS=3 checks"]
        notifier.watchdog()
        assert server.recv(4096) == b"WATCHDOG=1"
        notifier.reloading()
        assert server.recv(4096).decode().startswith("RELOADING=1\nMONOTONIC_USEC=")


def test_abstract_socket_names_are_supported() -> None:
    """A NOTIFY_SOCKET starting with @ names a socket in the abstract namespace."""
    name = f"watchd-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        server.settimeout(2)
        SystemdNotifier({"NOTIFY_SOCKET": "@" + name}).stopping()
        assert server.recv(4096) == b"STOPPING=1"


def test_watchdog_interval_comes_from_watchdog_usec_for_this_process_only() -> None:
    """WATCHDOG_USEC applies when WATCHDOG_PID is absent or this process; otherwise there is no watchdog."""
    assert SystemdNotifier({"WATCHDOG_USEC": "30000000"}).watchdog_seconds == 30.0
    mine = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert SystemdNotifier(mine).watchdog_seconds == 30.0
    other = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}
    assert SystemdNotifier(other).watchdog_seconds == 0.0


def test_without_a_notify_socket_nothing_is_sent_and_nothing_fails() -> None:
    """Outside systemd the notifier is disabled and calls are harmless."""
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    notifier.ready("x")
    notifier.watchdog()


def test_a_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    """If systemd's socket is gone, the daemon carries on."""
    SystemdNotifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}).ready("x")


def test_a_listener_that_does_not_read_never_blocks_the_daemon(tmp_path: Path) -> None:
    """With the notify socket's queue full, notifications are dropped at once instead of
    freezing the event loop until someone reads (issue 19, found with finding 12)."""
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        notifier = SystemdNotifier({"NOTIFY_SOCKET": str(path)})
        started = time.monotonic()
        for _ in range(200):  # far more than the queue holds (net.unix.max_dgram_qlen)
            notifier.watchdog()
        assert time.monotonic() - started < 2.0
        assert listener.recv(100) == b"WATCHDOG=1"
