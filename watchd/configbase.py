"""The config base every stage's config model builds on: the strict pydantic model and the
problem/error types that config validation reports.

It sits below every other module (it imports only pydantic and the standard library), so stage packages and base
modules such as inventory can use it without importing the root config.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict


class Strict(BaseModel):
    """Base of every config table: unknown keys are errors, values are frozen after load."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def model_post_init(self, context: Any, /) -> None:
        """Share the set of fields the file gave (`model_fields_set`) with every model given
        the same ones.

        Each model keeps its own set otherwise: 216 bytes for an item, 728 for an SNMP check,
        where thousands of checks give the same few sets (4.7 MB at 5,000 devices, issue 14).
        Sharing is safe because config models are frozen (nothing adds to the set) and a copy
        gets a set of its own (pydantic's `BaseModel.__copy__`, under `model_copy`).
        """
        given = self.__pydantic_fields_set__
        shared = _FIELDS_SETS.setdefault(frozenset(given), given)
        object.__setattr__(self, "__pydantic_fields_set__", shared)


# The sets of given fields that config models share, by their content (see Strict).
_FIELDS_SETS: dict[frozenset[str], set[str]] = {}


def is_zone(value: str) -> bool:
    """True for a time zone name zoneinfo knows (an IANA name such as Asia/Shanghai)."""
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _known_zone(value: str) -> str:
    if not is_zone(value):
        raise ValueError(f"unknown time zone {value!r} (expected e.g. UTC, Europe/Paris)")
    return value


# An IANA time zone name, checked at load so a typo is a config error, not a failure later.
TimeZone = Annotated[str, AfterValidator(_known_zone)]


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in a config file: where (a key path) and what was expected."""

    path: str
    message: str
    source: str = ""  # set when the problem is in another file: "rules/host.yaml:14"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def located(self, config_file: Path) -> str:
        """The problem as one line that starts with the file (and line) it is in."""
        return f"{self.source}: {self}" if self.source else f"{config_file}: {self}"


class Named(Protocol):
    """A config entry with a name (an item, a receiver, a user, a layer, ...)."""

    @property
    def name(self) -> str: ...


def duplicate_names(where: str, what: str, entries: Sequence[Named]) -> Iterator[ConfigProblem]:
    """A problem for each entry of the list at `where` whose name an earlier one has:
    `where[i]("name").name: what "name" is defined twice`."""
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.name in seen:
            yield ConfigProblem(
                f'{where}[{i}]("{entry.name}").name', f'{what} "{entry.name}" is defined twice'
            )
        seen.add(entry.name)


class ConfigError(Exception):
    """The config file has problems; `problems` lists every one of them."""

    def __init__(self, file: Path, problems: Sequence[ConfigProblem]) -> None:
        self.file = file
        self.problems = list(problems)
        lines = "\n".join(self.lines())
        super().__init__(f"{len(self.problems)} problem(s) in {file}:\n{lines}")

    def lines(self) -> list[str]:
        """One line per problem, each starting with its file."""
        return [problem.located(self.file) for problem in self.problems]
