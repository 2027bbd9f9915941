"""Overload: telling "watchd is behind" apart from "the target is down" (DESIGN.md §4).

A check run during which watchd's event loop stalled (or whose timeout fired late) measured
watchd, not its target: the scheduler turns its non-OK result into UNKNOWN "poller overloaded"
and the result processor records it without moving the check's SOFT/HARD state, so an
overloaded poller never pages for targets that are fine. `LoopLag` measures the stalls;
`OverloadAlarm` raises one self-alert, PollerOverloaded, with the measured lag while watchd
stays behind (stalls, withheld results, runs starting late) and resolves it once it caught up.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from watchd.clock import Clock
from watchd.durations import format_duration
from watchd.logging import get_logger
from watchd.model import (
    SELF_ALERT_REFRESH,
    SELF_ALERT_VALID,
    Alert,
    AlertSink,
    AlertStatus,
    CheckResult,
    Status,
)

log = get_logger("watchd.overload")

ALERTNAME = "PollerOverloaded"
PROBE_INTERVAL = 0.1  # seconds between loop-lag probes: a stall of this length is always seen
GAUGE_EVERY = 10  # probes per published gauge value (the worst of them)
FIRE_AFTER = 10.0  # evidence spanning this long fires the alert: one stall alone does not
CLEAR_AFTER = 30.0  # this long without evidence resolves it


class LagSource(Protocol):
    def worst_since(self, t0: float) -> float:
        """How long the loop stood still after monotonic time `t0`, in seconds: the longest
        stall (of at least the overload threshold) counted for its part after `t0`; 0.0 if none.
        A run that took less than the threshold was never held up that long."""
        ...


class LoopLag:
    """Measures event-loop stalls: a probe sleeps `interval` and records how late it woke.

    Only stalls at or above `threshold` are kept (a healthy loop keeps none, so asking costs
    nothing), and a probe that is overdue right now counts as a stall in progress.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        threshold: float,
        interval: float = PROBE_INTERVAL,
        gauge: Callable[[float], None] | None = None,
    ) -> None:
        self._clock = clock
        self._threshold = threshold
        self._interval = interval
        self._gauge = gauge
        self._stalls: collections.deque[tuple[float, float]] = collections.deque(maxlen=1000)
        self._due: float | None = None

    async def run(self) -> None:
        """Probe until cancelled."""
        worst = 0.0
        probes = 0
        while True:
            start = self._clock.monotonic()
            self._due = start + self._interval
            await self._clock.sleep(self._interval)
            woke = self._clock.monotonic()
            lag = max(0.0, woke - self._due)
            self._due = None
            if lag >= self._threshold:
                self._stalls.append((woke, lag))
            worst, probes = max(worst, lag), probes + 1
            if probes == GAUGE_EVERY:
                if self._gauge is not None:
                    self._gauge(worst)
                worst, probes = 0.0, 0

    def worst_since(self, t0: float) -> float:
        """See LagSource."""
        worst = 0.0
        now = self._clock.monotonic()
        if self._due is not None and now - self._due >= self._threshold:
            worst = now - max(self._due, t0)  # a stall going on right now
        for woke, lag in reversed(self._stalls):
            if woke < t0:
                break
            worst = max(worst, woke - max(woke - lag, t0))
        return max(0.0, worst)


def overloaded_result(result: CheckResult, behind: float) -> CheckResult:
    """The UNKNOWN that replaces a non-OK result measured while watchd was `behind` seconds
    behind; the collector's words are kept in the message, its samples are not trusted."""
    return CheckResult(
        Status.UNKNOWN,
        f"poller overloaded: watchd was {_lag(behind)} behind during the run "
        f"(the check said {result.status.name}: {result.message})",
    )


@dataclass(slots=True)
class _Episode:
    start: float  # monotonic
    wall_start: float
    last: float
    worst_loop_lag: float = 0.0
    worst_start_lag: float = 0.0
    withheld: int = 0
    late: int = 0
    firing: bool = False
    sent: float = 0.0


class OverloadAlarm:
    """The one PollerOverloaded self-alert: evidence from the loop probe and from check runs
    (withheld results, late starts) opens an episode; evidence spanning `fire_after` seconds
    fires the alert, `clear_after` seconds without any resolves it."""

    def __init__(
        self,
        sink: AlertSink,
        *,
        clock: Clock,
        lag: LagSource,
        threshold: float,
        tick: float = 1.0,
        fire_after: float = FIRE_AFTER,
        clear_after: float = CLEAR_AFTER,
    ) -> None:
        self._sink = sink
        self._clock = clock
        self._lag = lag
        self._threshold = threshold
        self._tick = tick
        self._fire_after = fire_after
        self._clear_after = clear_after
        self._episode: _Episode | None = None

    @property
    def firing(self) -> bool:
        return self._episode is not None and self._episode.firing

    def run_finished(self, interval: float, start_lag: float, withheld: bool) -> None:
        """Take one check run: how late it started and whether its result was withheld.

        A start later than half the check's interval (and than the threshold) means watchd
        cannot keep the schedule: no free slot, or a loop too busy to start it.
        """
        late = start_lag >= max(self._threshold, interval / 2)
        if not (late or withheld):
            return
        episode = self._evidence()
        if late:
            episode.late += 1
            episode.worst_start_lag = max(episode.worst_start_lag, start_lag)
        if withheld:
            episode.withheld += 1

    async def run(self) -> None:
        """Evaluate every `tick` until cancelled."""
        while True:
            since = self._clock.monotonic()
            await self._clock.sleep(self._tick)
            await self.evaluate(since)

    async def evaluate(self, since: float) -> None:
        """Add the loop stalls seen since `since`; fire, refresh or resolve the alert."""
        stall = self._lag.worst_since(since)
        if stall > 0.0:
            evidence = self._evidence()
            evidence.worst_loop_lag = max(evidence.worst_loop_lag, stall)
        episode = self._episode
        if episode is None:
            return
        now = self._clock.monotonic()
        if now - episode.last >= self._clear_after:
            self._episode = None
            if episode.firing:
                log.info("poller_caught_up", overloaded_for=format_duration(now - episode.start))
                await self._submit(episode, firing=False)
            return
        if not episode.firing and episode.last - episode.start >= self._fire_after:
            episode.firing = True
            log.warning("poller_overloaded", **self._figures(episode))
            await self._submit(episode, firing=True)
        elif episode.firing and now - episode.sent >= SELF_ALERT_REFRESH:
            await self._submit(episode, firing=True)

    def _evidence(self) -> _Episode:
        now = self._clock.monotonic()
        if self._episode is None:
            self._episode = _Episode(start=now, wall_start=self._clock.now(), last=now)
        self._episode.last = now
        return self._episode

    @staticmethod
    def _figures(episode: _Episode) -> dict[str, object]:
        return {
            "loop_lag": round(episode.worst_loop_lag, 3),
            "start_lag": round(episode.worst_start_lag, 3),
            "withheld_results": episode.withheld,
            "late_runs": episode.late,
        }

    async def _submit(self, episode: _Episode, *, firing: bool) -> None:
        episode.sent = self._clock.monotonic()
        wall = self._clock.now()
        summary = (
            f"watchd cannot keep up with its checks: event loop up to "
            f"{_lag(episode.worst_loop_lag)} behind, runs starting up to "
            f"{_lag(episode.worst_start_lag)} late; {episode.withheld} results "
            "withheld as UNKNOWN (poller overloaded), not counted against their targets"
        )
        alert = Alert(
            labels={"alertname": ALERTNAME, "item": "watchd", "severity": "critical"},
            status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
            starts_at=episode.wall_start,
            ends_at=wall + SELF_ALERT_VALID if firing else wall,
            annotations={
                "summary": summary,
                "loop_lag_seconds": f"{episode.worst_loop_lag:.3f}",
                "start_lag_seconds": f"{episode.worst_start_lag:.3f}",
                "withheld_results": str(episode.withheld),
                "late_runs": str(episode.late),
            },
            source="watchd",
        )
        try:
            await self._sink.submit((alert,))
        except Exception as exc:  # the BufferedSink keeps alerts; another sink may raise
            log.error("self_alert_not_submitted", alertname=ALERTNAME, error=str(exc))


def _lag(seconds: float) -> str:
    """A lag for people: "350 ms", "2.4 s" (format_duration rounds to whole seconds)."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"
