"""Loading a scenario file: YAML with lines, the strict format (watchd.paging.format), its
config (watchd.paging.inline), then what no single model sees, each problem on its line:

    steps that go back in time · result targets that name no enabled check · posted alerts
    the ingestion API would refuse · silences expired before they exist · changes and windows
    on unknown items · expected notifications for receivers the config does not have

The result is a Scenario: its Setup and its steps as actions at absolute times.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from watchd.configbase import Strict
from watchd.durations import format_duration, parse_duration
from watchd.ingest.payloads import PayloadError, parse_any
from watchd.loading import Setup
from watchd.maintenance import MaintenanceWindow
from watchd.model import CheckResult, Sample, Status
from watchd.paging import braces, format
from watchd.paging.format import Expect, ScenarioFile, Step
from watchd.paging.inline import file_setup, inline_setup
from watchd.paging.where import Problem, ScenarioError, line_at, problems_of, relined
from watchd.rules.yamlsrc import LineDict, LineList, YamlSyntaxError, load_yaml

MODELS: tuple[type[BaseModel], ...] = tuple(
    m for m in vars(format).values() if isinstance(m, type) and issubclass(m, Strict)
)
TIME_FIELDS = ("startsAt", "endsAt", "time")  # posted alerts' times may be durations since start


@dataclass(frozen=True, slots=True)
class SetResults:
    """Checks return these results from now on, in turn (one run each, round and round)."""

    results: Mapping[tuple[str, str], tuple[CheckResult, ...]]


@dataclass(frozen=True, slots=True)
class Post:
    """Alerts posted as the ingestion API takes them (times already absolute)."""

    payloads: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class AddSilence:
    name: str
    matchers: tuple[str, ...]
    starts_at: float
    ends_at: float
    by: str
    comment: str


@dataclass(frozen=True, slots=True)
class ExpireSilence:
    name: str


@dataclass(frozen=True, slots=True)
class AddChange:
    item: str
    summary: str
    starts_at: float
    ends_at: float
    ticket: str
    by: str


@dataclass(frozen=True, slots=True)
class AddWindow:
    """A maintenance window added to the config, applied as a reload does."""

    window: MaintenanceWindow


@dataclass(frozen=True, slots=True)
class Overload:
    """watchd's event loop is `lag` seconds behind from now, for `for_` seconds or until the
    next Overload."""

    lag: float
    for_: float | None


@dataclass(frozen=True, slots=True)
class Act:
    """ack, unack, resolve, close or comment on an incident (by id, or its item's newest)."""

    verb: str
    incident: int | None
    item: str | None
    by: str
    comment: str


@dataclass(frozen=True, slots=True)
class UseAckLink:
    """The ack link `receiver` got last for `incident`, used (with `name` typed on its page)."""

    receiver: str
    incident: int
    name: str


Action = (
    SetResults
    | Post
    | AddSilence
    | ExpireSilence
    | AddChange
    | AddWindow
    | Overload
    | Act
    | UseAckLink
)


@dataclass(frozen=True, slots=True)
class Timed:
    """An action at `at` seconds since the start, from the step on `line`."""

    at: float
    line: int
    action: Action


@dataclass(frozen=True, slots=True)
class Scenario:
    path: Path
    name: str
    start: float  # epoch seconds of time 0
    setup: Setup
    steps: tuple[Timed, ...]
    end: float  # seconds since start at which the run stops
    expect: Expect


def load_scenario(path: Path, config: Path | None = None) -> Scenario:
    """Read and check a scenario file; ScenarioError lists every problem with its line.

    `config` (-c) is used when the scenario has no inline `config`.
    """
    tree = _read(path)
    problems = list(_duplicates(path, tree))
    tree = _one_line_forms(path, tree, problems)
    setup: Setup | None = None
    try:
        if isinstance(tree.get("config"), dict):
            setup = inline_setup(path, tree)
        elif "config" not in tree:
            setup = file_setup(path, config)
    except ScenarioError as exc:
        problems += exc.problems
    try:
        model = ScenarioFile.model_validate(tree)
    except ValidationError as exc:
        raise ScenarioError([*problems, *problems_of(path, tree, exc, MODELS)]) from exc
    if setup is None or problems:
        raise ScenarioError(problems)
    checker = _Checker(path, tree, model, setup)
    steps = tuple(checker.steps())
    checker.expectations()
    if checker.problems:
        raise ScenarioError(checker.problems)
    return Scenario(
        path=path,
        name=model.name or path.stem,
        start=model.start.timestamp(),
        setup=setup,
        steps=steps,
        end=checker.end,
        expect=model.expect,
    )


def _read(path: Path) -> LineDict:
    try:
        tree = load_yaml(path.read_text())
    except OSError as exc:
        raise ScenarioError([Problem(path, 0, f"cannot read: {exc.strerror or exc}")]) from exc
    except YamlSyntaxError as exc:
        raise ScenarioError([Problem(path, exc.line, exc.message)]) from exc
    if not isinstance(tree, LineDict):
        found = "nothing" if tree is None else type(tree).__name__
        message = f"expected a mapping with 'steps' and 'expect', got {found}"
        raise ScenarioError([Problem(path, 1, message)])
    return tree


def _duplicates(path: Path, node: Any) -> Iterator[Problem]:
    if isinstance(node, LineDict):
        for key, line in node.duplicates:
            yield Problem(path, line, f'"{key}" is given twice (expected each key once)')
        for value in node.values():
            yield from _duplicates(path, value)
    elif isinstance(node, list):
        for value in node:
            yield from _duplicates(path, value)


def _one_line_forms(path: Path, tree: LineDict, problems: list[Problem]) -> LineDict:
    """`tree` with the one-line expectations (brace patterns expanded) turned into mappings."""
    expect = tree.get("expect")
    if not isinstance(expect, LineDict):
        return tree
    parsers = {"notifications": format.notification_fields, "incidents": format.incident_fields}
    new_expect = relined(expect, dict(expect))
    for key, parse in parsers.items():
        entries = expect.get(key)
        if not isinstance(entries, LineList):
            continue
        values: list[Any] = []
        lines: list[int] = []
        for i, entry in enumerate(entries):
            texts = [entry]
            try:
                if isinstance(entry, str):
                    texts = [parse(text) for text in braces.expand(entry)]
            except ValueError as exc:
                problems.append(Problem(path, entries.line_of(i), f"expect.{key}[{i}]: {exc}"))
                continue
            values += texts
            lines += [entries.line_of(i)] * len(texts)
        parsed = LineList(values)
        parsed.line, parsed.lines = entries.line, lines
        new_expect[key] = parsed
    new_tree = relined(tree, {**tree, "expect": new_expect})
    assert isinstance(new_tree, LineDict)
    return new_tree


class _Checker:
    """The checks across models, turning valid steps into timed actions."""

    def __init__(self, path: Path, tree: LineDict, model: ScenarioFile, setup: Setup) -> None:
        self.path = path
        self.tree = tree
        self.model = model
        self.setup = setup
        self.start = model.start.timestamp()
        self.checks = {c.key for c in setup.config.checks()}
        self.items = {i.name for i in setup.config.items}
        self.problems: list[Problem] = []
        self.end = 0.0

    def problem(self, loc: list[int | str], message: str) -> None:
        self.problems.append(Problem(self.path, line_at(self.tree, loc), message))

    def steps(self) -> Iterator[Timed]:
        now = 0.0
        silences: set[str] = set()
        for i, step in enumerate(self.model.steps):
            loc: list[int | str] = ["steps", i]
            if step.at is not None:
                if step.at < now:
                    self.problem(
                        [*loc, "at"],
                        f"steps[{i}].at: {_t(step.at)} is before the step above ({_t(now)}); "
                        "expected steps in time order",
                    )
                now = max(now, step.at)
            if step.advance is not None:
                now += step.advance
                continue
            action = self.action(step, now, [*loc, step.action], silences)
            if action is not None:
                yield Timed(now, line_at(self.tree, loc), action)
        self.end = now

    def action(
        self, step: Step, now: float, loc: list[int | str], silences: set[str]
    ) -> Action | None:
        where = f"steps[{loc[1]}].{step.action}"
        if step.results is not None:
            return self.results(step.results, loc, where)
        if step.post is not None:
            return self.post(step.post, now, loc, where)
        if step.silence is not None:
            spec = step.silence
            starts, ends = self.span(spec, now, loc, where)
            if spec.name:
                silences.add(spec.name)
            by, comment = spec.by, spec.comment
            return AddSilence(spec.name, tuple(spec.matchers), starts, ends, by, comment)
        if step.expire_silence is not None:
            if step.expire_silence not in silences:
                known = ", ".join(sorted(silences)) or "none yet"
                self.problem(
                    loc,
                    f'{where}: no silence named "{step.expire_silence}" was added before '
                    f"(expected the name of an earlier silence step: {known})",
                )
            return ExpireSilence(step.expire_silence)
        if step.change is not None:
            change = step.change
            self.known_items([change.item], [*loc, "item"], f"{where}.item")
            starts, ends = self.span(change, now, loc, where)
            return AddChange(change.item, change.summary, starts, ends, change.ticket, change.by)
        if step.maintenance is not None:
            return self.window(step, now, loc, where)
        if step.overload is not None:
            return Overload(step.overload.lag, step.overload.for_)
        if step.ack_link is not None:
            return self.ack_link(step.ack_link, loc, where)
        verb = step.action
        act = getattr(step, verb)
        return Act(verb, act.incident, act.item, act.by, act.comment)

    def ack_link(self, spec: format.AckLinkSpec, loc: list[int | str], where: str) -> UseAckLink:
        receivers = [r.name for r in self.setup.config.receivers]
        if spec.receiver not in receivers:
            self.problem(
                [*loc, "receiver"],
                f'{where}.receiver: no receiver "{spec.receiver}" in the config '
                f"(expected one of: {', '.join(receivers)})",
            )
        if self.setup.config.notify.ack_links is None:
            self.problem(
                loc, f"{where}: the config has no [notify.ack_links], so no links are sent"
            )
        return UseAckLink(spec.receiver, spec.incident, spec.name)

    def results(
        self, results: Mapping[str, format.ResultSpec], loc: list[int | str], where: str
    ) -> SetResults:
        found: dict[tuple[str, str], tuple[CheckResult, ...]] = {}
        for target, spec in results.items():
            result = tuple(_check_result(run) for run in spec.runs())
            for name in self.expanded(target, [*loc, target], where):
                item, sep, check = name.partition("/")
                if not sep:
                    self.problem([*loc, target], f'{where}: expected ITEM/CHECK, got "{name}"')
                elif (item, check) not in self.checks:
                    example = "/".join(next(iter(sorted(self.checks)), ("web1", "ping")))
                    self.problem(
                        [*loc, target],
                        f'{where}: no enabled check "{name}" in the config '
                        f'(expected ITEM/CHECK of one, e.g. "{example}")',
                    )
                else:
                    found[(item, check)] = result
        return SetResults(found)

    def post(
        self, entries: list[dict[str, Any]], now: float, loc: list[int | str], where: str
    ) -> Post:
        payloads: list[dict[str, Any]] = []
        timeout = self.setup.config.incidents.resolve_timeout
        for i, entry in enumerate(entries):
            try:
                expanded = [
                    braces.substitute_all(entry, b) for b in braces.bindings(braces.patterns(entry))
                ]
            except braces.BraceError as exc:
                self.problem([*loc, i], f"{where}[{i}]: {exc}")
                continue
            for payload in expanded:
                payload = {k: self.absolute(k, v) for k, v in payload.items()}
                try:
                    parse_any(payload, now=self.start + now, resolve_timeout=timeout)
                except PayloadError as exc:
                    for text in exc.problems:
                        self.problem([*loc, i], f"{where}[{i}]: {text}")
                    break
                payloads.append(payload)
        return Post(tuple(payloads))

    def absolute(self, key: str, value: Any) -> Any:
        """A posted alert's time written as a duration since start (or a YAML timestamp) in
        the form the ingestion API takes."""
        if isinstance(value, dt.datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            return moment.isoformat().replace("+00:00", "Z")
        if key not in TIME_FIELDS or not isinstance(value, str | int | float):
            return value
        try:
            seconds = self.start + parse_duration(value)
        except ValueError:
            return value  # RFC 3339 text: the ingestion parser judges it
        if key == "time":
            return seconds
        return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")

    def window(self, step: Step, now: float, loc: list[int | str], where: str) -> AddWindow | None:
        spec = step.maintenance
        assert spec is not None
        items = [name for entry in spec.items for name in self.expanded(entry, loc, where)]
        self.known_items(items, [*loc, "items"], f"{where}.items")
        starts, ends = self.span(spec, now, loc, where)
        try:
            window = MaintenanceWindow(
                name=spec.name,
                items=items,
                matchers=spec.matchers,
                start=dt.datetime.fromtimestamp(starts, dt.UTC),
                end=dt.datetime.fromtimestamp(ends, dt.UTC),
            )
        except ValidationError as exc:
            self.problems += problems_of(self.path, self.tree, exc, MODELS, loc)
            return None
        return AddWindow(window)

    def span(
        self, spec: format.Span, now: float, loc: list[int | str], where: str
    ) -> tuple[float, float]:
        starts, ends = spec.times(now)
        if ends <= starts:
            self.problem(loc, f"{where}: ends at {_t(ends)}, not after it starts ({_t(starts)})")
        return self.start + starts, self.start + ends

    def known_items(self, names: list[str], loc: list[int | str], where: str) -> None:
        for name in names:
            if name not in self.items:
                self.problem(
                    loc, f'{where}: unknown item "{name}" (expected an item of the config)'
                )

    def expanded(self, text: str, loc: list[int | str], where: str) -> list[str]:
        try:
            return braces.expand(text)
        except braces.BraceError as exc:
            self.problem(loc, f"{where}: {exc}")
            return []

    def expectations(self) -> None:
        receivers = [r.name for r in self.setup.config.receivers]
        for i, note in enumerate(self.model.expect.notifications):
            if note.receiver not in receivers:
                self.problem(
                    ["expect", "notifications", i],
                    f'expect.notifications[{i}]: no receiver "{note.receiver}" in the config '
                    f"(expected one of: {', '.join(receivers)})",
                )


def _check_result(spec: format.RunResult) -> CheckResult:
    return CheckResult(
        Status[spec.status],
        spec.message or f"{spec.status} (scenario)",
        tuple(Sample(s.metric, s.value, dict(s.labels)) for s in spec.samples),
    )


def _t(seconds: float) -> str:
    return format_duration(seconds) if seconds else "0s"
