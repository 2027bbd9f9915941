"""Config of notifications (DESIGN.md §4): the route tree, what every receiver has (each
kind's own model sits beside its receiver), time intervals, acknowledge links.

    [route]                   receivers, group_by, group_wait, group_interval, repeat_interval
    [[route.routes]]          matchers, continue, receivers, ..., active/mute_time_intervals
    [[receivers]]             name, kind (one of watchd.notify.receivers.REGISTRY), ...
    [[notify.time_intervals]] name, times, weekdays, days_of_month, months, location
    [notify.ack_links]        base_url, key = {file = ...}, ttl

Grouping defaults differ from Alertmanager's (30s/5m): watchd's incidents already group alerts,
so by default each incident is its own notification group and changes go out at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from watchd.configbase import Strict, TimeZone
from watchd.durations import Duration
from watchd.matchers import Matchers
from watchd.secrets import SecretRef

_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class TimeInterval(Strict):
    """When a route is active or muted, as Alertmanager's time_intervals: every listed field
    must match (an empty list matches all). `times` are "HH:MM-HH:MM", `weekdays`
    "monday:friday" or "sunday", `days_of_month` and `months` "1:5" or "7" (negative days
    count from the month's end)."""

    name: str = Field(min_length=1)
    times: list[str] = []
    weekdays: list[str] = []
    days_of_month: list[str] = []
    months: list[str] = []
    location: TimeZone = "UTC"

    @field_validator("times")
    @classmethod
    def _times(cls, value: list[str]) -> list[str]:
        for text in value:
            found = _CLOCK.match(text)
            if found is None or text[6:] == "00:00" or text[:5] >= text[6:]:
                raise ValueError(f"expected a time range like 09:00-17:30, got {text!r}")
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[str]) -> list[str]:
        for text in value:
            for part in text.lower().split(":"):
                if part not in WEEKDAYS:
                    raise ValueError(f"expected weekdays like monday:friday, got {text!r}")
        return value

    @field_validator("days_of_month", "months")
    @classmethod
    def _ranges(cls, value: list[str]) -> list[str]:
        for text in value:
            if not re.fullmatch(r"-?\d+(:-?\d+)?", text):
                raise ValueError(f"expected a number or a range like 1:5, got {text!r}")
        return value


class RouteConfig(Strict):
    """A node of the route tree. Children inherit what they leave unset; the root's unset
    `receivers` mean every configured receiver (so a config without [route] notifies all)."""

    matchers: Matchers = []
    receivers: list[str] | None = None
    continue_: bool = Field(default=False, alias="continue")
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    active_time_intervals: list[str] = []
    mute_time_intervals: list[str] = []
    routes: list[RouteConfig] = []

    # Strict as its base (pydantic merges the settings); `continue` is a keyword in Python, so
    # the field is `continue_` and takes its key by alias, or by name when built in code.
    model_config = ConfigDict(populate_by_name=True)


class TlsOptions(Strict):
    """TLS for HTTP receivers: a private CA, a client certificate, or (tests only) no checks."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure_skip_verify: bool = False


class ReceiverBase(Strict):
    """What every `[[receivers]]` table has; each kind's model (next to its receiver, see
    watchd.notify.receivers.REGISTRY) adds `kind` and its own keys."""

    name: str = Field(min_length=1)
    timeout: Duration = 10.0
    max_age: Duration = 86400.0
    backoff_initial: Duration = 1.0
    backoff_max: Duration = 300.0
    # Requests at once to this receiver. 16: a storm's outcomes are written 16 to a transaction
    # (4 took twice the CPU per notification and three times as long, bench/notify_storm.py).
    concurrency: int = Field(default=16, ge=1, le=64)
    send_resolved: bool = True
    # The person or address this receiver reaches (a pager, one person's chat), signed into its
    # acknowledge links so that an acknowledgement through them is recorded as by that person.
    recipient: str = ""

    def address(self) -> str:
        """Whom this receiver reaches, for its ack links; "" when it reaches a team or channel."""
        return self.recipient

    def problems(self, base: Path) -> Iterator[tuple[str, str]]:
        """Problems no single key shows (templates that do not compile), as (key, reason)
        for check-config; `base` anchors relative paths. None by default."""
        return iter(())


class HttpReceiverBase(ReceiverBase):
    """What the HTTP receivers (webhook, ticket, chat) have besides the common keys."""

    headers: dict[str, str] = {}
    # Header values that are credentials (API tokens in a product's own scheme), read from a
    # file or the environment when sent, never written in the config.
    secret_headers: dict[str, SecretRef] = {}
    bearer_token: SecretRef | None = None
    basic_user: str = ""
    basic_password: SecretRef | None = None
    tls: TlsOptions = TlsOptions()

    @model_validator(mode="after")
    def _auth(self) -> Any:
        if self.bearer_token is not None and self.basic_user:
            raise ValueError("expected either bearer_token or basic_user/basic_password, not both")
        if bool(self.basic_user) != (self.basic_password is not None):
            raise ValueError("basic_user and basic_password go together")
        return self


class AckLinks(Strict):
    """Signed, expiring acknowledge URLs in notifications: `base_url` is how operators reach
    watchd's API (its /ack/ route), `key` the HMAC key (a file or environment variable)."""

    base_url: str = Field(pattern=r"^https?://")
    key: SecretRef
    ttl: Duration = 86400.0


class NotifyConfig(Strict):
    time_intervals: list[TimeInterval] = []
    ack_links: AckLinks | None = None
    repeat_check_interval: Duration = 30.0
