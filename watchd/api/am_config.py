"""watchd's route tree and inhibit rules as an Alertmanager configuration: `config.original` of
`GET /api/v2/status`, which `amtool config routes` (and `routes test`) parse and draw.

The tree keeps its shape: each `[route]` node becomes one Alertmanager route with the same
matchers, `continue`, grouping and time intervals, children inheriting what they leave unset
as in both. Where the two differ:

- A watchd route may name several receivers; Alertmanager's names one. A node's receivers
  show as one receiver named by them joined with `+` (`pager+mail`), listed among the
  receivers; the root without `receivers` (every receiver in watchd) shows all of them.
- Receivers are listed by name only: their settings hold URLs and secrets.
- Alertmanager refuses a zero `group_interval` or `repeat_interval`; watchd's default group
  interval is 0 (each change notified at once), so a zero is left out, and the header says so.
- Durations are written as Alertmanager writes them (`1h30m`), time intervals in its nested
  form (`times: [{start_time, end_time}]`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from watchd.durations import format_duration
from watchd.incidents.config import InhibitRule
from watchd.notify.config import RouteConfig, TimeInterval
from watchd.notify.router import DEFAULT_REPEAT

HEADER = (
    "# watchd's route tree, receivers, time intervals and inhibit rules (config.toml) in\n"
    "# Alertmanager's form, for amtool. A receiver named a+b stands for a route's several\n"
    "# receivers; receivers' settings are left out; a zero group_interval (notify each change\n"
    "# at once, watchd's default) is left out, as Alertmanager has no zero.\n"
)


def alertmanager_config(
    route: RouteConfig,
    receivers: Sequence[str],
    time_intervals: Sequence[TimeInterval] = (),
    inhibit_rules: Sequence[InhibitRule] = (),
) -> str:
    """The Alertmanager configuration (YAML) showing `route` with `receivers` (their names),
    the `time_intervals` routes name and the `inhibit_rules` (the same keys in both)."""
    used: list[str] = []
    root = _route(route, root_receivers=list(receivers), used=used)
    root.setdefault("repeat_interval", format_duration(DEFAULT_REPEAT))
    names = list(dict.fromkeys([*receivers, *used]))
    config: dict[str, Any] = {"route": root, "receivers": [{"name": n} for n in names]}
    if time_intervals:
        config["time_intervals"] = [_time_interval(i) for i in time_intervals]
    if inhibit_rules:
        config["inhibit_rules"] = [
            rule.model_dump(exclude_defaults=True, mode="json") for rule in inhibit_rules
        ]
    return HEADER + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _route(
    config: RouteConfig, *, root_receivers: list[str] | None, used: list[str]
) -> dict[str, Any]:
    """One node and its children; `root_receivers` (the root only) stand in for unset
    receivers, which children inherit."""
    node: dict[str, Any] = {}
    names = config.receivers if config.receivers is not None else root_receivers
    if names is not None:
        node["receiver"] = "+".join(names)
        used.append(node["receiver"])
    if config.group_by is not None:
        node["group_by"] = list(config.group_by)
    if config.continue_:
        node["continue"] = True
    if config.matchers:
        node["matchers"] = list(config.matchers)
    for key in ("group_wait", "group_interval", "repeat_interval"):
        value = getattr(config, key)
        if value is not None and (value > 0 or key == "group_wait"):
            node[key] = format_duration(value)
    if config.mute_time_intervals:
        node["mute_time_intervals"] = list(config.mute_time_intervals)
    if config.active_time_intervals:
        node["active_time_intervals"] = list(config.active_time_intervals)
    if config.routes:
        node["routes"] = [_route(c, root_receivers=None, used=used) for c in config.routes]
    return node


def _time_interval(interval: TimeInterval) -> dict[str, Any]:
    """A watchd time interval as Alertmanager's `time_intervals` entry."""
    spec: dict[str, Any] = {}
    if interval.times:
        spec["times"] = [{"start_time": t[:5], "end_time": t[6:]} for t in interval.times]
    for key in ("weekdays", "days_of_month", "months"):
        if getattr(interval, key):
            spec[key] = list(getattr(interval, key))
    if interval.location != "UTC":
        spec["location"] = interval.location
    return {"name": interval.name, "time_intervals": [spec]}
