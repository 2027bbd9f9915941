"""Nagios-style flap detection, shared by check states and rule states (DESIGN.md §4).

The last 21 states are kept; each of the 20 transitions between neighbours is weighted
linearly from 0.75 (oldest) to 1.25 (newest); the percent change is the weighted sum × 100 / 20.
Flapping starts when the percent reaches `high` and stops when it falls to `low` or below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HISTORY = 21
_STEADY: dict[int, tuple[int, ...]] = {}  # value -> the full history of only that value


@dataclass(frozen=True, slots=True)
class FlapPolicy:
    low: float = 5.0
    high: float = 20.0
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class FlapState:
    """The recent state history (oldest first) and whether the subject is flapping now."""

    history: tuple[int, ...] = ()
    flapping: bool = False
    percent: float = 0.0


def percent_state_change(history: Sequence[int]) -> float:
    """The weighted percent of state changes over a history of at most 21 states."""
    recent = list(history)[-HISTORY:]
    total = 0.0
    for i in range(1, len(recent)):
        if recent[i] != recent[i - 1]:
            # Transition i of 20: weight 0.75 for the oldest (i = 1) to 1.25 for the newest (i = 20).
            total += 0.75 + (i - 1) * (0.5 / (HISTORY - 2))
    return total * 100.0 / (HISTORY - 1)


def record(state: FlapState, value: int, policy: FlapPolicy) -> tuple[FlapState, bool | None]:
    """Add one observed state; return the new flap state and the change.

    The change is True when flapping starts, False when it stops, None otherwise.
    """
    history = (*state.history, value)[-HISTORY:]
    # A steady history (most checks and rule series, most of the time) has no changes to weigh,
    # and a full one is the same tuple for every subject in that state: shared, not 200 bytes
    # per check and per rule series.
    steady = history.count(value) == len(history)
    if steady and len(history) == HISTORY:
        history = _STEADY.setdefault(value, history)
    percent = 0.0 if steady else percent_state_change(history)
    flapping = state.flapping
    if policy.enabled:
        if not flapping and percent >= policy.high:
            flapping = True
        elif flapping and percent <= policy.low:
            flapping = False
    else:
        flapping = False
    change = None if flapping == state.flapping else flapping
    return FlapState(history, flapping, percent), change
