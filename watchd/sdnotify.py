"""systemd's notification protocol: READY=1, STATUS=, WATCHDOG=1, RELOADING=1, STOPPING=1.

The protocol is one datagram of newline-separated assignments to the socket named by
NOTIFY_SOCKET ('@' for the abstract namespace); a dependency would add more than it saves.
Without NOTIFY_SOCKET (not run by systemd) every call does nothing.
"""

from __future__ import annotations

import os
import socket
import time


class SystemdNotifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + path[1:] if path.startswith("@") else path
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watched = usec.isdigit() and (not pid or pid == str(os.getpid()))
        self.watchdog_seconds = int(usec) / 1_000_000 if watched else 0.0

    @property
    def enabled(self) -> bool:
        return bool(self._address)

    def notify(self, *assignments: str) -> None:
        """Send assignments such as "READY=1" or "STATUS=42 checks"; errors are ignored."""
        if not self._address:
            return
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            # Never wait: this runs on the event loop, and a listener that does not read (a
            # full queue holds 10 datagrams by default) froze the whole daemon in sendall.
            sock.setblocking(False)
            try:
                sock.connect(self._address)
                sock.sendall("\n".join(assignments).encode())
            except OSError:
                pass  # systemd went away or is behind; the daemon's own work must go on

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.notify(f"STATUS={status}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def reloading(self) -> None:
        # MONOTONIC_USEC lets systemd (>= 253) match the reload to this notification.
        self.notify(
            "RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
        )

    def stopping(self) -> None:
        self.notify("STOPPING=1")
