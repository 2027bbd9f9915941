"""Per rule-series evaluation state, and its JSON form for the store.

One `SeriesState` per (rule, series): the current level, since when each level has held,
consecutive counts for `attempts`, what is firing and what was last sent, flap history and
the recent window. Mutable on purpose: it is touched for every sample (see bench/rules_eval.py),
and never leaves the engine except as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain
from typing import Any

from watchd.flap import NO_FLAPS, flap_state
from watchd.rules.conditions.aggregates import Window
from watchd.rules.conditions.forecast import Fit, fit_line

# No level marked: one shared empty set, where a set per series took 216 bytes (a frozenset,
# replaced, never changed in place, since every series starts with this one).
NO_LEVELS: frozenset[int] = frozenset()

# Since when levels 1 and 2 have held, and for how many consecutive samples (index 0, ok, is
# never read). A series at ok, most of them most of the time, shares these two tuples instead
# of two lists of its own (176 bytes a series); they are replaced, never changed in place.
# A series is known by its labels, sorted, as one flat tuple (name, value, name, value, ...):
# 150 bytes for an interface's six labels, where a frozenset of their pairs took a kilobyte.
SeriesKey = tuple[str, ...]


def series_key(labels: Mapping[str, str]) -> SeriesKey:
    """The key of the series with these labels, whatever their order."""
    return tuple(chain.from_iterable(sorted(labels.items())))


Since = tuple[float | None, float | None, float | None]
Counts = tuple[int, int, int]
NOT_HELD: Since = (None, None, None)
NOT_COUNTED: Counts = (0, 0, 0)


class SeriesState:
    """Where one series stands for one rule. Levels: 0 ok, 1 warning, 2 critical.

    Equal only to itself and hashed by identity (no __eq__, on purpose): the engine keys the
    series it has to save by their states."""

    __slots__ = (
        "below_since",
        "count",
        "emitted",
        "emitted_since",
        "firing",
        "firing_since",
        "fit",
        "flap",
        "flap_last",
        "flap_marked",
        "flap_run",
        "increases",
        "increases_exact_in",
        "labels",
        "last_time",
        "level",
        "placeholder",
        "predicted",
        "since",
        "touched",
        "value",
        "window",
    )

    def __init__(self, labels: Mapping[str, str], *, windowed: bool = False) -> None:
        self.labels = labels
        self.last_time = float("-inf")
        self.value = float("nan")
        self.level = 0
        self.since = NOT_HELD
        self.count = NOT_COUNTED
        self.firing = 0
        self.firing_since: float | None = None
        self.below_since: float | None = None
        self.emitted = 0
        self.emitted_since: float | None = None
        self.flap = NO_FLAPS
        self.flap_last = -1
        # Levels whose alert was sent with the flapping marker: sent again without when it stops.
        # Replaced, never changed in place (see NO_LEVELS).
        self.flap_marked: frozenset[int] = NO_LEVELS
        self.flap_run = 0
        self.placeholder = False
        # Moved (value, window, flap history, prediction) since last exported: saved with the
        # engine's next steady save. A slot, not a dict entry and a tuple per series in the
        # engine (7.6 MB at 80,000 series); the object is 208 bytes with or without it.
        self.touched = False
        self.window: Window | None = Window() if windowed else None
        # The sum of the window's counter increases, kept as points come and go so that a rate
        # is O(1) per sample, not a sum over a window of hundreds of points; summed afresh
        # when `increases_exact_in` runs out (once per window length) so rounding never builds.
        self.increases = 0.0
        self.increases_exact_in = 0
        self.fit: Fit | None = None
        self.predicted: float | None = None

    @property
    def flapping(self) -> bool:
        return self.flap.flapping

    def refit(self) -> None:
        self.fit = fit_line(self.window.times(), self.window.values()) if self.window else None

    def to_json(self, digest: str) -> dict[str, Any]:
        return {
            "digest": digest,
            "labels": dict(self.labels),
            "last_time": self.last_time if self.last_time != float("-inf") else None,
            "value": self.value if self.value == self.value else None,
            "level": self.level,
            "since": list(self.since),
            "count": list(self.count),
            "firing": self.firing,
            "firing_since": self.firing_since,
            "below_since": self.below_since,
            "emitted": self.emitted,
            "emitted_since": self.emitted_since,
            "flap": {
                "history": list(self.flap.history),
                "flapping": self.flap.flapping,
                "percent": self.flap.percent,
                "marked": sorted(self.flap_marked),
            },
            "placeholder": self.placeholder,
            # Flat: t, value, increase, t, value, ... (nested lists until issue 14's session 7).
            "window": self.window.tolist() if self.window is not None else None,
            "predicted": self.predicted,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SeriesState:
        """Rebuild a state saved by `to_json`; KeyError, TypeError or ValueError if malformed."""
        window = data.get("window")
        state = cls(
            {str(k): str(v) for k, v in data["labels"].items()}, windowed=window is not None
        )
        last = data.get("last_time")
        state.last_time = float(last) if last is not None else float("-inf")
        value = data.get("value")
        state.value = float(value) if value is not None else float("nan")
        state.level = int(data["level"])
        since = tuple(_opt_float(x) for x in data["since"])
        count = tuple(int(x) for x in data["count"])
        if len(since) != 3 or len(count) != 3:
            raise ValueError("since and count must have three entries, one per level")
        state.since = NOT_HELD if since == NOT_HELD else since
        state.count = NOT_COUNTED if count == NOT_COUNTED else count
        state.firing = int(data["firing"])
        state.firing_since = _opt_float(data.get("firing_since"))
        state.below_since = _opt_float(data.get("below_since"))
        state.emitted = int(data["emitted"])
        state.emitted_since = _opt_float(data.get("emitted_since"))
        flap = data.get("flap") or {}
        state.flap = flap_state(
            tuple(int(x) for x in flap.get("history", ())),
            bool(flap.get("flapping", False)),
            float(flap.get("percent", 0.0)),
        )
        state.flap_marked = frozenset(int(x) for x in flap.get("marked", ()))
        state.placeholder = bool(data.get("placeholder", False))
        if window is not None and state.window is not None:
            state.window = _window_from_json(window)
            state.refit()
        state.predicted = _opt_float(data.get("predicted"))
        return state


def _window_from_json(saved: list[Any]) -> Window:
    """A window saved flat (t, value, increase, ...) or, by older versions, as [t, v, i] lists."""
    if saved and isinstance(saved[0], list):
        return Window((t, v, i) for t, v, i in saved)
    return Window.from_flat(saved)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
