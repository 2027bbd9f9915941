"""The notification payload: Alertmanager's webhook version 4 shape plus the incident and event.

Existing Alertmanager webhook receivers read `status`, `alerts`, `groupLabels`, ... unchanged;
watchd's own receivers also read `incident` and `event` (DESIGN.md §4 Notifications).
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from watchd.incidents.model import Event, Incident, Page

_ZERO_TIME = "0001-01-01T00:00:00Z"
_LAST_TIME = "9999-12-31T23:59:59Z"
_FIRST, _LAST = -62_135_596_800.0, 253_402_300_799.0  # the times datetime can show


# Alerts of one storm mostly share a few start times (those of the rule evaluations that
# raised them): formatting one took ~1.6 us, once or twice per alert of each notification;
# a hit takes ~0.1.
@lru_cache(maxsize=1024)
def rfc3339(seconds: float | None) -> str:
    """`seconds` as RFC 3339; a time datetime cannot show becomes its nearest end, never an error.

    Ingestion refuses such times, but a row stored before it did must not stop a notification.
    """
    if seconds is None or math.isnan(seconds) or seconds <= _FIRST:
        return _ZERO_TIME
    if seconds >= _LAST:
        return _LAST_TIME
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def idempotency_key(incident_id: int, seq: int, page: Page | None = None) -> str:
    """ "<incident>:<seq>" for a receiver's own destination; a page to a person adds the user
    and the contact ("<incident>:<seq>:alice:sms"), so two people paged through one receiver
    for one event get two keys. The contact is percent-encoded: the key is an HTTP header."""
    key = f"{incident_id}:{seq}"
    if page is None:
        return key
    return f"{key}:{page.user}:{urllib.parse.quote(page.contact, safe='')}"


def notification_payload(
    incident: Incident,
    event: Event,
    alerts: Sequence[dict[str, Any]],
    receiver: str,
    page: Page | None = None,
) -> dict[str, Any]:
    """The JSON document one receiver gets for one incident event; for a page to a person,
    `recipient` says whom (user, name, contact) and where (`address`) to deliver it.

    The alerts' label and annotation maps go in as they are, not copied: the alert rows are
    the caller's own (read from the store, or copied from the batch's alerts by the ledger),
    and a document is only ever encoded."""
    entries = [
        {
            # A symptom awaiting a fresh result ("recheck") is still a firing alert.
            "status": "resolved" if a["status"] == "resolved" else "firing",
            "labels": a["labels"],
            "annotations": a["annotations"],
            "startsAt": rfc3339(a["starts_at"]),
            "endsAt": rfc3339(a["ends_at"] if a["status"] == "resolved" else None),
            "generatorURL": a["generator_url"],
            "fingerprint": a["fingerprint"],
            "role": a["role"],
            "muted": a["muted"],
        }
        for a in alerts
    ]
    firing = incident.state.active
    document = {
        "version": "4",
        "groupKey": incident.key,
        "truncatedAlerts": 0,
        "status": "firing" if firing else "resolved",
        "receiver": receiver,
        "groupLabels": dict(incident.group_labels),
        "commonLabels": _common([e["labels"] for e in entries]),
        "commonAnnotations": _common([e["annotations"] for e in entries]),
        "externalURL": "",
        "alerts": entries,
        "incident": incident.as_json(),
        "event": event.as_json(),
        "idempotencyKey": idempotency_key(incident.id, event.seq, page),
    }
    if page is not None:
        document["recipient"] = page.recipient()
    return document


def _common(maps: Sequence[dict[str, str]]) -> dict[str, str]:
    """The pairs every one of `maps` has, in the first one's order."""
    if not maps:
        return {}
    # Narrowed map by map: a generator per key (all(...)) cost 4 us for two alerts' labels,
    # twice per notification, a few percent of opening an incident in a storm.
    common = maps[0]
    for m in maps[1:]:
        common = {k: v for k, v in common.items() if m.get(k) == v}
    return dict(common) if common is maps[0] else common
