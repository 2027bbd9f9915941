"""Which receivers hear of an incident event: the one seam the notification router replaces.

The route tree (watchd/notify/router.py) decides; without a [route] table every configured
receiver gets every notification.
"""

from __future__ import annotations

from watchd.incidents.model import Event, Incident
from watchd.incidents.settings import IncidentSettings
from watchd.notify.router import routing_labels


def receivers_for(settings: IncidentSettings, incident: Incident, event: Event) -> list[str]:
    """The receiver names that get a notification for `event` on `incident`."""
    return settings.router.receivers(routing_labels(incident.as_json()))
