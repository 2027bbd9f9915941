"""The route tree (Alertmanager semantics): which receivers hear of an incident event, and with
which grouping timers.

    root ─┬─ route (matchers) ─┬─ child ...        a node matches when its matchers do; the
          │                    └─ child ...        deepest matching children win, else the node
          └─ route (continue=true) ...             itself; `continue` lets later siblings match too

Routes match the labels of the incident's alerts, as Alertmanager routes each alert: a route
hears of an incident when any of its member alerts (firing or resolved: the receivers told of
the opening hear of the resolution) reaches it. Each alert's labels are taken with the
incident's group labels, its current `severity` and its `item` on top; an incident without
member alerts routes on those alone.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from watchd.configbase import ConfigProblem
from watchd.incidents.model import Incident
from watchd.matchers import Matcher, matches_all, parse_matchers
from watchd.notify import intervals
from watchd.notify.config import RouteConfig, TimeInterval

DEFAULT_REPEAT = 4 * 3600.0

LabelSets = tuple[dict[str, str], ...]  # what an incident routes on: one label set per alert


@dataclass(frozen=True, slots=True)
class Route:
    """A route with everything inherited from its parents resolved."""

    path: str
    matchers: tuple[Matcher, ...]
    receivers: tuple[str, ...]
    continue_: bool
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    active: tuple[TimeInterval, ...]
    mute: tuple[TimeInterval, ...]
    children: tuple[Route, ...]

    def group_key(self, labels: Mapping[str, str], incident_key: str) -> str:
        """The notification group of an incident on this route: per incident when `group_by`
        is empty (the incident already groups alerts), else the route and label values."""
        if not self.group_by:
            return f"{self.path}|incident:{incident_key}"
        values = ",".join(f"{name}={labels.get(name, '')}" for name in self.group_by)
        return f"{self.path}|{values}"

    def muted(self, t: float) -> bool:
        return intervals.is_muted(self.active, self.mute, t)

    def unmuted_at(self, t: float) -> float:
        return intervals.next_unmuted(self.active, self.mute, t)


class Router:
    """A compiled route tree; `match` returns the routes an incident's labels end at."""

    def __init__(self, root: Route) -> None:
        self.root = root

    @classmethod
    def from_config(
        cls,
        route: RouteConfig,
        receivers: Sequence[str],
        time_intervals: Sequence[TimeInterval] = (),
    ) -> Router:
        named = {i.name: i for i in time_intervals}
        base = Route(
            path="root",
            matchers=(),
            receivers=tuple(receivers),
            continue_=False,
            group_by=(),
            group_wait=0.0,
            group_interval=0.0,
            repeat_interval=DEFAULT_REPEAT,
            active=(),
            mute=(),
            children=(),
        )
        return cls(_compile(route, base, "root", named))

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes `labels` end at, in tree order (the root when no child matches)."""
        return _match(self.root, labels) or [self.root]

    def routes(self, label_sets: LabelSets) -> list[tuple[Route, dict[str, str]]]:
        """Each route any of `label_sets` ends at, once, with the first label set that
        reached it (its group_by values come from those labels)."""
        found: dict[str, tuple[Route, dict[str, str]]] = {}
        for labels in label_sets:
            for route in self.match(labels):
                found.setdefault(route.path, (route, labels))
        return list(found.values())

    def receivers(self, label_sets: LabelSets) -> list[str]:
        """Receiver names for an incident routed on `label_sets`, each once, in route order."""
        names: dict[str, None] = {}
        for route, _ in self.routes(label_sets):
            names.update(dict.fromkeys(route.receivers))
        return list(names)

    def incident_receivers(
        self, incident: Incident, alert_labels: Iterable[Mapping[str, str]]
    ) -> list[str]:
        """Receiver names for an event on `incident` whose member alerts carry `alert_labels`:
        the selector the incident core is given."""
        return self.receivers(
            routing_labels(incident.group_labels, incident.severity, incident.item, alert_labels)
        )

    def route_for(self, label_sets: LabelSets, receiver: str) -> tuple[Route, dict[str, str]]:
        """The first route reached that notifies `receiver`, with the labels that reached it
        (the root when none does: the row was written under an older config or named by an
        escalation step)."""
        for route, labels in self.routes(label_sets):
            if receiver in route.receivers:
                return route, labels
        return self.root, label_sets[0] if label_sets else {}


def routing_labels(
    group_labels: Mapping[str, Any],
    severity: str,
    item: str,
    alert_labels: Iterable[Mapping[str, str]] = (),
) -> LabelSets:
    """What routes match: each distinct label set of the member alerts with the incident's
    `group_labels`, `severity` and `item` (when set) on top (one set of those alone without
    alerts). The incident's fields are passed apart, not as its JSON document: routing an
    incident the alert pipeline just opened built all of that document for these three."""
    own = {str(k): str(v) for k, v in group_labels.items()}
    own["severity"] = str(severity)
    if item:
        own["item"] = str(item)
    sets: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for labels in alert_labels:
        merged = {**{str(k): str(v) for k, v in labels.items()}, **own}
        sets.setdefault(tuple(sorted(merged.items())), merged)
    return tuple(sets.values()) or (own,)


def _compile(
    config: RouteConfig, parent: Route, path: str, named: Mapping[str, TimeInterval]
) -> Route:
    node = Route(
        path=path,
        matchers=parse_matchers(config.matchers),
        receivers=tuple(config.receivers) if config.receivers is not None else parent.receivers,
        continue_=config.continue_,
        group_by=tuple(config.group_by) if config.group_by is not None else parent.group_by,
        group_wait=_pick(config.group_wait, parent.group_wait),
        group_interval=_pick(config.group_interval, parent.group_interval),
        repeat_interval=_pick(config.repeat_interval, parent.repeat_interval),
        active=tuple(named[n] for n in config.active_time_intervals if n in named) or parent.active,
        mute=tuple(named[n] for n in config.mute_time_intervals if n in named) or parent.mute,
        children=(),
    )
    children = tuple(
        _compile(child, node, f"{path}.{i}", named) for i, child in enumerate(config.routes)
    )
    return Route(**{**{f: getattr(node, f) for f in Route.__slots__}, "children": children})


def _pick(value: float | None, inherited: float) -> float:
    return inherited if value is None else value


def _match(route: Route, labels: Mapping[str, str]) -> list[Route]:
    if not matches_all(route.matchers, labels):
        return []
    found: list[Route] = []
    for child in route.children:
        matched = _match(child, labels)
        found += matched
        if matched and not child.continue_:
            break
    return found or [route]


def route_problems(
    route: RouteConfig, receivers: Sequence[str], time_intervals: Sequence[TimeInterval]
) -> tuple[list[ConfigProblem], list[ConfigProblem]]:
    """Errors (unknown receivers or time intervals) and warnings (unreachable routes)."""
    errors: list[ConfigProblem] = []
    warnings: list[ConfigProblem] = []
    known = set(receivers)
    names = [i.name for i in time_intervals]
    for i, name in enumerate(names):
        if name in names[:i]:
            errors.append(
                ConfigProblem(
                    f"notify.time_intervals[{i}].name", f'time interval "{name}" is defined twice'
                )
            )
    for where, node in _walk(route, "route"):
        for name in node.receivers or []:
            if name not in known:
                hint = ", ".join(sorted(known)) or "none are configured"
                errors.append(
                    ConfigProblem(
                        f"{where}.receivers", f'unknown receiver "{name}" (receivers: {hint})'
                    )
                )
        for key in ("active_time_intervals", "mute_time_intervals"):
            for name in getattr(node, key):
                if name not in names:
                    errors.append(
                        ConfigProblem(f"{where}.{key}", f'unknown time interval "{name}"')
                    )
        for j, child in enumerate(node.routes):
            if child.matchers or child.continue_:
                continue
            for k in range(j + 1, len(node.routes)):
                warnings.append(
                    ConfigProblem(
                        f"{where}.routes[{k}]",
                        f"this route is never reached: routes[{j}] before it matches "
                        "everything and has continue = false",
                    )
                )
            break
    return errors, warnings


def unset_label_warnings(route: RouteConfig, known: Collection[str]) -> list[ConfigProblem]:
    """Warnings for route matchers that need a label (they do not match its absence) which no
    configured source sets, `known` naming those a source does set."""
    warnings: list[ConfigProblem] = []
    for where, node in _walk(route, "route"):
        for matcher in parse_matchers(node.matchers):
            if matcher.label in known or matcher.matches({}):
                continue
            warnings.append(
                ConfigProblem(
                    f"{where}.matchers",
                    f'no configured check, rule or trap sets label "{matcher.label}"; only '
                    f"alerts posted from outside can match {matcher} (give the items or checks "
                    "it is about the label)",
                )
            )
    return warnings


def _walk(node: RouteConfig, where: str) -> Iterator[tuple[str, RouteConfig]]:
    yield where, node
    for i, child in enumerate(node.routes):
        yield from _walk(child, f"{where}.routes[{i}]")
