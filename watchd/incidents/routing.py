"""Which receivers hear of an incident event: the one seam the notification router replaces.

Until the router exists (issue 6) every configured receiver gets every notification.
"""

from __future__ import annotations

from watchd.incidents.model import Event, Incident
from watchd.incidents.settings import IncidentSettings


def receivers_for(settings: IncidentSettings, incident: Incident, event: Event) -> list[str]:
    """The receiver names that get a notification for `event` on `incident`."""
    return list(settings.receivers)
