"""Per-second rates of SNMP counters between two polls, with wraps and device restarts.

A Counter32 reading lower than the previous one wrapped, unless the device uptime went
back, which means the device restarted: then the counter started again from zero and the
first poll after the restart gives no rate (as the first poll ever), never a spike. A
Counter64 that went down was reset (a 64-bit counter does not wrap in a device's life).
"""

from __future__ import annotations

from collections.abc import Hashable

from watchd.model import counter_increase


class RateTracker:
    """Previous counter readings of one check; `begin` each poll, `rate` per counter, `end`."""

    def __init__(self) -> None:
        self._last: dict[Hashable, tuple[float, float]] = {}
        self._seen: set[Hashable] = set()
        self._uptime: float | None = None
        self._restarted = False

    def begin(self, uptime: float | None) -> None:
        """Start a poll; `uptime` is the device's uptime in seconds (None if unknown)."""
        self._restarted = uptime is not None and self._uptime is not None and uptime < self._uptime
        if uptime is not None:
            self._uptime = uptime
        self._seen = set()

    @property
    def restarted(self) -> bool:
        """Whether the device uptime went back since the previous poll."""
        return self._restarted

    def rate(self, key: Hashable, value: float, bits: int | None, now: float) -> float | None:
        """Per-second increase of one counter since its previous reading, None if unknown."""
        self._seen.add(key)
        previous = self._last.get(key)
        self._last[key] = (value, now)
        if previous is None or self._restarted:
            return None
        last_value, last_time = previous
        elapsed = now - last_time
        if elapsed <= 0:
            return None
        increase = counter_increase(last_value, value, bits=32 if bits == 32 else None)
        return increase / elapsed

    def end(self) -> None:
        """Forget counters not seen in this poll (an interface that went away)."""
        for key in self._last.keys() - self._seen:
            del self._last[key]
        self._seen = set()  # not kept between polls: 2 KB a device
