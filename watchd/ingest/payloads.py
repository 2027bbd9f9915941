"""Ingestion payloads: Alertmanager API v2 alerts and generic events, validated into Alerts.

Two shapes arrive from outside, by HTTP or MQTT:

* an Alertmanager API v2 "postable alert", exactly as Prometheus sends it:
  `{"labels": {...}, "annotations": {...}, "startsAt": "...", "endsAt": "...",
  "generatorURL": "..."}` — times are RFC 3339, "0001-01-01T00:00:00Z" means unset;
* a generic event: `{"source", "item", "check" | "alertname", "severity",
  "status": "firing" | "resolved", "summary", "description"?, "labels"?, "time"?}`.

Validation is strict (unknown fields are errors) and every problem names the alert and the
field: `alert 3: labels: must contain at least one label`. Each alert of a list is judged
alone, as Alertmanager does: the valid ones are kept and the bad ones named, so one bad alert
never costs its neighbours (Prometheus drops a batch answered with 400 and retries a 5xx
forever). Text the store cannot keep (the NUL character, lone surrogates) and times outside
1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z are refused, never clamped: a value changed on
the way in would page about something the sender did not say.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    with_config,
)
from pydantic import model_validator as model_check
from pydantic_core import CoreConfig, ErrorDetails, SchemaValidator
from typing_extensions import TypedDict

from watchd import jsonbody
from watchd.model import INTERNAL_SOURCES, Alert, AlertStatus
from watchd.timestamps import EARLIEST, LATEST

SOURCE_ALERTMANAGER = "alertmanager-api"
EVENT_LABELS = frozenset({"alertname", "item", "severity"})
MAX_REPORTED = 10  # problems listed in one error message; the rest are counted


class PayloadError(Exception):
    """A payload that cannot be accepted; `problems` lists each as "<where>: <what>"."""

    def __init__(self, problems: list[str]) -> None:
        shown = "; ".join(problems[:MAX_REPORTED])
        more = len(problems) - MAX_REPORTED
        super().__init__(shown + (f" (and {more} more problems)" if more > 0 else ""))
        self.problems = problems


@dataclass(frozen=True)
class Parsed:
    """What a list-shaped payload holds: the valid alerts, and the bad ones' problems.

    `rejected` counts the alerts (or events) refused; `problems` names each "<where>: <what>".
    `where` names each kept alert as problems do ("alert 3", "event 0"); empty means
    "alert <position>" (a list where every alert was valid).
    """

    alerts: tuple[Alert, ...]
    problems: tuple[str, ...] = ()
    rejected: int = 0
    where: tuple[str, ...] = ()

    def strict(self) -> tuple[Alert, ...]:
        """All the alerts, or PayloadError if any was refused (all or nothing)."""
        if self.problems:
            raise PayloadError(list(self.problems))
        return self.alerts

    def message(self) -> str:
        """The problems as one sentence, saying what happened to the rest of the payload."""
        text = str(PayloadError(list(self.problems)))
        if not self.alerts:
            return text
        total = len(self.alerts) + self.rejected
        return f"{text}; the other {len(self.alerts)} of {total} were stored"

    def without(self, refused: Sequence[tuple[int, str]]) -> Parsed:
        """These, less the alerts the store refused: (position in `alerts`, the store's reason)."""
        gone = {position for position, _ in refused}
        named = self.where or tuple(f"alert {i}" for i in range(len(self.alerts)))
        problems = [f"{named[i]}: the store refused it: {reason}" for i, reason in refused]
        kept = [i for i in range(len(self.alerts)) if i not in gone]
        return Parsed(
            tuple(self.alerts[i] for i in kept),
            self.problems + tuple(problems),
            self.rejected + len(gone),
            tuple(named[i] for i in kept),
        )


RFC3339_EXAMPLE = "2024-05-01T12:00:00.000Z"
MIN_TIME, MAX_TIME = EARLIEST, LATEST  # 1970-01-01T00:00:00Z, 9999-12-31T23:59:59Z
TIME_RANGE = "1970-01-01T00:00:00Z .. 9999-12-31T23:59:59Z"
# The one character PostgreSQL text cannot hold (lone surrogates fail as "string_unicode").
NO_NUL = r"^[^\x00]*$"


def _rfc3339(value: Any) -> float | None:
    """RFC 3339 text to epoch seconds (Alertmanager takes times as text only)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"must be an RFC 3339 time such as {RFC3339_EXAMPLE}")
    return _parse_time(value)


def _event_time(value: Any) -> float | None:
    """RFC 3339 text or epoch seconds to epoch seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError("must be a finite number of seconds since the epoch")
        if not MIN_TIME <= value <= MAX_TIME:
            hint = " (seconds, not milliseconds)" if value > MAX_TIME else ""
            raise ValueError(
                f"{value!r} is not a time in {TIME_RANGE} as seconds since the epoch{hint}"
            )
        return float(value)
    return _rfc3339(value)


# A sender repeats the same few times (one endsAt per evaluation, each alert's startsAt)
# across a batch and across batches: parsing each once keeps time parsing off the hot path.
@lru_cache(maxsize=8192)
def _parse_time(text: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 time such as {RFC3339_EXAMPLE}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (add Z or an offset such as +02:00)")
    if parsed.year == 1:  # Go's time.Time{} as Prometheus and Alertmanager send it
        return None
    seconds = parsed.timestamp()
    if not MIN_TIME <= seconds <= MAX_TIME:  # e.g. 9999-12-31T23:59:59-23:59 is in year 10000
        raise ValueError(f"{text!r} is not in {TIME_RANGE}")
    return seconds


Time = Annotated[float | None, BeforeValidator(_rfc3339)]
EventTime = Annotated[float | None, BeforeValidator(_event_time)]
LABEL_PATTERN = "[a-zA-Z_][a-zA-Z0-9_]*"
# Checked in pydantic's core: the names of every label of every alert pass through here.
LabelName = Annotated[str, StringConstraints(pattern=f"^{LABEL_PATTERN}$")]
# Any other text from outside: a label value, an annotation, an event's fields.
Text = Annotated[str, StringConstraints(pattern=NO_NUL)]


def _without_empty_values(labels: dict[str, str]) -> dict[str, str]:
    # An empty value is the same as no label in Prometheus; drop it so fingerprints agree.
    # (Checked first: rebuilding every alert's labels cost more than validating them.)
    kept = labels
    if "" in labels.values():
        kept = {name: value for name, value in labels.items() if value != ""}
    if not kept:
        raise ValueError("must contain at least one label")
    return kept


@with_config(ConfigDict(extra="forbid"))
class PostableAlert(TypedDict):
    """One alert of an Alertmanager API v2 `postableAlerts` list, keyed as on the wire.

    A TypedDict rather than a model: pydantic's core validates it straight into a dict,
    the cheapest shape on the hottest path of ingestion.
    """

    labels: Annotated[dict[LabelName, Text], AfterValidator(_without_empty_values)]
    annotations: NotRequired[dict[LabelName, Text]]
    startsAt: NotRequired[Time]
    endsAt: NotRequired[Time]
    generatorURL: NotRequired[Text]


def _in_order(alert: PostableAlert) -> PostableAlert:
    starts, ends = alert.get("startsAt"), alert.get("endsAt")
    if starts is not None and ends is not None and ends < starts:
        raise ValueError("endsAt: must not be before startsAt")
    return alert


_Postable = Annotated[PostableAlert, AfterValidator(_in_order)]
_ALERT = TypeAdapter(_Postable)
# pydantic's JSON parser keeps up to 16,384 recent strings by default; label values from a storm
# of distinct label sets, kept one here and one there, pinned pymalloc arenas of the whole storm
# (100,000 label sets: ~55 of 1 MiB each after everything was freed; issue 19). Keys (label
# names) repeat and stay cached; values are made afresh, for no measurable CPU.
_CACHE_STRINGS: Literal["keys"] = "keys"
_ALERT_LIST = TypeAdapter(list[_Postable], config=ConfigDict(cache_strings=_CACHE_STRINGS))


def _without_nul_check(schema: Any) -> Any:
    """pydantic-core's `schema` (dicts and lists) without the NUL pattern on its strings."""
    if isinstance(schema, dict):
        return {
            key: _without_nul_check(value)
            for key, value in schema.items()
            if not (key == "pattern" and value == NO_NUL)
        }
    if isinstance(schema, list):
        return [_without_nul_check(value) for value in schema]
    return schema


# JSON holds a NUL only as the escape \u0000 (a raw control character is not JSON): a body
# without that escape needs no NUL check on each string, ~0.5 us per alert of the ~4 us its
# validation took. A body with it (or with the text "\\u0000", escaped) takes _ALERT_LIST.
_ALERT_LIST_NO_NUL = SchemaValidator(
    _without_nul_check(_ALERT_LIST.core_schema), CoreConfig(cache_strings=_CACHE_STRINGS)
)


def to_alert(posted: PostableAlert, now: float, resolve_timeout: float) -> Alert:
    """The Alert a posted alert stands for at `now`: firing until endsAt, resolved after it.

    An alert without endsAt is firing and ends `resolve_timeout` from now unless it is sent
    again, as Alertmanager does.
    """
    ends = posted.get("endsAt")
    if ends is None:
        status, ends = AlertStatus.FIRING, now + resolve_timeout
    elif ends > now:
        status = AlertStatus.FIRING
    else:
        status = AlertStatus.RESOLVED
    starts_at = posted.get("startsAt")
    if starts_at is None:
        starts_at = min(now, ends)
    labels, annotations = posted["labels"], posted.get("annotations")
    generator_url = posted.get("generatorURL", "")
    # In Alert's order, without keywords: a call with seven keywords cost ~0.3 us more per
    # alert ingested (3,300 instructions, 4 % of parsing one).
    return Alert(labels, status, starts_at, annotations, ends, SOURCE_ALERTMANAGER, generator_url)


class Event(BaseModel):
    """A generic event: something named on an item is firing or resolved."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Text = Field(min_length=1)
    item: Text = Field(min_length=1)
    check: Text | None = Field(default=None, min_length=1)
    alertname: Text | None = Field(default=None, min_length=1)
    severity: Text = Field(min_length=1)
    status: Literal["firing", "resolved"]
    summary: Text = Field(min_length=1)
    description: Text | None = None
    labels: dict[LabelName, Text] = {}
    time: EventTime = None

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        reserved = sorted(EVENT_LABELS & labels.keys())
        if reserved:
            raise ValueError(
                f"{', '.join(reserved)} must not be given here: the event's own fields set them"
            )
        return {name: value for name, value in labels.items() if value != ""}

    @field_validator("source")
    @classmethod
    def _source(cls, source: str) -> str:
        # A check's own alert makes its item down for topology: no sender may pass for one.
        if source in INTERNAL_SOURCES:
            raise ValueError(f"{source!r} is reserved for alerts made inside watchd")
        return source

    @model_check(mode="after")
    def _named(self) -> Event:
        if (self.check is None) == (self.alertname is None):
            raise ValueError("give exactly one of 'check' or 'alertname'")
        return self

    def to_alert(self, now: float) -> Alert:
        """The Alert this event stands for; a firing event holds until its resolved event."""
        at = self.time if self.time is not None else now
        name = self.check if self.check is not None else self.alertname
        annotations = {"summary": self.summary}
        if self.description:
            annotations["description"] = self.description
        firing = self.status == "firing"
        return Alert(
            labels={
                **self.labels,
                "alertname": str(name),
                "item": self.item,
                "severity": self.severity,
            },
            status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
            starts_at=at,
            annotations=annotations,
            ends_at=None if firing else at,
            source=self.source,
        )


def parse_alertmanager(body: bytes, *, now: float, resolve_timeout: float) -> Parsed:
    """An Alertmanager API v2 alert list (the body of POST /api/v2/alerts) as Alerts.

    The body is parsed and validated in one pass by pydantic's core: this is the hot path of
    ingestion, where Python-level parsing cost more than storing the alerts. Only a list with
    a bad alert is parsed again, alert by alert, to keep the good ones. A body that is not a
    JSON list raises PayloadError.
    """
    try:
        validate = (
            _ALERT_LIST.validate_json if b"\\u0000" in body else _ALERT_LIST_NO_NUL.validate_json
        )
        posted: list[PostableAlert] = validate(body)
    except ValidationError:
        return _alerts_one_by_one(body, now, resolve_timeout)
    return Parsed(tuple(to_alert(alert, now, resolve_timeout) for alert in posted))


def _alerts_one_by_one(body: bytes, now: float, resolve_timeout: float) -> Parsed:
    data = json_body(body)
    if not isinstance(data, list):
        raise PayloadError([f"the body must be a JSON list of alerts, not {_kind(data)}"])
    return _each(
        data,
        lambda i, raw: _alertmanager(f"alert {i}", raw, now, resolve_timeout),
        "alert {}".format,
    )


def json_body(body: bytes | str) -> Any:
    """`body` parsed as JSON, or PayloadError saying why it is not JSON (a 5,000-digit integer
    is one such reason; NaN and Infinity pass, to be refused per field, naming it)."""
    try:
        return jsonbody.loads(body, constants=True)
    except jsonbody.JsonInputError as bad:
        raise PayloadError([f"body is not valid JSON: {bad.reason}"]) from None


def parse_events(data: Any, *, now: float) -> Parsed:
    """One event object or a list of them (the body of POST /api/v1/events) as Alerts.

    Each event of a list is judged alone (see the module doc); a body that is neither an
    object nor a list, or a single bad event, raises PayloadError.
    """
    if isinstance(data, dict):
        return Parsed((_event("event", data, now),), where=("event",))
    if not isinstance(data, list):
        raise PayloadError(
            [f"the body must be an event object or a list of them, not {_kind(data)}"]
        )
    return _each(data, lambda i, raw: _event(f"event {i}", raw, now), "event {}".format)


def parse_any(data: Any, *, now: float, resolve_timeout: float) -> tuple[Alert, ...]:
    """Alerts from a payload in any accepted shape, all of them or PayloadError (see `split_any`)."""
    return split_any(data, now=now, resolve_timeout=resolve_timeout).strict()


def split_any(data: Any, *, now: float, resolve_timeout: float) -> Parsed:
    """Alerts from a payload in any accepted shape, told apart by their fields; each judged alone.

    A list holds Alertmanager alerts or events; an object is one of either. An object with an
    "item" field is an event, any other is an Alertmanager alert (it needs "labels").
    """
    items = data if isinstance(data, list) else [data]

    def where(i: int) -> str:
        kind = "event" if isinstance(items[i], dict) and "item" in items[i] else "alert"
        return f"{kind} {i}" if items is data else kind

    def one(i: int, raw: Any) -> Alert:
        if where(i).startswith("event"):
            return _event(where(i), raw, now)
        return _alertmanager(where(i), raw, now, resolve_timeout)

    return _each(items, one, where)


def _each(
    items: list[Any], parse: Callable[[int, Any], Alert], where: Callable[[int], str]
) -> Parsed:
    problems: list[str] = []
    alerts: list[Alert] = []
    named: list[str] = []
    for i, raw in enumerate(items):
        try:
            alerts.append(parse(i, raw))
            named.append(where(i))
        except PayloadError as exc:
            problems.extend(exc.problems)
    return Parsed(tuple(alerts), tuple(problems), len(items) - len(alerts), tuple(named))


def _alertmanager(where: str, raw: Any, now: float, resolve_timeout: float) -> Alert:
    try:
        return to_alert(_ALERT.validate_python(raw), now, resolve_timeout)
    except ValidationError as exc:
        raise PayloadError(describe(where, exc)) from None


def _event(where: str, raw: Any, now: float) -> Alert:
    try:
        return Event.model_validate(raw).to_alert(now)
    except ValidationError as exc:
        raise PayloadError(describe(where, exc)) from None


_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "dict_type": "must be an object of string values",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "literal_error": "must be one of 'firing' or 'resolved'",
    "string_too_short": "must not be empty",
    "string_unicode": "must be valid Unicode text (it holds a lone surrogate such as \\ud800)",
}


def describe(where: str, exc: ValidationError) -> list[str]:
    """Pydantic's errors as "<where>: <field.path>: <problem>" sentences a sender can act on."""
    return [_sentence(where, error) for error in exc.errors(include_url=False)]


def _sentence(where: str, error: ErrorDetails) -> str:
    loc, kind, value = error["loc"], error["type"], error.get("input")
    if kind == "string_pattern_mismatch" and loc[-1:] == ("[key]",):
        # A bad label or annotation name: say which, at the level of its mapping.
        noun = "annotation" if loc[-3] == "annotations" else "label"
        loc, problem = loc[:-2], f"{noun} name {value!r} must match {LABEL_PATTERN}"
    elif kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == NO_NUL:
        problem = "must not contain the NUL character (\\u0000)"
    elif kind == "dict_type" and not loc:
        problem = "must be a JSON object"
    elif kind == "extra_forbidden":
        problem = "is not a known field"
    elif kind in ("value_error", "assertion_error"):
        problem = str(error["msg"]).removeprefix("Value error, ")
    else:
        problem = _MESSAGES.get(kind, str(error["msg"]).lower())
    path = ".".join(str(part) for part in loc)
    return f"{where}: {path}: {problem}" if path else f"{where}: {problem}"


def _kind(data: Any) -> str:
    if isinstance(data, dict):
        return "an object"
    if isinstance(data, str):
        return "a string"
    if isinstance(data, bool):
        return "a boolean"
    if isinstance(data, int | float):
        return "a number"
    if data is None:
        return "null"
    return type(data).__name__
