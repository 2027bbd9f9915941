"""Config of notifications (DESIGN.md §4): the route tree, receivers per kind, time intervals,
acknowledge links.

    [route]                   receivers, group_by, group_wait, group_interval, repeat_interval
    [[route.routes]]          matchers, continue, receivers, ..., active/mute_time_intervals
    [[receivers]]             name, kind = log | webhook | ticket | email | chat | mqtt | exec
    [[notify.time_intervals]] name, times, weekdays, days_of_month, months, location
    [notify.ack_links]        base_url, key = {file = ...}, ttl

Grouping defaults differ from Alertmanager's (30s/5m): watchd's incidents already group alerts,
so by default each incident is its own notification group and changes go out at once.
"""

from __future__ import annotations

import re
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from watchd.configbase import Strict
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
    location: str = "UTC"

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

    @field_validator("location")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (expected e.g. UTC)") from exc
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


class _Receiver(Strict):
    name: str = Field(min_length=1)
    timeout: Duration = 10.0
    max_age: Duration = 86400.0
    backoff_initial: Duration = 1.0
    backoff_max: Duration = 300.0
    concurrency: int = Field(default=4, ge=1, le=64)
    send_resolved: bool = True


class LogReceiver(_Receiver):
    kind: Literal["log"] = "log"


class _HttpReceiver(_Receiver):
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


class WebhookReceiver(_HttpReceiver):
    """POST the Alertmanager-v4-compatible JSON document plus the incident to `url`."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    hmac_key: SecretRef | None = None


class TicketRequest(Strict):
    """One templated HTTP call; url, header values and body are Jinja2 templates."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str = Field(min_length=1)
    headers: dict[str, str] = {}
    secret_headers: dict[str, SecretRef] = {}  # for this call only, e.g. a login token
    body: str = ""


class TicketReceiver(_HttpReceiver):
    """A ticketing system: one ticket per incident, created once, updated and closed."""

    kind: Literal["ticket"]
    open: TicketRequest
    update: TicketRequest
    acknowledge: TicketRequest | None = None
    resolve: TicketRequest | None = None
    close: TicketRequest | None = None
    lookup: TicketRequest | None = None
    # A login call made before the others when the API needs a session (GLPI's initSession);
    # the value at `session_path` of its answer is `session` in the other templates.
    session: TicketRequest | None = None
    session_path: str = ""
    id_path: str = Field(default="id", min_length=1)
    lookup_id_path: str = ""
    correlation: str = "watchd-incident-{{ incident.id }}"
    on_resolve: Literal["close", "comment"] = "close"


class EmailReceiver(_Receiver):
    kind: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str = ""
    password: SecretRef | None = None
    sender: str = Field(min_length=3)
    to: list[str] = Field(min_length=1)
    subject_template: Path | None = None
    text_template: Path | None = None
    html_template: Path | None = None
    tls: TlsOptions = TlsOptions()


class ChatReceiver(_HttpReceiver):
    """Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat) or Microsoft Teams."""

    kind: Literal["chat"]
    url: str = Field(pattern=r"^https?://")
    flavor: Literal["slack", "teams", "teams_adaptive"] = "slack"
    template: Path | None = None


class MqttReceiver(_Receiver):
    kind: Literal["mqtt"]
    host: str = Field(min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    topic: str = Field(default="watchd/incidents/events", min_length=1)
    state_topic: str = ""  # e.g. "watchd/incidents/{id}/state": retained, one per incident
    username: str = ""
    password: SecretRef | None = None
    tls: bool = False
    ca_file: Path | None = None


class ExecReceiver(_Receiver):
    """Run `command` (an argument list, no shell) with the incident as WATCHD_* variables."""

    kind: Literal["exec"]
    command: list[str] = Field(min_length=1)
    env: dict[str, str] = {}
    cwd: Path | None = None


def _receiver_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "log"))
    return str(getattr(value, "kind", "log"))


RECEIVER_KINDS = ("log", "webhook", "ticket", "email", "chat", "mqtt", "exec")

AnyReceiver = Annotated[
    Union[  # noqa: UP007  (a tagged union needs the Union spelling)
        Annotated[LogReceiver, Tag("log")],
        Annotated[WebhookReceiver, Tag("webhook")],
        Annotated[TicketReceiver, Tag("ticket")],
        Annotated[EmailReceiver, Tag("email")],
        Annotated[ChatReceiver, Tag("chat")],
        Annotated[MqttReceiver, Tag("mqtt")],
        Annotated[ExecReceiver, Tag("exec")],
    ],
    Discriminator(
        _receiver_kind,
        custom_error_type="receiver_kind",
        custom_error_message=f"unknown receiver kind (expected one of: {', '.join(RECEIVER_KINDS)})",
    ),
]


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
