"""The values the cluster's parts pass each other: who is alive, as one node sees it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NodeView:
    """A live node: its name and the zones whose items it polls."""

    name: str
    zones: frozenset[str]


@dataclass(frozen=True, slots=True)
class ClusterView:
    """The live nodes as `me` sees them now (sorted by name, `me` included while it runs).

    `epoch` grows by one each time this node's view changes, so a consumer can tell a new
    view from the one it already applied.
    """

    me: str
    live: tuple[NodeView, ...]
    epoch: int
