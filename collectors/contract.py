"""What a collector kind declares beyond running: the metric names it emits.

The registry holds `CollectorKind`s: watchd.model's `CollectorClass` (kind, Config, built from
its config) plus `metric_names(config)`. The rules' "unknown metric" check reads these
declarations, so a collector's samples and what rules may name come from one place; the
collector tests check every sample they see against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from watchd.model import CollectorClass


@dataclass(frozen=True, slots=True)
class MetricNames:
    """Metric names a collector emits: exact `names`, and `prefixes` of open-ended families.

    A prefix says honestly that the names after it come from what is measured, not from
    watchd (a Nagios plugin's perfdata label becomes nagios_<label>): any name with the
    prefix may appear, and no list of them exists in advance.
    """

    names: frozenset[str] = frozenset()
    prefixes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, *names: str) -> MetricNames:
        """Exact names only."""
        return cls(frozenset(names))

    @classmethod
    def union(cls, *parts: MetricNames) -> MetricNames:
        """The names and prefixes of all parts."""
        return cls(
            frozenset().union(*(part.names for part in parts)),
            frozenset().union(*(part.prefixes for part in parts)),
        )

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (
            name in self.names or any(name.startswith(prefix) for prefix in self.prefixes)
        )


class CollectorKind(CollectorClass, Protocol):
    """A registered collector class: the model's contract and its metric-name declaration."""

    def metric_names(self, config: Any | None) -> MetricNames:
        """The names a check with this config emits; None: every name the kind can emit with
        what watchd ships (all probes, all shipped SNMP profiles)."""
        ...


class FixedMetrics:
    """Base of a collector whose metric names do not depend on its config: it sets `metrics`."""

    metrics: ClassVar[MetricNames]

    @classmethod
    def metric_names(cls, config: object) -> MetricNames:
        """`metrics`, whatever the config."""
        return cls.metrics
