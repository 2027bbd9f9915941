"""The import layers of DESIGN.md §2, read from the source: nothing imports upward, no cycles.

Function-local imports count too. A package's modules may import each other; a module's layer is
the first prefix that matches it in LAYERS.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Top to bottom; the first tuple is the composition root, the only place that sees the whole
# Config (each stage owns its config slice). notify sits above incidents: the dispatcher reads incidents and writes their
# timeline, while incidents pick receivers through a callable the composition root passes in.
LAYERS: list[tuple[str, ...]] = [
    (
        "watchd.cli",
        "watchd.app",
        "watchd.loading",
        "watchd.housekeeping",
        "watchd.config",
        "watchd.paging",
    ),
    ("watchd.cluster",),  # membership, check sharding, leases: uses the stages below it
    ("watchd.api",),
    ("watchd.ingest",),
    ("watchd.pipeline",),
    ("watchd.notify",),
    ("watchd.incidents",),
    ("watchd.people",),  # users, teams, schedules: escalation resolves who is on call here
    (
        "watchd.report",
        "watchd.rules",
        "watchd.results",
        "watchd.scheduler",
        "watchd.overload",
        "watchd.checks",
        "watchd.check_config",
        "watchd.flap",
        "watchd.metrics",
    ),
    ("watchd.store",),
    ("collectors",),
    ("watchd",),  # base: model, clock, durations, matchers, secrets, configbase, inventory, ...
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in [*ROOT.glob("watchd/**/*.py"), *ROOT.glob("collectors/**/*.py")]:
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith((prefix + ".", prefix + "_")):
                return index
    raise AssertionError(f"{module} is in no layer of tests/test_layers.py")


def _owner(name: str) -> str | None:
    """The project module an imported name resolves to (the longest known prefix)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported project module, line) for every import in the file, at any depth."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import submodule` imports the submodule; `from mod import name`, mod.
            subs = [f"{base}.{alias.name}" for alias in node.names]
            names = [n for n in subs if n in MODULES] or [base]
        for name in names:
            owner = _owner(name)
            if owner is not None and owner != module:
                yield owner, node.lineno


def _graph() -> dict[str, set[str]]:
    return {m: {target for target, _ in _imports(m, p)} for m, p in MODULES.items()}


def test_no_module_imports_from_a_layer_above_it() -> None:
    """Every import points to the module's own layer or one below it (DESIGN.md §2)."""
    upward = [
        f"{MODULES[m].relative_to(ROOT)}:{line}: {m} imports {target}"
        for m, p in MODULES.items()
        for target, line in _imports(m, p)
        if _layer(target) < _layer(m)
    ]
    assert upward == []


def test_no_import_cycles() -> None:
    """No module reaches itself through its imports, function-local imports included."""
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert [" -> ".join(c) for c in cycles] == []
