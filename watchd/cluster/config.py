"""The `[cluster]` table of config.toml: this node's name, its zones and the heartbeat timing."""

from __future__ import annotations

import socket
from collections.abc import Iterator

from pydantic import Field

from watchd.configbase import ConfigProblem, Strict
from watchd.durations import Duration, format_duration


class ClusterConfig(Strict):
    """How this node takes part in the cluster (DESIGN.md §6); SQLite is always one node."""

    node_name: str = Field(default_factory=socket.gethostname, min_length=1)
    # A node whose heartbeat is older than this is dead: its checks and leases move.
    dead_after: Duration = Field(default=10.0, gt=0)
    heartbeat_interval: Duration = Field(default=2.0, gt=0)
    zones: list[str] = Field(default=["default"], min_length=1)

    def problems(self) -> Iterator[ConfigProblem]:
        """Problems between keys: a node must heartbeat at least twice per `dead_after`, or one
        late heartbeat would get it declared dead."""
        if self.heartbeat_interval >= self.dead_after / 2:
            yield ConfigProblem(
                "cluster.heartbeat_interval",
                f"expected less than half of cluster.dead_after "
                f"({format_duration(self.dead_after / 2)}), "
                f"got {format_duration(self.heartbeat_interval)}",
            )
