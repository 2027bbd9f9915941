"""The `watchd_cluster_*` metrics, on the daemon's registry (watchd.metrics.Metrics.registry)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge


class ClusterMetrics:
    """What the membership publishes each heartbeat: nodes by state, checks owned, leases."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._nodes = Gauge(
            "watchd_cluster_nodes",
            "Nodes in the cluster's table as this node sees them, by state (live or dead).",
            ["state"],
            registry=registry,
        )
        self._checks_owned = Gauge(
            "watchd_cluster_checks_owned", "Checks this node polls.", registry=registry
        )
        self._lease_held = Gauge(
            "watchd_cluster_lease_held",
            "1 while this node holds the lease (and runs its singleton work), else 0.",
            ["lease"],
            registry=registry,
        )
        self._changes = Counter(
            "watchd_cluster_membership_changes",
            "Changes of the live nodes (or their zones) this node saw.",
            registry=registry,
        )
        self._failures = Counter(
            "watchd_cluster_heartbeat_failures",
            "Heartbeats of this node that failed (the database was unreachable or too slow).",
            registry=registry,
        )

    def observe(self, *, live: int, dead: int, checks_owned: int) -> None:
        """The state after one heartbeat."""
        self._nodes.labels(state="live").set(live)
        self._nodes.labels(state="dead").set(dead)
        self._checks_owned.set(checks_owned)

    def watch_lease(self, lease: str, held: Callable[[], bool]) -> None:
        """Read `held` at each scrape: the lease's own deadline, not the last heartbeat's."""
        self._lease_held.labels(lease=lease).set_function(lambda: float(held()))

    def membership_changed(self) -> None:
        self._changes.inc()

    def heartbeat_failed(self) -> None:
        self._failures.inc()
