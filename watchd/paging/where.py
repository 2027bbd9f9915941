"""Where a problem in a scenario file is: the line of a pydantic error location or of a config
key path in the YAML tree (watchd.rules.yamlsrc keeps the lines), and the problem as one line
`FILE:LINE: where: what was wrong, what was expected`."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from watchd.rules.yamlsrc import LineDict, LineList

Loc = Sequence[int | str]


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a scenario file: the file, the line (0: the whole file) and what."""

    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.message}"


class ScenarioError(Exception):
    """A scenario file cannot be run; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def relined(source: Any, value: dict[str, Any]) -> dict[str, Any]:
    """`value` as a LineDict with the lines of `source` when that is one (else as it is)."""
    if not isinstance(source, LineDict):
        return value
    copy = LineDict(value)
    copy.__dict__.update(source.__dict__)
    return copy


def line_at(tree: Any, loc: Loc) -> int:
    """The line of the deepest node of `loc` that the YAML tree has (1 when none)."""
    node, line = tree, getattr(tree, "line", 1)
    for part in loc:
        has = (isinstance(node, LineDict) and part in node) or (
            isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node)
        )
        if has:
            line, node = node.line_of(part), node[part]
        elif isinstance(node, LineDict | LineList):
            return node.line  # a key that is missing: the mapping that lacks it
        else:
            break
    return line


_KEY_PART = re.compile(r'\.?([A-Za-z_][\w-]*)|\[(\d+)\](?:\("(?:[^"\\]|\\.)*"\))?')


def key_path_loc(path: str) -> list[int | str]:
    """The location a config key path names, as check-config prints it
    (`items[3]("web1").checks[0]("http").url` is items, 3, checks, 0, url)."""
    loc: list[int | str] = []
    pos = 0
    while pos < len(path):
        found = _KEY_PART.match(path, pos)
        if found is None:
            break  # the rest is not a key path: stop at the deepest part read
        key, index = found.groups()
        loc.append(int(index) if index is not None else key)
        pos = found.end()
    return loc


def describe(error: Any, models: Iterable[type[BaseModel]]) -> str:
    """One pydantic error as `path: what was wrong, what was expected`."""
    loc = error["loc"]
    kind = error["type"]
    if kind == "extra_forbidden":
        message = f'unknown key "{loc[-1]}"' + _did_you_mean(str(loc[-1]), tuple(models))
    elif kind == "missing":
        message = f'"{loc[-1]}" is required'
        loc = loc[:-1]
    elif kind in ("value_error", "assertion_error"):
        message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    elif "input" in error and not isinstance(error["input"], dict | list):
        message = f"{error['msg']} (got {error['input']!r})"
    else:
        message = str(error["msg"])
    path = path_text(loc)
    return f"{path}: {message}" if path else message


def problems_of(
    file: Path, tree: Any, exc: ValidationError, models: Iterable[type[BaseModel]], base: Loc = ()
) -> list[Problem]:
    """Every error of `exc` (validating the node at `base` of `tree`) as a Problem."""
    found = []
    for error in exc.errors(include_url=False):
        loc = [*base, *error["loc"]]
        found.append(Problem(file, line_at(tree, loc), describe({**error, "loc": loc}, models)))
    return found


def path_text(loc: Loc) -> str:
    """A location as a key path: steps[2].results."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".")


def _did_you_mean(key: str, models: tuple[type[BaseModel], ...]) -> str:
    close = difflib.get_close_matches(key, _keys(models), n=1, cutoff=0.7)
    return f' (did you mean "{close[0]}"?)' if close else ""


@cache
def _keys(models: tuple[type[BaseModel], ...]) -> tuple[str, ...]:
    keys: set[str] = set()
    for model in models:
        keys.update(info.alias or name for name, info in model.model_fields.items())
    return tuple(sorted(keys))
