"""Per-second rates of SNMP counters between two polls, with wraps and device restarts.

A Counter32 reading lower than the previous one wrapped, unless the device uptime went
back, which means the device restarted: then the counter started again from zero and the
first poll after the restart gives no rate (as the first poll ever), never a spike. A
Counter64 that went down was reset (a 64-bit counter does not wrap in a device's life).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import cast

from watchd.model import counter_increase

# Between polls every tracker points here instead of keeping an empty set of its own; frozen,
# so a rate() outside a poll fails loudly instead of filling a set all trackers share.
_NOT_POLLING = cast(set[Hashable], frozenset())


class RateTracker:
    """Previous counter readings of one check; `begin` each poll, `rate` per counter, `end`.

    Every reading kept was taken at the previous poll (`end` forgets the counters a poll did
    not see), so one time per check is kept, not one per counter: a float a counter instead of
    a tuple of two (5,000 devices with four interfaces: 140,000 counters, 11 MB less).
    """

    def __init__(self) -> None:
        self._last: dict[Hashable, float] = {}
        self._seen = _NOT_POLLING  # the counters this poll has seen
        self._uptime: float | None = None
        self._restarted = False
        self._time = 0.0  # this poll's
        self._last_time: float | None = None  # the previous poll's, when it ended
        self._open = False

    def begin(self, uptime: float | None, now: float) -> None:
        """Start a poll taken at `now`; `uptime` is the device's uptime in seconds (None if
        unknown)."""
        if self._open:
            # The previous poll never ended (it raised midway): which readings it replaced is
            # unknown, so none gives a rate against this poll.
            self._last.clear()
            self._last_time = None
        self._restarted = uptime is not None and self._uptime is not None and uptime < self._uptime
        if uptime is not None:
            self._uptime = uptime
        self._time = now
        self._open = True
        self._seen = set()

    @property
    def restarted(self) -> bool:
        """Whether the device uptime went back since the previous poll."""
        return self._restarted

    def rate(self, key: Hashable, value: float, bits: int | None) -> float | None:
        """Per-second increase of one counter since the previous poll, None if unknown."""
        self._seen.add(key)
        previous = self._last.get(key)
        self._last[key] = value
        if previous is None or self._restarted or self._last_time is None:
            return None
        elapsed = self._time - self._last_time
        if elapsed <= 0:
            return None
        increase = counter_increase(previous, value, bits=32 if bits == 32 else None)
        return increase / elapsed

    def end(self) -> None:
        """End the poll: forget counters not seen in it (an interface that went away)."""
        if len(self._seen) != len(self._last):
            for key in self._last.keys() - self._seen:
                del self._last[key]
        self._seen = _NOT_POLLING  # not kept between polls: 216 bytes to 2 KB a device
        self._last_time = self._time
        self._open = False
