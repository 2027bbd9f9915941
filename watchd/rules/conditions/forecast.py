"""Linear forecasts: a least-squares line through recent points and when it meets a threshold."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from watchd.rules.model import Threshold


@dataclass(frozen=True, slots=True)
class Fit:
    """The line value = v_mean + slope * (t - t_mean)."""

    slope: float
    t_mean: float
    v_mean: float

    def at(self, t: float) -> float:
        return self.v_mean + self.slope * (t - self.t_mean)

    def crossing(self, threshold: Threshold, now: float) -> float | None:
        """When the line meets the threshold moving toward it: `now` if it has, None if never."""
        if threshold.test(self.at(now)):
            return now
        rising = threshold.op in (">", ">=")
        if self.slope == 0 or (self.slope > 0) != rising:
            return None
        when = self.t_mean + (threshold.value - self.v_mean) / self.slope
        return max(when, now)


def fit_line(times: Sequence[float], values: Sequence[float]) -> Fit | None:
    """Ordinary least squares over points (times[i], values[i]); None with fewer than two
    distinct times."""
    n = len(times)
    if n < 2:
        return None
    t_mean = math.fsum(times) / n
    v_mean = math.fsum(values) / n
    sxx = math.fsum((t - t_mean) ** 2 for t in times)
    if sxx <= 0:
        return None
    sxy = math.fsum((t - t_mean) * (v - v_mean) for t, v in zip(times, values, strict=True))
    return Fit(slope=sxy / sxx, t_mean=t_mean, v_mean=v_mean)
