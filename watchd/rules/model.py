"""Rule value types: thresholds, label matchers, windows, forecasts, the rule and the rule set.

Everything here is frozen; the engine keeps per-series state elsewhere (watchd.rules.state).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchd.flap import FlapPolicy
from watchd.matchers import Matcher

OK, WARNING, CRITICAL = 0, 1, 2
SEVERITIES = {"warning": WARNING, "critical": CRITICAL}
SEVERITY_NAMES = {WARNING: "warning", CRITICAL: "critical"}

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True, slots=True)
class Threshold:
    """A comparison such as `> 80`: `test(value)` says whether the value meets it."""

    op: str
    value: float
    fn: Callable[[float, float], bool] = field(compare=False, repr=False)

    def test(self, value: float) -> bool:
        return self.fn(value, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


MATCH_OPS = ("=", "!=", "=~", "!~")


WINDOW_FUNCTIONS = ("avg", "min", "max", "last", "sum", "count", "rate", "delta", "percentile")
COUNTER_FUNCTIONS = ("rate", "delta")


@dataclass(frozen=True, slots=True)
class Join:
    """The latest value of another metric with the same item and the same `join_on` labels.

    Used by `over.divide_by` (a ratio: value / (joined * factor), e.g. interface utilisation)
    and by `require` (evaluate only while the joined value meets `condition`).
    """

    metric: str
    join_on: tuple[str, ...] = ()
    factor: float = 1.0
    condition: Threshold | None = None

    def key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        get = labels.get
        if len(self.join_on) == 1:
            # The shipped rules' case (join_on: [ifIndex]), read for every interface sample:
            # without the generator, a third of the time.
            return (get("item", ""), get(self.join_on[0], ""))
        return (get("item", ""), *(get(name, "") for name in self.join_on))


@dataclass(frozen=True, slots=True)
class Over:
    """An aggregate of the series over a trailing window: `fn` over the last `window` seconds."""

    window: float
    fn: str
    q: float = 0.0
    counter_bits: int | None = None
    reset_metric: str = "sys_uptime_seconds"
    divide_by: Join | None = None


@dataclass(frozen=True, slots=True)
class Forecast:
    """A least-squares line over `window`; fires when it meets a threshold within `horizon`.

    No line is drawn before the samples span `min_span` (half the window unless set): a trend
    of a few minutes says nothing about the next week.
    """

    window: float
    horizon: float
    min_samples: int = 3
    min_span: float = 0.0


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """One named rule as loaded: what it watches, when it fires, and how the alert reads.

    `levels` holds (level, threshold) pairs, critical first. `digest` is a hash of the rule's
    definition: equal digests mean the same rule, so its state survives a reload.
    """

    name: str
    metric: str
    file: Path
    line: int
    digest: str
    matchers: tuple[Matcher, ...] = ()
    levels: tuple[tuple[int, Threshold], ...] = ()
    clear: Threshold | None = None
    for_: float = 0.0
    attempts: int = 0
    recover_after: float = 0.0
    over: Over | None = None
    absent: float | None = None
    absent_severity: int = WARNING
    forecast: Forecast | None = None
    require: Join | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, Any] = field(default_factory=dict)  # name -> compiled template
    annotation_sources: Mapping[str, str] = field(default_factory=dict)
    flap: FlapPolicy | None = None
    # The Markdown file named by `runbook:` (served at /runbooks/...), None for a URL or none.
    runbook_file: Path | None = None

    @property
    def plain(self) -> bool:
        """A threshold on the sample's own value: the engine's fast path."""
        return (
            self.over is None
            and self.forecast is None
            and self.absent is None
            and (self.require is None)
        )

    @property
    def lowest_level(self) -> int:
        return min((level for level, _ in self.levels), default=self.absent_severity)

    def threshold(self, level: int) -> Threshold | None:
        for lvl, threshold in self.levels:
            if lvl == level:
                return threshold
        return None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """One problem in a rule file: where, which rule, what is wrong; `level` error or warning."""

    file: Path | str
    line: int
    rule: str
    message: str
    level: str = "error"

    @property
    def is_error(self) -> bool:
        return self.level == "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else f"{self.file}"
        text = self.message if self.is_error else f"warning: {self.message}"
        if self.rule:
            return f'{where}: rule "{self.rule}": {text}'
        return f"{where}: {text}"


class RuleError(Exception):
    """Rule files have errors; `problems` lists every one of them (warnings included)."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.is_error]
        lines = "\n".join(str(p) for p in errors)
        super().__init__(f"{len(errors)} error(s) in rule files:\n{lines}")


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Loaded rules, indexed by metric name, plus the warnings found while loading."""

    rules: tuple[Rule, ...] = ()
    warnings: tuple[RuleProblem, ...] = ()

    def by_name(self) -> dict[str, Rule]:
        return {rule.name: rule for rule in self.rules}

    def metrics(self) -> set[str]:
        return {rule.metric for rule in self.rules}
