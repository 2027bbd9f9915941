"""Nagios-style flap detection, shared by check states and rule states (DESIGN.md §4).

The last 21 states are kept; each of the 20 transitions between neighbours is weighted
linearly from 0.75 (oldest) to 1.25 (newest); the percent change is the weighted sum × 100 / 20.
Flapping starts when the percent reaches `high` and stops when it falls to `low` or below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

HISTORY = 21


@dataclass(frozen=True, slots=True)
class FlapPolicy:
    low: float = 5.0
    high: float = 20.0
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class FlapState:
    """The recent state history (oldest first) and whether the subject is flapping now.

    Frozen, so one instance can stand for many subjects: the empty one and the steady ones
    below are shared (a state and its history per check and rule series took 4.7 MB at
    80,000 rule series, bench/README.md, issue 14)."""

    history: tuple[int, ...] = ()
    flapping: bool = False
    percent: float = 0.0


NO_FLAPS = FlapState()  # nothing recorded yet
# A history of one repeated value (most checks and rule series, most of the time) by itself:
# its state when not flapping, shared, as is its history tuple when flapping.
_STEADY: dict[tuple[int, ...], FlapState] = {(): NO_FLAPS}


def flap_state(history: tuple[int, ...], flapping: bool, percent: float) -> FlapState:
    """A flap state of these fields: a shared instance when there is one (as restored)."""
    if not history or history.count(history[0]) == len(history):
        shared = _STEADY.get(history)
        if shared is None:
            shared = _STEADY[history] = FlapState(history)
        if not flapping and percent == 0.0:
            return shared
        history = shared.history
    return FlapState(history, flapping, percent)


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
    # A steady history has no changes to weigh, and a full one is shared (`flap_state`).
    steady = history.count(value) == len(history)
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
    return flap_state(history, flapping, percent), change
