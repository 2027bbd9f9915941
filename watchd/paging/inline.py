"""The config a scenario runs against: its inline `config` mapping (config.toml's keys, with brace
patterns for large topologies) or the file given with -c, loaded by the daemon's own loader
(watchd.loading), its problems placed on the scenario's lines.

In an inline config, an `[[items]]` table whose name has a brace pattern stands for one item
per value (the same pattern elsewhere in the table takes the same value: `name = "web{01..20}"`
with `address = "10.0.0.{01..20}"` is twenty items); in an item's `parents` and a maintenance
window's `items`, an entry with a pattern stands for every value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from watchd.config import parse_config
from watchd.configbase import ConfigError, ConfigProblem
from watchd.loading import Setup, build_setup, load_setup
from watchd.paging import braces
from watchd.paging.where import (
    Problem,
    ScenarioError,
    key_path_loc,
    line_at,
    path_text,
    relined,
)
from watchd.rules.yamlsrc import LineDict, LineList


def inline_setup(file: Path, tree: LineDict) -> Setup:
    """The Setup of the scenario's `config` mapping, as if it were a config.toml beside the
    scenario file (rule files and templates are found from there); ScenarioError if it has
    problems, each on its line."""
    raw = tree["config"]
    try:
        expanded = expand_config(raw)
    except braces.BraceError as exc:
        raise ScenarioError([Problem(file, line_at(tree, ["config"]), f"config: {exc}")]) from exc
    try:
        return build_setup(parse_config(expanded, file), file)
    except ConfigError as exc:
        problems = [_placed(file, expanded, p) for p in exc.problems]
        raise ScenarioError(problems) from exc


def file_setup(scenario: Path, config: Path | None) -> Setup:
    """The Setup of the config file given with -c; ScenarioError when there is none or it has
    problems (each as check-config prints it)."""
    if config is None:
        message = "the scenario has no 'config' and no config file was given (-c FILE)"
        raise ScenarioError([Problem(scenario, 0, message)])
    try:
        return load_setup(config)
    except ConfigError as exc:
        raise ScenarioError([_elsewhere(config, p) for p in exc.problems]) from exc


def expand_config(raw: dict[str, Any]) -> dict[str, Any]:
    """The inline config with its brace patterns expanded (see the module doc)."""
    config = relined(raw, dict(raw))
    items = raw.get("items")
    if isinstance(items, list):
        expanded = []
        for item in items:
            for one in _expand_item(item):
                if isinstance(one, dict) and isinstance(one.get("parents"), list):
                    one = relined(one, {**one, "parents": _expand_entries(one["parents"])})
                expanded.append(one)
        config["items"] = _list_like(items, expanded)
    windows = raw.get("maintenance")
    if isinstance(windows, list):
        config["maintenance"] = _list_like(
            windows,
            [
                relined(w, {**w, "items": _expand_entries(w["items"])})
                if isinstance(w, dict) and isinstance(w.get("items"), list)
                else w
                for w in windows
            ],
        )
    return config


def _expand_item(item: Any) -> list[Any]:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str):
        return [item]
    names = braces.patterns(item["name"])
    return [braces.substitute_all(item, b) for b in braces.bindings(names)]


def _expand_entries(entries: list[Any]) -> list[Any]:
    """Each string entry replaced by the strings it stands for; lines kept per entry."""
    out: list[Any] = []
    for entry in entries:
        out += braces.expand(entry) if isinstance(entry, str) else [entry]
    return _list_like(entries, out, per=[_n(entry) for entry in entries])


def _n(entry: Any) -> int:
    return len(braces.expand(entry)) if isinstance(entry, str) else 1


def _list_like(source: list[Any], values: list[Any], per: list[int] | None = None) -> list[Any]:
    """`values` as a LineList whose entries carry the lines of the `source` entries they came
    from (`per`: how many values each source entry gave; default: by identity of names)."""
    if not isinstance(source, LineList):
        return values
    result = LineList(values)
    result.line = source.line
    if per is None:
        per = [len(_expand_item(entry)) for entry in source]
    result.lines = [source.line_of(i) for i, count in enumerate(per) for _ in range(count)]
    return result


def _placed(file: Path, config: Any, problem: ConfigProblem) -> Problem:
    """A config problem on the line of the inline config it names."""
    if problem.source:  # in another file (a rule file): it says where itself
        return _elsewhere(file, problem)
    loc = key_path_loc(problem.path)
    message = problem.message.removeprefix("Value error, ")  # pydantic's prefix, no news
    return Problem(file, line_at(config, loc), f"{path_text(['config', *loc])}: {message}")


def _elsewhere(file: Path, problem: ConfigProblem) -> Problem:
    """A problem as check-config prints it: in `file`, or in the file it names itself."""
    return Problem(Path(problem.source) if problem.source else file, 0, str(problem))
