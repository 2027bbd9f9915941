"""Configuration items and their parent/dependency graph: the small CMDB.

An item whose every parent is down is UNREACHABLE rather than DOWN (DESIGN.md §4); this module
answers the graph questions (parents, children, ancestors, each item's host check) and
validates the graph at load.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from watchd.configbase import ConfigProblem


class _ItemLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def parents(self) -> list[str]: ...


class Inventory:
    """The items by name with parent and child links, and the check that says each is up.

    `host_checks` maps an item to its host check (DESIGN.md §4 Reachability): only that check
    being HARD down makes the item down for topology; an item without one is never down.
    """

    def __init__(
        self, items: Iterable[_ItemLike], host_checks: Mapping[str, str] | None = None
    ) -> None:
        self._parents: dict[str, tuple[str, ...]] = {i.name: tuple(i.parents) for i in items}
        self._host_checks = dict(host_checks or {})
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

    def host_check(self, name: str) -> str | None:
        """The name of the item's host check, None when it has none."""
        return self._host_checks.get(name)

    def ancestors(self, names: Iterable[str]) -> set[str]:
        """Every item above any of `names` (parents, their parents, ...)."""
        return _closure([p for name in names for p in self.parents(name)], self.parents)

    def descendants(self, name: str) -> set[str]:
        """Every item below `name` (children, their children, ...), not `name` itself."""
        return _closure(self.children(name), self.children)

    def is_unreachable(self, name: str, down: Container[str]) -> bool:
        """True when the item has parents and every one of them is down or itself unreachable."""
        parents = self.parents(name)
        if not parents:
            return False
        return all(p in down or self.is_unreachable(p, down) for p in parents)


def _closure(start: Iterable[str], step: Callable[[str], tuple[str, ...]]) -> set[str]:
    """Every name reached from `start` by following `step` again and again."""
    found: set[str] = set()
    stack = list(start)
    while stack:
        name = stack.pop()
        if name not in found:
            found.add(name)
            stack.extend(step(name))
    return found


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
