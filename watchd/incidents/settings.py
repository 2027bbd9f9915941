"""What the incident core needs from Config, resolved once: parsed matchers, the item graph,
the receivers. Built again on reload."""

from __future__ import annotations

from dataclasses import dataclass

from watchd.config import Config
from watchd.incidents.config import IncidentsConfig, InhibitRule, MaintenanceWindow
from watchd.inventory import Inventory
from watchd.notify.router import Router


@dataclass(frozen=True, slots=True)
class IncidentSettings:
    incidents: IncidentsConfig
    inhibit_rules: tuple[InhibitRule, ...]
    maintenance: tuple[MaintenanceWindow, ...]
    inventory: Inventory
    receivers: tuple[str, ...]
    router: Router

    @classmethod
    def from_config(cls, config: Config) -> IncidentSettings:
        return cls(
            incidents=config.incidents,
            inhibit_rules=tuple(config.inhibit_rules),
            maintenance=tuple(config.maintenance),
            inventory=Inventory(config.items),
            receivers=tuple(r.name for r in config.receivers),
            router=Router.from_config(
                config.route, [r.name for r in config.receivers], config.notify.time_intervals
            ),
        )
