"""Configuration items and their parent/dependency graph: the small CMDB.

An item whose every parent is down is UNREACHABLE rather than DOWN (DESIGN.md §4); this module
answers the graph questions (parents, children, ancestors) and validates the graph at load.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from watchd.configbase import ConfigProblem


class _ItemLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def parents(self) -> list[str]: ...


class Inventory:
    """The items by name with parent and child links."""

    def __init__(self, items: Iterable[_ItemLike]) -> None:
        self._parents: dict[str, tuple[str, ...]] = {i.name: tuple(i.parents) for i in items}
        children: dict[str, list[str]] = {name: [] for name in self._parents}
        for name, parents in self._parents.items():
            for parent in parents:
                children.setdefault(parent, []).append(name)
        self._children = {name: tuple(kids) for name, kids in children.items()}

    def __contains__(self, name: object) -> bool:
        return name in self._parents

    def names(self) -> list[str]:
        return list(self._parents)

    def parents(self, name: str) -> tuple[str, ...]:
        return self._parents.get(name, ())

    def children(self, name: str) -> tuple[str, ...]:
        return self._children.get(name, ())

    def descendants(self, name: str) -> set[str]:
        """Every item below `name` (children, their children, ...), not `name` itself."""
        found: set[str] = set()
        stack = list(self.children(name))
        while stack:
            child = stack.pop()
            if child not in found:
                found.add(child)
                stack.extend(self.children(child))
        return found

    def is_unreachable(self, name: str, down: Mapping[str, bool]) -> bool:
        """True when the item has parents and every one of them is down or itself unreachable."""
        parents = self.parents(name)
        if not parents:
            return False
        return all(down.get(p, False) or self.is_unreachable(p, down) for p in parents)


def inventory_problems(items: Sequence[_ItemLike]) -> Iterator[ConfigProblem]:
    """Unknown parents and dependency cycles, each with the key path of the item at fault."""
    names = {item.name for item in items}
    for i, item in enumerate(items):
        for j, parent in enumerate(item.parents):
            if parent not in names:
                yield ConfigProblem(
                    f'items[{i}]("{item.name}").parents[{j}]',
                    f'unknown item "{parent}" (expected the name of an item in [[items]])',
                )
            elif parent == item.name:
                yield ConfigProblem(
                    f'items[{i}]("{item.name}").parents[{j}]', "an item cannot be its own parent"
                )
    graph = {item.name: [p for p in item.parents if p in names] for item in items}
    index = {item.name: i for i, item in enumerate(items)}
    for cycle in _cycles(graph):
        first = cycle[0]
        yield ConfigProblem(
            f'items[{index[first]}]("{first}").parents',
            "dependency cycle: " + " -> ".join([*cycle, first]),
        )


def _cycles(graph: Mapping[str, list[str]]) -> Iterator[list[str]]:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> Iterator[list[str]]:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1 and nxt != node:
                yield path[path.index(nxt) :]
            elif nxt not in state:
                yield from visit(nxt)
        path.pop()
        state[node] = 2

    for node in graph:
        if node not in state:
            yield from visit(node)
