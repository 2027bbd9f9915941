"""Availability arithmetic: how one check's samples turn into seconds per state (DESIGN.md §4).

A sample's status holds from its time until the check's next sample, but never longer than
`max_gap` (twice the check interval by default): past that watchd was not running or not
checking, and the time is **unmonitored**, as is the time before a check's first sample.
Unmonitored time is shown and never counted as up. Inside a maintenance window, monitored
time counts as **maintenance** whatever the status; the service's policy then counts it as
up, excludes it, or counts it as down. Precedence: unmonitored > maintenance > status.

Statuses: OK and WARNING are up (the service answers, maybe degraded), CRITICAL is down,
UNKNOWN is unknown: the check could not tell, so unknown time is left out of availability
like excluded maintenance, and shown.

    availability = up / (up + down)      with maintenance added to up, to down, or to neither

A failure is an observed transition into down: a down sample whose previous sample, no more
than `max_gap` earlier, was not down. Downtime first seen after unmonitored time is downtime,
not a new failure (watchd restarting during an outage does not make two outages).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from watchd.model import Status
from watchd.report.config import MaintenancePolicy
from watchd.store.samples import AvailabilitySample

UP, DOWN, UNKNOWN = "up", "down", "unknown"
Interval = tuple[float, float]


def status_class(status: int) -> str:
    """ "up", "down" or "unknown" for a stored sample status (a watchd.model.Status value)."""
    if status in (Status.OK, Status.WARNING):
        return UP
    if status == Status.CRITICAL:
        return DOWN
    return UNKNOWN


@dataclass(frozen=True, slots=True)
class Tally:
    """Seconds per state, check runs, failures and latency of one check over some span."""

    up: float = 0.0
    down: float = 0.0
    unknown: float = 0.0
    maintenance: float = 0.0
    unmonitored: float = 0.0
    checks: int = 0
    failures: int = 0
    latency_sum: float = 0.0
    latency_count: int = 0
    latency_max: float | None = None
    # Within one hour: that hour's p95. Over longer spans: the worst hourly p95 in it.
    latency_p95: float | None = None

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            up=self.up + other.up,
            down=self.down + other.down,
            unknown=self.unknown + other.unknown,
            maintenance=self.maintenance + other.maintenance,
            unmonitored=self.unmonitored + other.unmonitored,
            checks=self.checks + other.checks,
            failures=self.failures + other.failures,
            latency_sum=self.latency_sum + other.latency_sum,
            latency_count=self.latency_count + other.latency_count,
            latency_max=_worst(self.latency_max, other.latency_max),
            latency_p95=_worst(self.latency_p95, other.latency_p95),
        )

    @property
    def total(self) -> float:
        """Every second accounted for: equals the span's length."""
        return self.up + self.down + self.unknown + self.maintenance + self.unmonitored

    @property
    def monitored(self) -> float:
        return self.total - self.unmonitored

    @property
    def latency_avg(self) -> float | None:
        return self.latency_sum / self.latency_count if self.latency_count else None

    def counted(self, policy: MaintenancePolicy) -> tuple[float, float]:
        """(up, down) seconds after the maintenance policy; their sum is the eligible time."""
        if policy == "up":
            return self.up + self.maintenance, self.down
        if policy == "down":
            return self.up, self.down + self.maintenance
        return self.up, self.down

    def availability(self, policy: MaintenancePolicy) -> float | None:
        """Up over eligible time as a fraction 0..1; None when nothing was eligible."""
        up, down = self.counted(policy)
        return up / (up + down) if up + down > 0 else None


def _worst(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else max(a, b)


def total(tallies: Iterable[Tally]) -> Tally:
    """The sum of `tallies` (an empty Tally for none)."""
    out = Tally()
    for t in tallies:
        out = out + t
    return out


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping intervals covering the same time as `intervals`."""
    merged: list[Interval] = []
    for a, b in sorted(i for i in intervals if i[1] > i[0]):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def overlap(a: float, b: float, intervals: Sequence[Interval]) -> float:
    """Seconds of [a, b) inside the sorted, merged `intervals`."""
    if not intervals or b <= a:
        return 0.0
    i = max(0, bisect.bisect_right(intervals, (a, math.inf)) - 1)
    found = 0.0
    while i < len(intervals) and intervals[i][0] < b:
        lo, hi = max(a, intervals[i][0]), min(b, intervals[i][1])
        if hi > lo:
            found += hi - lo
        i += 1
    return found


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank q-th percentile (0 < q <= 100) of `values`, None for none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


class _Acc:
    """Mutable per-bucket sums while one pass over the samples runs."""

    __slots__ = ("checks", "failures", "latencies", "seconds")

    def __init__(self) -> None:
        self.seconds = {UP: 0.0, DOWN: 0.0, UNKNOWN: 0.0, "maintenance": 0.0}
        self.checks = 0
        self.failures = 0
        self.latencies: list[float] = []

    def tally(self, length: float) -> Tally:
        s = self.seconds
        covered = s[UP] + s[DOWN] + s[UNKNOWN] + s["maintenance"]
        lat = self.latencies
        return Tally(
            up=s[UP],
            down=s[DOWN],
            unknown=s[UNKNOWN],
            maintenance=s["maintenance"],
            unmonitored=max(0.0, length - covered),
            checks=self.checks,
            failures=self.failures,
            latency_sum=math.fsum(lat),
            latency_count=len(lat),
            latency_max=max(lat) if lat else None,
            latency_p95=percentile(lat, 95),
        )


def tally_buckets(
    samples: Sequence[AvailabilitySample],
    *,
    start: float,
    end: float,
    bucket: float,
    max_gap: float,
    maintenance: Sequence[Interval] = (),
) -> list[tuple[float, Tally]]:
    """One check's (bucket start, Tally) for each `bucket`-long span of [start, end).

    `samples` are the check's samples in time order, including those up to `max_gap` before
    `start` (whose status reaches into the span); samples at or after `end` are ignored.
    `maintenance` are sorted, merged (merge_intervals) windows of the check's item.
    """
    count = max(1, math.ceil((end - start) / bucket))
    edges = [min(end, start + k * bucket) for k in range(count + 1)]
    accs = [_Acc() for _ in range(count)]

    def index(t: float) -> int:
        return min(count - 1, int((t - start) // bucket))

    previous: AvailabilitySample | None = None
    for n, sample in enumerate(samples):
        t = sample.time
        if t >= end:
            break
        cls = status_class(sample.status)
        if t >= start:
            acc = accs[index(t)]
            acc.checks += 1
            if sample.latency is not None:
                acc.latencies.append(sample.latency)
            if (
                cls == DOWN
                and previous is not None
                and t - previous.time <= max_gap
                and status_class(previous.status) != DOWN
            ):
                acc.failures += 1
        following = samples[n + 1].time if n + 1 < len(samples) else math.inf
        seg_a, seg_b = max(t, start), min(following, t + max_gap, end)
        if seg_b > seg_a:
            k = index(seg_a)
            while k < count and edges[k] < seg_b:
                a, b = max(seg_a, edges[k]), min(seg_b, edges[k + 1])
                if b > a:
                    muted = overlap(a, b, maintenance)
                    accs[k].seconds["maintenance"] += muted
                    accs[k].seconds[cls] += (b - a) - muted
                k += 1
        previous = sample
    return [(edges[k], accs[k].tally(edges[k + 1] - edges[k])) for k in range(count)]


def tally_span(
    samples: Sequence[AvailabilitySample],
    *,
    start: float,
    end: float,
    max_gap: float,
    maintenance: Sequence[Interval] = (),
) -> Tally:
    """One check's Tally over [start, end), straight from its samples (see tally_buckets)."""
    if end <= start:
        return Tally()
    [(_, tally)] = tally_buckets(
        samples, start=start, end=end, bucket=end - start, max_gap=max_gap, maintenance=maintenance
    )
    return tally
