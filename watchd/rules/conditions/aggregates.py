"""Window aggregates over a series' recent points: avg, min, max, last, sum, count, percentile,
and counter-aware rate and delta.

A point is (time, value, increase): `increase` is the counter growth since the previous point
(watchd.model.counter_increase, which tells a wrap from a reset), so rate and delta never see
a wrap or a reset as a huge negative or positive jump.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from watchd.rules.model import Over

# array is generic for type checkers only (subscriptable at run time from Python 3.12).
if TYPE_CHECKING:
    _Doubles = array[float]
else:
    _Doubles = array


class Window(_Doubles):
    """A series' recent points, oldest first, as one flat array of doubles: t, value, increase.

    Every windowed series of every rule holds one (5,000 SNMP devices with the shipped rules:
    60,000). Ten points as a list of tuples of floats took 1.5 KB; here they take 304 bytes.
    """

    __slots__ = ()

    def __new__(cls, points: Iterable[Sequence[float]] = ()) -> Window:
        return super().__new__(cls, "d", [float(x) for point in points for x in point[:3]])  # type: ignore[return-value]  # array.__new__ is typed as returning array

    @classmethod
    def from_flat(cls, numbers: Sequence[float]) -> Window:
        """The window of `numbers` as `tolist` gives them: t, value, increase, t, ..."""
        if len(numbers) % 3:
            raise ValueError("a window holds three numbers per point")
        window = cls()
        window.extend(float(x) for x in numbers)
        return window

    @property
    def size(self) -> int:
        """The number of points."""
        return len(self) // 3

    @property
    def first_time(self) -> float:
        return self[0]

    @property
    def last_time(self) -> float:
        return self[-3]

    @property
    def last_value(self) -> float:
        return self[-2]

    def add(self, t: float, value: float, increase: float) -> None:
        self.extend((t, value, increase))

    def times(self) -> Sequence[float]:
        return self[0::3]

    def values(self) -> Sequence[float]:
        return self[1::3]

    def increases(self) -> Sequence[float]:
        return self[2::3]

    def evict(self, now: float, span: float) -> float:
        """Drop points older than the window (kept: time in (now - span, now]); returns the sum
        of the dropped points' increases.

        Points leave a few at a time, so the front deletion moves at most a window's doubles."""
        cutoff = now - span
        end = len(self)
        old = 0
        dropped = 0.0
        while old < end and self[old] <= cutoff:
            dropped += self[old + 2]
            old += 3
        if old:
            del self[:old]
        return dropped


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 < q <= 100) with linear interpolation between closest ranks."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    fraction = rank - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def aggregate(fn: str, values: Sequence[float], q: float = 0.0) -> float:
    """One of avg, min, max, last, sum, count, percentile over non-empty `values`."""
    if fn == "avg":
        return math.fsum(values) / len(values)
    if fn == "min":
        return min(values)
    if fn == "max":
        return max(values)
    if fn == "last":
        return values[-1]
    if fn == "sum":
        return math.fsum(values)
    if fn == "count":
        return float(len(values))
    if fn == "percentile":
        return percentile(values, q)
    raise ValueError(f"expected a gauge window function, got {fn!r}")


def window_value(over: Over, window: Window, increases: float | None = None) -> float | None:
    """The aggregate over the points in the window; None when there are too few for `fn`.

    delta is the counter increase between the first and last point of the window; rate is that
    increase per second over the time they span. Both need two points. `increases`, when
    given, is the sum of the points' increases (kept by the caller), else it is summed here.
    """
    if not window:
        return None
    if over.fn in ("rate", "delta"):
        if window.size < 2:
            return None
        if increases is None:
            increases = math.fsum(window.increases())
        # The first point's increase is from before the window.
        increase = increases - window[2]
        if over.fn == "delta":
            return increase
        span = window.last_time - window.first_time
        return increase / span if span > 0 else None
    return aggregate(over.fn, window.values(), over.q)
