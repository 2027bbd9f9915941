"""What the incident core needs from the config, resolved once: parsed matchers, the item graph,
how to pick an incident's receivers. The composition root builds it (watchd/loading.py), again
on reload."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from watchd.incidents.config import IncidentsConfig, InhibitRule
from watchd.incidents.model import Incident
from watchd.inventory import Inventory
from watchd.maintenance import MaintenanceWindow
from watchd.people.config import PeopleConfig

# The receivers that hear of an incident's event, given the incident and the labels of its member
# alerts. The notification route tree decides (without a [route] table every configured receiver
# gets every notification); the composition root passes it in, so the incident core never
# imports notify.
ReceiverSelector = Callable[[Incident, Sequence[Mapping[str, str]]], list[str]]


@dataclass(frozen=True, slots=True)
class IncidentSettings:
    incidents: IncidentsConfig
    inhibit_rules: tuple[InhibitRule, ...]
    maintenance: tuple[MaintenanceWindow, ...]
    inventory: Inventory
    receivers_for: ReceiverSelector
    # The users, teams and schedules escalation steps page.
    people: PeopleConfig = field(default_factory=PeopleConfig)
