"""Load rule files: parse, validate whole, report every problem as FILE:LINE: rule "NAME": message.

A rule file is a mapping with one key, `rules`, a list of rules (rules/README.md documents each
field). Problems are collected, never raised one at a time, so `watchd check-config` shows them
all; unknown metrics are warnings, everything else stops the load.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import jinja2

from collectors.contract import MetricNames
from watchd.durations import parse_duration
from watchd.flap import FlapPolicy
from watchd.matchers import Matcher, RegexError, compile_regex
from watchd.rules.metrics import SHIPPED_METRICS
from watchd.rules.model import (
    COUNTER_FUNCTIONS,
    CRITICAL,
    MATCH_OPS,
    OPERATORS,
    SEVERITIES,
    WARNING,
    WINDOW_FUNCTIONS,
    Forecast,
    Join,
    Over,
    Rule,
    RuleError,
    RuleProblem,
    RuleSet,
    Threshold,
)
from watchd.rules.templates import compile_template
from watchd.rules.yamlsrc import LineDict, YamlSyntaxError, load_yaml
from watchd.runbooks import RUNBOOK_ANNOTATION, RunbookError, RunbookLinks, runbook_file

FILE_FIELDS = ("rules",)
RULE_FIELDS = (
    "name",
    "metric",
    "match",
    "warn",
    "crit",
    "threshold",
    "severity",
    "clear",
    "for",
    "attempts",
    "recover_after",
    "over",
    "absent",
    "forecast",
    "require",
    "labels",
    "annotations",
    "runbook",
    "flap",
)
OVER_FIELDS = ("window", "fn", "q", "counter_bits", "reset_metric", "divide_by")
DIVIDE_FIELDS = ("metric", "join_on", "factor")
REQUIRE_FIELDS = ("metric", "join_on", "condition")
FORECAST_FIELDS = ("window", "horizon", "min_samples", "min_span")
FLAP_FIELDS = ("low", "high", "enabled")
MATCHER_FIELDS = ("label", "op", "value")
RESERVED_LABELS = ("alertname", "severity")
_THRESHOLD = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Invalid(Exception):
    """One field's value is wrong; the message says what was expected and what was found."""

    def __init__(self, message: str, line: int | None = None) -> None:
        self.message = message
        self.line = line
        super().__init__(message)


class _Collector:
    """Problems found in one file, each with its line and rule."""

    def __init__(
        self, file: Path, known_metrics: MetricNames | None, runbooks: RunbookLinks
    ) -> None:
        self.file = file
        self.known_metrics = known_metrics
        self.runbooks = runbooks
        self.problems: list[RuleProblem] = []

    def add(self, line: int, rule: str, message: str, level: str = "error") -> None:
        self.problems.append(RuleProblem(self.file, line, rule, message, level))

    def unknown_fields(self, node: LineDict, allowed: Sequence[str], rule: str, what: str) -> None:
        for key in node:
            if key in allowed:
                continue
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            self.add(node.line_of(key), rule, f'unknown {what}field "{key}"{hint}')
        for key, line in node.duplicates:
            self.add(line, rule, f'field "{key}" is given twice')


def load_rules(
    paths: Sequence[Path],
    *,
    known_metrics: MetricNames | None = SHIPPED_METRICS,
    runbooks: RunbookLinks | None = None,
) -> RuleSet:
    """Load and validate rule files; raise RuleError listing every problem when any is an error.

    Rule names are unique across all files. Unknown metrics (not in `known_metrics`, by default
    what watchd ships emits; None turns the check off) are warnings, kept in `RuleSet.warnings`.
    `runbooks` names and links Markdown runbooks; by default they are named from each rule
    file's directory and linked without a host (`/runbooks/<name>`), as `watchd test-rules` sees
    them.
    """
    rules, problems = _load(paths, known_metrics, runbooks)
    if any(problem.is_error for problem in problems):
        raise RuleError(problems)
    return RuleSet(rules=tuple(rules), warnings=tuple(problems))


def check_rules(
    paths: Sequence[Path],
    *,
    known_metrics: MetricNames | None = SHIPPED_METRICS,
    runbooks: RunbookLinks | None = None,
) -> list[RuleProblem]:
    """Every problem in the rule files, errors and warnings, in file and line order."""
    return _load(paths, known_metrics, runbooks)[1]


def _load(
    paths: Sequence[Path], known_metrics: MetricNames | None, runbooks: RunbookLinks | None
) -> tuple[list[Rule], list[RuleProblem]]:
    rules: list[Rule] = []
    problems: list[RuleProblem] = []
    first_seen: dict[str, Rule] = {}
    for path in paths:
        found = _Collector(path, known_metrics, runbooks or RunbookLinks(path.parent))
        for rule in _load_file(path, found):
            previous = first_seen.get(rule.name)
            if previous is not None:
                found.add(
                    rule.line,
                    rule.name,
                    f"a rule with this name is already defined at {previous.where}",
                )
                continue
            first_seen[rule.name] = rule
            rules.append(rule)
        problems.extend(sorted(found.problems, key=lambda p: p.line))
    return rules, problems


def _load_file(path: Path, found: _Collector) -> Iterable[Rule]:
    try:
        text = path.read_text()
    except OSError as exc:
        found.add(0, "", f"cannot read the rule file: {exc.strerror or exc}")
        return
    try:
        document = load_yaml(text)
    except YamlSyntaxError as exc:
        found.add(exc.line, "", exc.message)
        return
    if document is None:
        return  # an empty file holds no rules
    if not isinstance(document, LineDict):
        found.add(1, "", f"expected a mapping with a 'rules' list, got {_kind(document)}")
        return
    found.unknown_fields(document, FILE_FIELDS, "", "top-level ")
    entries = document.get("rules", [])
    if not isinstance(entries, list):
        found.add(
            document.line_of("rules"), "", f"expected 'rules' to be a list, got {_kind(entries)}"
        )
        return
    for index, entry in enumerate(entries):
        if not isinstance(entry, LineDict):
            found.add(
                document.line_of("rules"),
                "",
                f"rules[{index}]: expected a mapping, got {_kind(entry)}",
            )
            continue
        rule = _parse_rule(path, entry, found, index)
        if rule is not None:
            yield rule


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


def _parse_rule(path: Path, node: LineDict, found: _Collector, index: int) -> Rule | None:
    raw_name = node.get("name")
    name = raw_name if isinstance(raw_name, str) and raw_name else f"#{index + 1}"
    before = len(found.problems)

    def problem(key: str, message: str) -> None:
        found.add(node.line_of(key), name, message)

    if not isinstance(raw_name, str) or not raw_name.strip():
        problem("name", f"expected a non-empty string 'name', got {_kind(raw_name)}")
    found.unknown_fields(node, RULE_FIELDS, name, "")
    metric = node.get("metric")
    if not isinstance(metric, str) or not metric:
        problem("metric", f"expected a non-empty string 'metric', got {_kind(metric)}")
        metric = ""
    elif found.known_metrics is not None and metric not in found.known_metrics:
        close = difflib.get_close_matches(metric, sorted(found.known_metrics.names), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        found.add(node.line_of("metric"), name, f'unknown metric "{metric}"{hint}', "warning")

    def field(key: str, parse: Any, *args: Any) -> Any:
        if key not in node:
            return None
        try:
            return parse(node[key], *args)
        except _Invalid as exc:
            found.add(exc.line or node.line_of(key), name, f"{key}: {exc.message}")
        return None

    matchers = field("match", _parse_matchers) or ()
    warn = field("warn", _parse_threshold)
    crit = field("crit", _parse_threshold)
    threshold = field("threshold", _parse_threshold)
    severity = field("severity", _parse_severity)
    clear = field("clear", _parse_threshold)
    for_ = field("for", _parse_duration)
    attempts = field("attempts", _parse_int, 1)
    recover_after = field("recover_after", _parse_duration)
    over = field("over", _parse_over)
    absent = field("absent", _parse_duration)
    forecast = field("forecast", _parse_forecast)
    require = field("require", _parse_require)
    labels = field("labels", _parse_labels) or {}
    annotations: tuple[dict[str, Any], dict[str, str]] = field(
        "annotations", _parse_annotations
    ) or ({}, {})
    flap = field("flap", _parse_flap)
    runbook = field("runbook", _parse_runbook, path.parent, found.runbooks)
    if runbook is not None:
        if RUNBOOK_ANNOTATION in annotations[0]:
            problem(
                "runbook",
                f"give the runbook either as 'runbook' or as the annotation "
                f"'{RUNBOOK_ANNOTATION}', not both",
            )
        url = runbook[0]
        # Raw: a URL holding "{{" is text, not a template.
        annotations[0][RUNBOOK_ANNOTATION] = compile_template(f"{{% raw %}}{url}{{% endraw %}}")
        annotations[1][RUNBOOK_ANNOTATION] = url

    has = {key for key in RULE_FIELDS if key in node}
    if "threshold" in has and has & {"warn", "crit"}:
        problem("threshold", "use either 'threshold' (with 'severity') or 'warn'/'crit', not both")
    if "severity" in has and not has & {"threshold", "absent"}:
        problem(
            "severity", "'severity' goes with 'threshold' or 'absent'; 'warn'/'crit' name theirs"
        )
    if "for" in has and "attempts" in has:
        problem("attempts", "use either 'for' (a duration) or 'attempts' (a count), not both")
    if "absent" in has:
        for other in sorted(
            has
            & {
                "warn",
                "crit",
                "threshold",
                "clear",
                "over",
                "forecast",
                "for",
                "attempts",
                "require",
            }
        ):
            problem(other, f"'{other}' does not apply to an 'absent' rule")
    elif not has & {"warn", "crit", "threshold"}:
        found.add(node.line, name, "expected a condition: 'warn', 'crit', 'threshold' or 'absent'")
    if "forecast" in has:
        if "over" in has:
            problem("over", "'over' does not apply to a 'forecast' rule (it fits raw samples)")
        if "clear" in has:
            problem("clear", "'clear' does not apply to a 'forecast' rule")
        for key, value in (("warn", warn), ("crit", crit), ("threshold", threshold)):
            if value is not None and value.op in ("==", "!="):
                problem(
                    key, f"a forecast needs an ordering threshold (>, >=, <, <=), got '{value.op}'"
                )
    if "clear" in has and not has & {"warn", "crit", "threshold"}:
        problem("clear", "'clear' needs a threshold to clear from")

    if len(found.problems) > before and any(p.is_error for p in found.problems[before:]):
        return None
    levels: list[tuple[int, Threshold]] = []
    if crit is not None:
        levels.append((CRITICAL, crit))
    if warn is not None:
        levels.append((WARNING, warn))
    if threshold is not None:
        levels.append((severity or WARNING, threshold))
    return Rule(
        name=name,
        metric=metric,
        file=path,
        line=node.line,
        digest=_digest(node),
        matchers=tuple(matchers),
        levels=tuple(levels),
        clear=clear,
        for_=for_ or 0.0,
        attempts=attempts or 0,
        recover_after=recover_after or 0.0,
        over=over,
        absent=absent,
        absent_severity=severity or WARNING,
        forecast=forecast,
        require=require,
        labels=labels,
        annotations=annotations[0],
        annotation_sources=annotations[1],
        flap=flap,
        runbook_file=runbook[1] if runbook is not None else None,
    )


def _parse_runbook(value: Any, base: Path, links: RunbookLinks) -> tuple[str, Path | None]:
    """A rule's `runbook`: its runbook_url and the Markdown file it names (None for a URL)."""
    if not isinstance(value, str):
        raise _Invalid(f"expected a URL or a Markdown file path, got {_kind(value)}")
    try:
        path = runbook_file(value, base)
    except RunbookError as exc:
        raise _Invalid(exc.reason) from exc
    return (value if path is None else links.link(path)), path


def _digest(node: LineDict) -> str:
    canonical = json.dumps(node, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _parse_threshold(value: Any) -> Threshold:
    text = str(value) if isinstance(value, str) else None
    match = _THRESHOLD.match(text) if text is not None else None
    if match is None:
        raise _Invalid(f'expected a comparison like "> 80" or "<= 0.5", got {value!r}')
    op, number = match.group(1), float(match.group(2))
    return Threshold(op, number, OPERATORS[op])


def _parse_duration(value: Any) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise _Invalid(str(exc)) from exc


def _positive_duration(value: Any) -> float:
    seconds = _parse_duration(value)
    if seconds <= 0:
        raise _Invalid(f"expected a duration above zero, got {value!r}")
    return seconds


def _parse_int(value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _Invalid(f"expected a whole number of at least {minimum}, got {value!r}")
    return value


def _parse_severity(value: Any) -> int:
    if value not in SEVERITIES:
        raise _Invalid(f"expected 'warning' or 'critical', got {value!r}")
    return SEVERITIES[value]


def _check_mapping(value: Any, allowed: Sequence[str], what: str) -> LineDict:
    if not isinstance(value, LineDict):
        raise _Invalid(f"expected a mapping, got {_kind(value)}")
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f' (did you mean "{close[0]}"?)' if close else ""
            raise _Invalid(f'unknown {what} field "{key}"{hint}', value.line_of(key))
    return value


def _parse_matchers(value: Any) -> list[Matcher]:
    """`{label: value}` (value "~re", "!~re", "!=text" or text) or a list of {label, op, value}."""
    matchers: list[Matcher] = []
    if isinstance(value, LineDict):
        for label, spec in value.items():
            if not isinstance(spec, str | int | float) or isinstance(spec, bool):
                raise _Invalid(
                    f'label "{label}": expected a string, got {_kind(spec)}', value.line_of(label)
                )
            text = str(spec)
            op = "="
            for prefix, prefix_op in (("!~", "!~"), ("~", "=~"), ("!=", "!=")):
                if text.startswith(prefix):
                    op, text = prefix_op, text[len(prefix) :]
                    break
            matchers.append(_matcher(str(label), op, text, value.line_of(label)))
    elif isinstance(value, list):
        for item in value:
            entry = _check_mapping(item, MATCHER_FIELDS, "matcher")
            name, kind, pattern = entry.get("label"), entry.get("op", "="), entry.get("value")
            if not isinstance(name, str) or not isinstance(pattern, str):
                raise _Invalid(
                    "expected each matcher to have string 'label' and 'value'", entry.line
                )
            if kind not in MATCH_OPS:
                raise _Invalid(
                    f"expected op one of {', '.join(MATCH_OPS)}, got {kind!r}", entry.line
                )
            matchers.append(_matcher(name, kind, pattern, entry.line))
    else:
        raise _Invalid(
            f"expected a mapping of label: value or a list of matchers, got {_kind(value)}"
        )
    return matchers


def _matcher(label: str, op: str, text: str, line: int) -> Matcher:
    if not _LABEL_NAME.match(label):
        raise _Invalid(f"expected a label name (letters, digits, _), got {label!r}", line)
    if op in ("=~", "!~"):
        try:
            return Matcher(label, op, text, compile_regex(text), anchored=False)
        except RegexError as exc:
            raise _Invalid(f'label "{label}": {exc}', line) from exc
    return Matcher(label, op, text)


def _parse_over(value: Any) -> Over:
    node = _check_mapping(value, OVER_FIELDS, "over")
    if "window" not in node or "fn" not in node:
        raise _Invalid("expected 'window' and 'fn'", node.line)
    window = _field(node, "window", _positive_duration)
    fn = node["fn"]
    if fn not in WINDOW_FUNCTIONS:
        close = difflib.get_close_matches(str(fn), WINDOW_FUNCTIONS, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        raise _Invalid(
            f"fn: expected one of {', '.join(WINDOW_FUNCTIONS)}, got {fn!r}{hint}",
            node.line_of("fn"),
        )
    q: Any = 0.0
    if fn == "percentile":
        q = node.get("q")
        if isinstance(q, bool) or not isinstance(q, int | float) or not 0 < q <= 100:
            raise _Invalid(
                f"q: expected a percentile above 0 and at most 100, got {q!r}", node.line_of("q")
            )
    elif "q" in node:
        raise _Invalid("q: only applies to fn: percentile", node.line_of("q"))
    bits = node.get("counter_bits")
    if bits is not None and bits not in (32, 64):
        raise _Invalid(
            f"counter_bits: expected 32 or 64, got {bits!r}", node.line_of("counter_bits")
        )
    if ("counter_bits" in node or "reset_metric" in node) and fn not in COUNTER_FUNCTIONS:
        key = "counter_bits" if "counter_bits" in node else "reset_metric"
        raise _Invalid(f"{key}: only applies to fn: rate or delta", node.line_of(key))
    reset_metric = node.get("reset_metric", "sys_uptime_seconds")
    if not isinstance(reset_metric, str):
        raise _Invalid(
            f"reset_metric: expected a metric name, got {_kind(reset_metric)}",
            node.line_of("reset_metric"),
        )
    divide_by = _field(node, "divide_by", _parse_divide_by) if "divide_by" in node else None
    return Over(
        window=window,
        fn=fn,
        q=float(q),
        counter_bits=bits,
        reset_metric=reset_metric,
        divide_by=divide_by,
    )


def _join_parts(node: LineDict) -> tuple[str, tuple[str, ...]]:
    metric, join_on = node.get("metric"), node.get("join_on", [])
    if not isinstance(metric, str) or not metric:
        raise _Invalid(f"metric: expected a metric name, got {_kind(metric)}", node.line)
    if not isinstance(join_on, list) or not all(
        isinstance(x, str) and _LABEL_NAME.match(x) for x in join_on
    ):
        raise _Invalid(
            f"join_on: expected a list of label names, got {join_on!r}", node.line_of("join_on")
        )
    return metric, tuple(join_on)


def _parse_divide_by(value: Any) -> Join:
    node = _check_mapping(value, DIVIDE_FIELDS, "divide_by")
    metric, join_on = _join_parts(node)
    factor = node.get("factor", 1.0)
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not factor > 0:
        raise _Invalid(
            f"factor: expected a number above zero, got {factor!r}", node.line_of("factor")
        )
    return Join(metric=metric, join_on=join_on, factor=float(factor))


def _parse_require(value: Any) -> Join:
    node = _check_mapping(value, REQUIRE_FIELDS, "require")
    metric, join_on = _join_parts(node)
    if "condition" not in node:
        raise _Invalid("expected a 'condition' such as \"== 1\"", node.line)
    condition = _field(node, "condition", _parse_threshold)
    return Join(metric=metric, join_on=join_on, condition=condition)


def _field(node: LineDict, key: str, parse: Any) -> Any:
    try:
        return parse(node[key])
    except _Invalid as exc:
        raise _Invalid(f"{key}: {exc.message}", node.line_of(key)) from exc


def _parse_forecast(value: Any) -> Forecast:
    node = _check_mapping(value, FORECAST_FIELDS, "forecast")
    if "window" not in node or "horizon" not in node:
        raise _Invalid("expected 'window' and 'horizon'", node.line)
    window = _field(node, "window", _positive_duration)
    horizon = _field(node, "horizon", _positive_duration)
    min_samples = (
        _field(node, "min_samples", lambda v: _parse_int(v, 2)) if "min_samples" in node else 3
    )
    min_span = _field(node, "min_span", _positive_duration) if "min_span" in node else window / 2
    if min_span > window:
        raise _Invalid("min_span: expected at most the window", node.line_of("min_span"))
    return Forecast(window=window, horizon=horizon, min_samples=min_samples, min_span=min_span)


def _parse_labels(value: Any) -> dict[str, str]:
    if not isinstance(value, LineDict):
        raise _Invalid(f"expected a mapping of label: value, got {_kind(value)}")
    labels: dict[str, str] = {}
    for key, text in value.items():
        line = value.line_of(key)
        if not isinstance(key, str) or not _LABEL_NAME.match(key):
            raise _Invalid(f"expected a label name (letters, digits, _), got {key!r}", line)
        if key in RESERVED_LABELS:
            raise _Invalid(f'label "{key}" is set by the rule itself and cannot be given', line)
        if not isinstance(text, str):
            raise _Invalid(f'label "{key}": expected a string, got {_kind(text)}', line)
        labels[key] = text
    return labels


def _parse_annotations(value: Any) -> tuple[dict[str, jinja2.Template], dict[str, str]]:
    if not isinstance(value, LineDict):
        raise _Invalid(f"expected a mapping of name: template, got {_kind(value)}")
    templates: dict[str, jinja2.Template] = {}
    sources: dict[str, str] = {}
    for key, text in value.items():
        line = value.line_of(key)
        if not isinstance(text, str):
            raise _Invalid(f'annotation "{key}": expected a string, got {_kind(text)}', line)
        try:
            templates[str(key)] = compile_template(text)
        except jinja2.TemplateSyntaxError as exc:
            raise _Invalid(f'annotation "{key}": template error: {exc.message}', line) from exc
        sources[str(key)] = text
    return templates, sources


def _parse_flap(value: Any) -> FlapPolicy:
    if value is False:
        return FlapPolicy(enabled=False)
    node = _check_mapping(value, FLAP_FIELDS, "flap")
    low, high = node.get("low", 5.0), node.get("high", 20.0)
    for key, number in (("low", low), ("high", high)):
        if (
            isinstance(number, bool)
            or not isinstance(number, int | float)
            or not 0 <= number <= 100
        ):
            raise _Invalid(
                f"{key}: expected a percent from 0 to 100, got {number!r}", node.line_of(key)
            )
    if low > high:
        raise _Invalid(f"expected low <= high, got {low} > {high}", node.line)
    enabled = node.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _Invalid(f"enabled: expected true or false, got {enabled!r}", node.line_of("enabled"))
    if math.isnan(float(low)) or math.isnan(float(high)):
        raise _Invalid("expected numbers for low and high", node.line)
    return FlapPolicy(low=float(low), high=float(high), enabled=enabled)
