"""Helpers for tests that drive the real daemon (tests/integration/test_daemon.py starts it)."""

from __future__ import annotations

import threading

from tests.integration.test_daemon import RunningDaemon


class Notifications:
    """Reads the daemon's systemd notifications as they come, as systemd does: a notify
    socket left unread fills up (10 datagrams) and the daemon drops what follows."""

    def __init__(self, daemon: RunningDaemon) -> None:
        self.got: list[str] = []
        self._daemon = daemon
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._done.wait(0.2):
            self.got += self._daemon.notifications()

    def stop(self) -> list[str]:
        """Stop reading; every notification received."""
        self._done.set()
        self._thread.join()
        return self.got + self._daemon.notifications()
