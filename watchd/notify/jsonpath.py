"""A small, safe path into a JSON document: `result.sys_id`, `issues[0].key`, `data[0].2`.

Dots separate keys, `[n]` indexes lists; a numeric key after a dot indexes a list or reads a
dict key of that name. Nothing is evaluated: a path is only ever a lookup.
"""

from __future__ import annotations

import re
from typing import Any

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class PathError(ValueError):
    """`path` is not a valid lookup path."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"The path {path!r} is not valid (expected e.g. result.sys_id or issues[0].key)."
        )
        self.path = path


def parse_path(path: str) -> list[str | int]:
    """The steps of `path`; PathError when it has stray characters."""
    steps: list[str | int] = []
    pos = 0
    text = path.strip()
    while pos < len(text):
        if text[pos] == "." and steps:
            pos += 1
        found = _TOKEN.match(text, pos)
        if found is None:
            raise PathError(path)
        steps.append(found.group(1) if found.group(1) is not None else int(found.group(2)))
        pos = found.end()
    if not steps:
        raise PathError(path)
    return steps


def extract(document: Any, path: str) -> str | None:
    """The value at `path` as a string, or None when the document has nothing there."""
    node = document
    for step in parse_path(path):
        if isinstance(node, dict):
            key = str(step)
            if key not in node:
                return None
            node = node[key]
        elif isinstance(node, list):
            try:
                index = int(step)
            except ValueError:
                return None
            if not -len(node) <= index < len(node):
                return None
            node = node[index]
        else:
            return None
    if node is None or isinstance(node, dict | list) or node == "":
        return None
    return str(node)
