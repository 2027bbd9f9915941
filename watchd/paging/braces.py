"""Brace patterns, as in a shell: `web{001..200}` is web001 … web200, `{a,b}` is a then b.

One pattern is a variable: where the same pattern text appears twice in one thing being
expanded (an item's name and its address, an alert's label and its summary) both take the same
value; different patterns multiply. `{001..200}` keeps the zero padding of its bounds.
Anything else in braces (`{item="x"}`) is left as it is.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

_PATTERN = re.compile(r"\{(?:(-?\d+)\.\.(-?\d+)|([^{},=\"'\s]+(?:,[^{},=\"'\s]+)+))\}")
MAX_EXPANSION = 100_000  # values one pattern, or one thing expanded, may stand for


class BraceError(ValueError):
    """A pattern that would expand past MAX_EXPANSION values."""


def values(pattern: str) -> list[str]:
    """The values one pattern (with its braces) stands for."""
    match = _PATTERN.fullmatch(pattern)
    if match is None:
        return [pattern]
    low, high, words = match.groups()
    if words is not None:
        return words.split(",")
    a, b = int(low), int(high)
    if abs(b - a) >= MAX_EXPANSION:
        raise BraceError(f"{pattern} stands for more than {MAX_EXPANSION} values")
    padded = any(len(bound) > 1 and bound.lstrip("-").startswith("0") for bound in (low, high))
    width = max(len(low), len(high)) if padded else 0
    step = 1 if b >= a else -1
    return [str(n).zfill(width) for n in range(a, b + step, step)]


def patterns(thing: Any) -> list[str]:
    """The distinct patterns in the strings of `thing` (a string, list or mapping), in order."""
    found: dict[str, None] = {}
    for text in _strings(thing):
        for match in _PATTERN.finditer(text):
            found.setdefault(match.group(0), None)
    return list(found)


def bindings(names: list[str]) -> Iterator[dict[str, str]]:
    """Every combination of values of the patterns `names`: pattern -> value."""
    choices = [values(name) for name in names]
    total = 1
    for choice in choices:
        total *= len(choice)
    if total > MAX_EXPANSION:
        raise BraceError(f"{' '.join(names)} together stand for more than {MAX_EXPANSION} values")
    for combination in itertools.product(*choices):
        yield dict(zip(names, combination, strict=True))


def substitute(text: str, binding: dict[str, str]) -> str:
    """`text` with each pattern of `binding` replaced by its value."""
    return _PATTERN.sub(lambda m: binding.get(m.group(0), m.group(0)), text)


def substitute_all(thing: Any, binding: dict[str, str]) -> Any:
    """A copy of `thing` with `binding` substituted in every string value (not in keys).

    Mappings and lists keep their type and attributes: a YAML LineDict still knows its lines.
    """
    if isinstance(thing, str):
        return substitute(thing, binding)
    if isinstance(thing, dict):
        copy: Any = type(thing)((k, substitute_all(v, binding)) for k, v in thing.items())
    elif isinstance(thing, list):
        copy = type(thing)(substitute_all(v, binding) for v in thing)
    else:
        return thing
    if hasattr(thing, "__dict__"):  # a LineDict or LineList: keep its lines
        copy.__dict__.update(thing.__dict__)
    return copy


def expand(text: str) -> list[str]:
    """Every string `text` stands for (itself when it has no pattern)."""
    return [substitute(text, b) for b in bindings(patterns(text))]


def _strings(thing: Any) -> Iterator[str]:
    if isinstance(thing, str):
        yield thing
    elif isinstance(thing, dict):
        for value in thing.values():
            yield from _strings(value)
    elif isinstance(thing, list):
        for value in thing:
            yield from _strings(value)
