"""watchd's alerts and silences in the shapes of Alertmanager's OpenAPI spec (api/v2, 0.25):
gettableAlert, gettableSilence, postableSilence and its matchers, RFC 3339 times.

A watchd silence keeps its matchers as strings (`team="db"`); Alertmanager's are objects
(`{"name": "team", "value": "db", "isRegex": false, "isEqual": true}`). Both say the same, so
one silence shows in both APIs and mutes the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from watchd.matchers import Matcher, split_matcher
from watchd.model import Alert
from watchd.pipeline.current import CurrentAlert
from watchd.pipeline.silences import Silence

NO_TIME = "0001-01-01T00:00:00.000Z"  # Go's zero time.Time: "not set"
_OPS = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}


class AmMatcher(BaseModel):
    """One matcher of Alertmanager's silence (`matcher` in its spec)."""

    # Unknown fields are ignored, as Alertmanager's go-swagger server does: clients (Grafana,
    # Karma) send fields of newer versions.
    model_config = ConfigDict(extra="ignore")

    name: str = Field(min_length=1)
    value: str
    isRegex: bool
    isEqual: bool = True

    def as_text(self) -> str:
        """The matcher as watchd writes it (`name!~"value"`)."""
        return str(Matcher(self.name, _OPS[(self.isRegex, self.isEqual)], self.value))


class PostableSilence(BaseModel):
    """The body of `POST /api/v2/silences`: a new silence, or a new version of silence `id`."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    matchers: list[AmMatcher] = Field(min_length=1)
    startsAt: datetime
    endsAt: datetime
    createdBy: str = Field(min_length=1)
    comment: str = Field(min_length=1)


def am_time(t: float) -> str:
    """An epoch time as RFC 3339 in UTC with milliseconds, as Alertmanager writes times."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def am_matcher(text: str) -> dict[str, Any]:
    """A watchd matcher string as Alertmanager's matcher object."""
    label, op, value = split_matcher(text)
    return {
        "name": label,
        "value": value,
        "isRegex": op in ("=~", "!~"),
        "isEqual": op in ("=", "=~"),
    }


def silence_json(silence: Silence, now: float) -> dict[str, Any]:
    """A silence as Alertmanager's gettableSilence. watchd keeps no separate update time: a
    silence changes only by ending early, so updatedAt is that end, else its creation."""
    ended_early = silence.ends_at <= now and silence.ends_at > silence.created_at
    return {
        "id": silence.id,
        "status": {"state": silence.state(now)},
        "updatedAt": am_time(silence.ends_at if ended_early else silence.created_at),
        "matchers": [am_matcher(m) for m in silence.matchers],
        "startsAt": am_time(silence.starts_at),
        "endsAt": am_time(silence.ends_at),
        "createdBy": silence.created_by,
        "comment": silence.comment,
    }


def unprocessed_json(alert: Alert, receivers: list[str], received_at: float) -> dict[str, Any]:
    """An alert answered and not taken in yet (watchd's ingest journal in a storm) as
    Alertmanager's gettableAlert in state "unprocessed", as Alertmanager shows one it has
    received and not yet processed."""
    status = {"state": "unprocessed", "silencedBy": [], "inhibitedBy": []}
    return _gettable(alert, receivers, received_at, status)


def alert_json(alert: CurrentAlert, receivers: list[str]) -> dict[str, Any]:
    """A current alert as Alertmanager's gettableAlert; `receivers` are those its labels route
    to. Every suppressed alert names what suppresses it: maintenance, changes and flapping in
    `silencedBy`, topology in `inhibitedBy` (see CurrentAlert)."""
    status = {
        "state": "suppressed" if alert.suppressed else "active",
        "silencedBy": list(alert.silenced_entries),
        "inhibitedBy": list(alert.inhibited_entries),
    }
    return _gettable(alert, receivers, alert.updated_at, status)


def _gettable(
    alert: Alert | CurrentAlert, receivers: list[str], updated_at: float, status: dict[str, Any]
) -> dict[str, Any]:
    """Alertmanager's gettableAlert of `alert` with `status`. An alert with no end (watchd's own
    check alerts fire until they recover) has Go's zero time as endsAt, as Alertmanager writes
    an unset time: the spec requires the field."""
    return {
        "labels": alert.labels,
        "annotations": alert.annotations,
        "receivers": [{"name": name} for name in receivers],
        "fingerprint": alert.fingerprint,
        "startsAt": am_time(alert.starts_at),
        "updatedAt": am_time(updated_at),
        "endsAt": NO_TIME if alert.ends_at is None else am_time(alert.ends_at),
        "generatorURL": alert.generator_url,
        "status": status,
    }
