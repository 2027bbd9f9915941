"""`watchd test-rules`: rule unit tests in YAML, run against a simulated clock.

    rule_files: [host.yaml]            # relative to the test file
    evaluation_interval: 1m            # how often evaluate() runs (default 1m)
    tests:
      - name: disk fills up
        interval: 1m                   # time between input values (default: evaluation_interval)
        input_series:
          - metric: disk_used_percent
            labels: {item: web1, check: local, mount: /}
            values: "50 60 70+10x3 _ 99x5"  # a+bxn: n+1 values from a by b; _ skips a step
        alert_tests:
          - at: 10m
            alertname: DiskFull        # optional: compare only this rule's alerts
            alerts:
              - labels: {alertname: DiskFull, severity: critical, item: web1, ...}
                annotations: {summary: ...}   # optional: compared when given

Time starts at 0 (1970-01-01 UTC). At every time step the samples of that time are observed,
then evaluate() runs; at each `at` the alerts firing then are compared with the expected ones,
labels exactly and annotations when given.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchd.durations import format_duration, parse_duration
from watchd.model import Alert, Sample
from watchd.rules.engine import RuleEngine
from watchd.rules.loader import load_rules
from watchd.rules.model import RuleError
from watchd.rules.yamlsrc import LineDict, YamlSyntaxError, load_yaml

_TERM = re.compile(
    r"^(?:(_)|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|nan))"
    r"(?:([-+])((?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))?(?:x(\d+))?$",
    re.IGNORECASE,
)


class _StepClock:
    """A clock the test runner sets by hand (the engine only reads `now`)."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        raise RuntimeError("the rule test clock does not sleep")

    async def sleep_unless_set(self, seconds: float, event: asyncio.Event) -> None:
        raise RuntimeError("the rule test clock does not sleep")


class TestFileError(Exception):
    """A rule test file is malformed; the message says where and what."""


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One test case: its name, where it is, and its failures (empty when it passed)."""

    file: Path
    name: str
    failures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True, slots=True)
class RuleTestReport:
    """All test cases run; `ok` when every one passed and every file could be read."""

    cases: tuple[CaseResult, ...] = ()
    errors: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.errors and all(case.ok for case in self.cases)

    @property
    def text(self) -> str:
        lines = list(self.errors)
        for case in self.cases:
            lines.append(f"{'PASS' if case.ok else 'FAIL'} {case.file}: {case.name}")
            lines.extend(f"  {line}" for failure in case.failures for line in failure.splitlines())
        passed = sum(case.ok for case in self.cases)
        lines.append(
            f"{passed}/{len(self.cases)} rule tests passed, {len(self.errors)} file error(s)"
        )
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        """What `watchd test-rules --json` prints: every case with its failures, file errors."""
        return {
            "ok": self.ok,
            "passed": sum(case.ok for case in self.cases),
            "cases": [
                {"file": str(c.file), "name": c.name, "ok": c.ok, "failures": list(c.failures)}
                for c in self.cases
            ],
            "errors": list(self.errors),
        }


def expand_values(spec: Any) -> list[float | None]:
    """Values in promtool's notation ("1+2x3" is 1 3 5 7, "_x2" skips three steps) or a list."""
    if isinstance(spec, list):
        return [None if v is None else float(v) for v in spec]
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return [float(spec)]
    if not isinstance(spec, str):
        raise ValueError(f"expected values as a string like '1+1x5' or a list, got {spec!r}")
    out: list[float | None] = []
    for term in spec.split():
        match = _TERM.match(term)
        if match is None:
            raise ValueError(f"expected a value term like 5, 1+2x3, 7x4 or _, got {term!r}")
        skip, start, sign, step, times = match.groups()
        repeat = int(times) if times else 0
        if skip:
            out.extend([None] * (repeat + 1))
            continue
        base = float(start)
        delta = float(step) * (-1 if sign == "-" else 1) if step else 0.0
        out.extend(base + delta * i for i in range(repeat + 1))
    return out


def run_rule_tests(paths: Sequence[Path]) -> RuleTestReport:
    """Run every test case of every file; failures carry a readable diff of expected and got."""
    cases: list[CaseResult] = []
    errors: list[str] = []
    for path in paths:
        try:
            cases.extend(_run_file(path))
        except TestFileError as exc:
            errors.append(str(exc))
    return RuleTestReport(cases=tuple(cases), errors=tuple(errors))


def _mapping(value: Any, path: Path, line: int, allowed: Sequence[str]) -> LineDict:
    if not isinstance(value, LineDict):
        raise TestFileError(f"{path}:{line}: expected a mapping, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise TestFileError(f'{path}:{value.line_of(key)}: unknown field "{key}"{hint}')
    return value


def _seconds(value: Any, where: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise TestFileError(f"{where}: {exc}") from exc


def _run_file(path: Path) -> list[CaseResult]:
    try:
        document = load_yaml(path.read_text())
    except OSError as exc:
        raise TestFileError(f"{path}: cannot read the test file: {exc.strerror or exc}") from exc
    except YamlSyntaxError as exc:
        raise TestFileError(f"{path}:{exc.line}: {exc.message}") from exc
    top = _mapping(document, path, 1, ("rule_files", "evaluation_interval", "tests"))
    files = top.get("rule_files")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise TestFileError(
            f"{path}:{top.line_of('rule_files')}: expected 'rule_files', a list of paths"
        )
    try:
        rules = load_rules([path.parent / f for f in files])
    except RuleError as exc:
        raise TestFileError(f"{path}: the rule files under test have errors:\n{exc}") from exc
    interval = _seconds(
        top.get("evaluation_interval", "1m"), f"{path}:{top.line_of('evaluation_interval')}"
    )
    if interval <= 0:
        raise TestFileError(f"{path}: evaluation_interval must be above zero")
    tests = top.get("tests")
    if not isinstance(tests, list):
        raise TestFileError(
            f"{path}:{top.line_of('tests')}: expected 'tests', a list of test cases"
        )
    results = []
    for index, test in enumerate(tests):
        node = _mapping(
            test,
            path,
            top.line_of("tests"),
            ("name", "interval", "input_series", "alert_tests"),
        )
        name = str(node.get("name", f"test #{index + 1}"))
        results.append(CaseResult(path, name, tuple(_run_case(path, node, rules, interval))))
    return results


def _run_case(path: Path, node: LineDict, rules: Any, eval_interval: float) -> list[str]:
    where = f"{path}:{node.line}"
    step = _seconds(node.get("interval", eval_interval), where)
    samples: dict[float, list[Sample]] = {}
    for series in node.get("input_series") or []:
        s = _mapping(series, path, node.line, ("metric", "labels", "values"))
        labels = s.get("labels") or {}
        try:
            values = expand_values(s.get("values", ""))
        except ValueError as exc:
            raise TestFileError(f"{path}:{s.line_of('values')}: {exc}") from exc
        for i, value in enumerate(values):
            if value is not None:
                t = i * step
                sample = Sample(
                    str(s.get("metric")), value, {str(k): str(v) for k, v in labels.items()}, t
                )
                samples.setdefault(t, []).append(sample)
    checks: dict[float, list[LineDict]] = {}
    for check in node.get("alert_tests") or []:
        c = _mapping(check, path, node.line, ("at", "alertname", "alerts"))
        checks.setdefault(_seconds(c.get("at", 0), f"{path}:{c.line}"), []).append(c)
    end = max([*samples, *checks, 0.0])
    times = sorted(
        {*samples, *checks, *(i * eval_interval for i in range(int(end // eval_interval) + 1))}
    )
    clock = _StepClock()
    engine = RuleEngine(rules, clock=clock)
    failures: list[str] = []
    for t in times:
        clock.t = t
        engine.observe(samples.get(t, []))
        engine.evaluate()
        for check in checks.get(t, []):
            failure = _compare(check, engine.active_alerts(), t)
            if failure:
                failures.append(failure)
    return failures


def _compare(check: LineDict, active: list[Alert], t: float) -> str:
    alertname = check.get("alertname")
    got = [a for a in active if alertname is None or a.name == alertname]
    expected = check.get("alerts") or []
    unmatched = list(got)
    expected_lines, got_lines = [], []
    for exp in expected:
        labels = {str(k): str(v) for k, v in (exp.get("labels") or {}).items()}
        annotations = exp.get("annotations")
        expected_lines.append(_line(labels, annotations))
        match = next((a for a in unmatched if dict(a.labels) == labels), None)
        if match is None:
            continue
        unmatched.remove(match)
        got_lines.append(
            _line(dict(match.labels), dict(match.annotations) if annotations is not None else None)
        )
    got_lines.extend(_line(dict(a.labels), dict(a.annotations)) for a in unmatched)
    if sorted(expected_lines) == sorted(got_lines):
        return ""
    diff = difflib.unified_diff(
        sorted(expected_lines), sorted(got_lines), "expected", "got", lineterm="", n=10
    )
    what = f" for alertname {alertname}" if alertname else ""
    return (
        f"at {format_duration(t) if t else '0s'}{what} (line {check.line}): alerts differ\n"
        + "\n".join(diff)
    )


def _line(labels: dict[str, str], annotations: Any) -> str:
    text = json.dumps(dict(sorted(labels.items())), ensure_ascii=False)
    if annotations is not None:
        notes = {str(k): str(v) for k, v in dict(annotations).items()}
        text += " annotations " + json.dumps(dict(sorted(notes.items())), ensure_ascii=False)
    return text
