"""The metric names a rule may name without a warning, read from what emits them.

Each collector kind declares its names (`metric_names` in collectors.contract), and every
check run adds watchd.checks.CHECK_METRICS; nothing is listed here, so the check cannot
drift from what is emitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from collectors import REGISTRY
from collectors.contract import MetricNames
from watchd.checks import CHECK_METRICS


def known_metrics(checks: Iterable[tuple[str, Any]] = ()) -> MetricNames:
    """Every name a collector kind emits with what watchd ships, each run's own metrics, and
    what the given checks (kind, validated settings) add: their own SNMP profiles and OIDs.

    The shipped names stay known without a check of that kind, so a rule file shared between
    hosts draws no warning where one kind is not configured.
    """
    return MetricNames.union(
        MetricNames(CHECK_METRICS),
        *(kind.metric_names(None) for kind in REGISTRY.values()),
        *(REGISTRY[kind].metric_names(settings) for kind, settings in checks),
    )


# What a rule file may name wherever it runs: the default of load_rules and check_rules.
SHIPPED_METRICS = known_metrics()
