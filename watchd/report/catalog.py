"""What reports need to know of the configuration: each check's labels and sample gap, the
maintenance windows, the item graph and the services, resolved once from Config."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from watchd.check_config import ResolvedCheck
from watchd.inventory import Inventory
from watchd.maintenance import MaintenanceWindow
from watchd.matchers import matches_all, parse_matchers
from watchd.report.config import MaintenancePolicy, ReportConfig, ServiceConfig
from watchd.report.people import Person

Key = tuple[str, str]  # (item, check)
# The item of the rollup series of combined services (watchd.report.combine): no configured
# item has an empty name (ItemConfig.name has min_length 1).
SERVICE_ITEM = ""


@dataclass(frozen=True, slots=True)
class Catalog:
    """Checks by (item, check) with labels and intervals; services; maintenance windows;
    the time zone of report periods and the language pages default to."""

    report: ReportConfig
    labels: Mapping[Key, Mapping[str, str]] = field(default_factory=dict)
    intervals: Mapping[Key, float] = field(default_factory=dict)
    default_interval: float = 60.0
    services: Sequence[ServiceConfig] = ()
    windows: Sequence[MaintenanceWindow] = ()
    inventory: Inventory = field(default_factory=lambda: Inventory([]))
    timezone: str = "UTC"  # [daemon] timezone: report months, days and displayed times
    people: Sequence[Person] = ()  # the configured users, for the per-person figures
    locale: str = "en"  # [daemon] locale: pages and reports unless a reader asks for another

    @classmethod
    def from_checks(
        cls,
        report: ReportConfig,
        checks: Iterable[ResolvedCheck],
        *,
        default_interval: float,
        services: Sequence[ServiceConfig],
        windows: Sequence[MaintenanceWindow],
        inventory: Inventory,
        timezone: str,
        people: Sequence[Person] = (),
        locale: str = "en",
    ) -> Catalog:
        """The catalog of the enabled `checks`; `default_interval` covers checks not listed."""
        labels: dict[Key, dict[str, str]] = {}
        intervals: dict[Key, float] = {}
        for check in checks:
            labels[check.key] = {**check.labels, "item": check.item, "check": check.name}
            intervals[check.key] = check.interval
        return cls(
            report=report,
            labels=labels,
            intervals=intervals,
            default_interval=default_interval,
            services=tuple(services),
            windows=tuple(windows),
            inventory=inventory,
            timezone=timezone,
            people=tuple(people),
            locale=locale,
        )

    def gap(self, key: Key) -> float:
        """How long a sample's status holds at most before the check counts as unmonitored."""
        if self.report.max_sample_gap is not None:
            return float(self.report.max_sample_gap)
        return 2.0 * self.intervals.get(key, self.default_interval)

    def max_gap(self) -> float:
        """The longest gap of any check: how far before a span samples still reach into it."""
        gaps = [self.gap(k) for k in self.intervals] or [self.gap(("", ""))]
        return max(gaps)

    def check_labels(self, key: Key) -> Mapping[str, str]:
        return self.labels.get(key) or {"item": key[0], "check": key[1]}

    def service(self, name: str) -> ServiceConfig | None:
        return next((s for s in self.services if s.name == name), None)

    def policy(self, service: ServiceConfig | None) -> MaintenancePolicy:
        if service is not None and service.maintenance_policy is not None:
            return service.maintenance_policy
        return self.report.maintenance_policy

    def members(self, service: ServiceConfig, known: Iterable[Key]) -> list[Key]:
        """The checks of `service` among the configured ones and `known` (e.g. rolled up).

        Patterns also match checks no longer configured; label matchers only configured ones.
        """
        matchers = parse_matchers(service.matchers)
        found: set[Key] = set()
        for key in {*self.labels, *known}:
            if key[0] == SERVICE_ITEM:
                continue
            name = f"{key[0]}/{key[1]}"
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in service.checks) or (
                matchers and key in self.labels and matches_all(matchers, self.labels[key])
            ):
                found.add(key)
        return sorted(found)
