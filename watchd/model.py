"""Value types that cross module boundaries: samples, check results, alerts.

Everything here is immutable (frozen slotted dataclasses, a named tuple for Sample): stages take values and return new ones, they never
mutate what they were given (DESIGN.md §1). Collectors import this module and nothing else
from watchd.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol

from pydantic_core import to_json

if TYPE_CHECKING:
    from watchd.heartbeats import PingSource

Labels = Mapping[str, str]


class Status(enum.IntEnum):
    """The outcome of one check run; values are the Nagios plugin exit codes."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def is_ok(self) -> bool:
        return self is Status.OK


class Sample(NamedTuple):
    """One measured value: a metric name, its labels and a float value.

    `time` is seconds since the epoch; None means "when the check ran" and is filled in by
    the scheduler, so collectors need no clock.

    A named tuple, immutable like the frozen dataclass it was and four times cheaper to make
    (0.25 against 1.07 µs): an SNMP poll makes a hundred or more, twice each. The default
    labels are one shared empty mapping, never changed (Labels is read-only).
    """

    metric: str
    value: float
    labels: Labels = {}  # shared and read-only, see above
    time: float | None = None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a collector returns for one run: status, a one-line message and its samples.

    A collector's samples carry its own labels, and the result path adds the check's context
    (`check_labels`) to each. A collector that made them with the context already
    (`CheckContext.sample_labels` under its own labels) says so with `in_context`: its samples
    then go on as they are, without their time (taken as the run's start), instead of being
    made a second time (an SNMP poll makes about a hundred).
    """

    status: Status
    message: str
    samples: tuple[Sample, ...] = ()
    in_context: bool = False


def check_labels(item: str, check: str, labels: Labels) -> dict[str, str]:
    """The labels every sample of a check carries: the check's own, its item and its name."""
    return {**labels, "item": item, "check": check}


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a collector knows of the check it serves: the item, the check and their labels."""

    item: str
    check: str
    address: str = ""
    labels: Labels = field(default_factory=dict)
    timeout: float = 10.0
    # The stored pings of heartbeat checks, read by their key "item/check" (None: no store,
    # as in `watchd probe`).
    pings: PingSource | None = None
    # check_labels(item, check, labels), worked out once: see CheckResult.in_context.
    sample_labels: Labels = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sample_labels", check_labels(self.item, self.check, self.labels))


class Collector(Protocol):
    """A collector: built once from its typed config, asked to collect on every run.

    The scheduler owns interval, jitter, timeout, retries and concurrency; `collect` only
    measures. It returns a CheckResult for every outcome it understands (a refused connection
    is CRITICAL, not an exception); an exception escaping `collect` becomes UNKNOWN.
    """

    kind: ClassVar[str]

    async def collect(self, ctx: CheckContext) -> CheckResult: ...

    async def aclose(self) -> None: ...


class CollectorClass(Protocol):
    """What the registry holds: a collector class with its kind and its pydantic config model."""

    kind: str
    Config: type[Any]

    def __call__(self, config: Any) -> Collector: ...


def counter_increase(
    previous: float, current: float, *, bits: int | None = None, reset: bool = False
) -> float:
    """How much a monotonic counter grew between two readings.

    A reading lower than the previous one is either a wrap of a fixed-width counter (SNMP
    Counter32/Counter64: `bits` 32 or 64) or a reset (device restart, `reset` True when the
    device uptime went back). A reset is not a wrap: after a reset the counter started from
    zero, so the increase is the current value. Without a width a drop is taken as a reset,
    as Prometheus does.
    """
    if current >= previous and not reset:
        return current - previous
    if reset or bits is None or previous >= 1 << bits:
        return current
    return current + (1 << bits) - previous


class AlertStatus(enum.StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


def fingerprint(labels: Labels) -> str:
    """A stable hash of an alert's sorted labels: equal label sets, equal fingerprints.

    The first 16 hex digits of the SHA-256 of the labels as compact JSON, sorted pairs:
    `[["alertname","Down"],["job","node"]]`. Stored fingerprints and idempotency keys are
    these values, so the text must not change.
    """
    # pydantic-core's encoder writes that text (compact, UTF-8, the same escapes as json.dumps
    # with ensure_ascii off) in one call: ~2 us per 8-label set, against ~2.8 joining json's
    # escaped strings and ~6.5 with json's encoder, cheap enough that nothing is cached. A
    # cache of label sets (16,384 here once) kept a few objects from every part of an alert
    # storm and so pinned all the memory the storm was parsed in (issue 19).
    return hashlib.sha256(to_json(sorted(labels.items()))).hexdigest()[:16]


# The sources of alerts made inside watchd. A check's own alert is the only one that can make
# its item down for topology, and neither resolves by timeout: outside senders may not use them.
CHECK_SOURCE = "check"
INTERNAL_SOURCES = frozenset({CHECK_SOURCE, "rules"})


# watchd's alerts about itself (source "watchd": NotificationsFailing, PollerOverloaded) are sent
# again every SELF_ALERT_REFRESH while true, each with an end SELF_ALERT_VALID ahead: should watchd
# stop or restart (its monitors start empty), a stale one resolves by itself instead of firing
# forever, while a running watchd never lets a true one lapse.
SELF_ALERT_REFRESH = 60.0
SELF_ALERT_VALID = 3 * SELF_ALERT_REFRESH


# The annotation a check or rule sets to "true" on its alerts while it flaps (DESIGN.md §4):
# the incident layer records their changes but notifies only when flapping starts and stops.
# Only watchd's own sources are believed: their state machines always send the stop, while an
# outside sender that marked an alert and went away would hold its incident forever.
FLAPPING = "flapping"


def is_flapping(annotations: Mapping[str, Any], source: str) -> bool:
    """Whether an alert (its annotations and source) says its check or rule is flapping."""
    return source in INTERNAL_SOURCES and annotations.get(FLAPPING) == "true"


@dataclass(frozen=True, slots=True, init=False)
class Alert:
    """An alert as it enters the alert pipeline, from a check, a rule or the outside.

    `labels` identify it (the fingerprint is their hash); `annotations` describe it.
    Times are seconds since the epoch; `ends_at` None means "until told otherwise".
    """

    labels: Labels
    status: AlertStatus
    starts_at: float
    annotations: Labels = field(default_factory=dict)
    ends_at: float | None = None
    source: str = "watchd"
    generator_url: str = ""
    # Computed once: the pipeline asks for it several times per alert (dedup, members, logs).
    fingerprint: str = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        labels: Labels,
        status: AlertStatus,
        starts_at: float,
        annotations: Labels | None = None,
        ends_at: float | None = None,
        source: str = "watchd",
        generator_url: str = "",
    ) -> None:
        # Not dataclass's __init__: it sets each field of a frozen class with a call of
        # object.__setattr__, which on Python 3.11 makes two argument tuples (~0.2 us a field,
        # 1.9 us an alert); one setter bound to the instance saves ~0.5 us of that, for every
        # alert ingested (an alert storm makes tens of thousands).
        put = object.__setattr__.__get__(self)
        put("labels", labels)
        put("status", status)
        put("starts_at", starts_at)
        put("annotations", {} if annotations is None else annotations)
        put("ends_at", ends_at)
        put("source", source)
        put("generator_url", generator_url)
        put("fingerprint", fingerprint(labels))

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def flapping(self) -> bool:
        return is_flapping(self.annotations, self.source)

    def as_json(self) -> dict[str, Any]:
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "status": self.status.value,
            "startsAt": self.starts_at,
            "endsAt": self.ends_at,
            "source": self.source,
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
        }


class AlertSink(Protocol):
    """The entry point of the alert pipeline: rules, checks and ingestion submit alerts here.

    `submit` returns once the alerts are durably stored: callers acknowledge upstream
    (HTTP 2xx, MQTT ack) only after it returns.
    """

    async def submit(self, alerts: tuple[Alert, ...]) -> None: ...
