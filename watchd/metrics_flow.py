"""The metrics operators alert on: alerts ingested, notifications sent, the outbox's backlog.

They live on the daemon's registry (watchd.metrics.Metrics.registry), beside the check
instruments. The counters are bumped on hot paths (thousands of alerts a second in a storm),
so each labelled child is looked up once and kept; the outbox gauges are read from the store
at scrape time (`refresh`), by one indexed query, never on the delivery path.
"""

from __future__ import annotations

import asyncio
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from watchd.logging import get_logger
from watchd.model import Alert, AlertSink
from watchd.store.errors import StoreError

log = get_logger("watchd.metrics")

# The alert sources watchd makes itself, by the channel they are counted under; an alert from
# watchd's other own producers (self-monitoring, burn rates, cluster zones) counts as "watchd".
# The channel, not the alert's own `source` (a generic event names any source it likes), is
# the label: its values stay few.
CHANNEL_OF_SOURCE = {"check": "checks", "rules": "rules", "snmptrap": "trap"}
OWN_CHANNEL = "watchd"
# From a local receiver (a log, a capture server: 1 ms) to a webhook's default timeout (10 s)
# and the grace after it.
SEND_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
# How long a scrape waits for the outbox figures before it shows the previous ones.
REFRESH_TIMEOUT = 2.0


class Children:
    """The labelled children of one metric, each looked up once and kept: prometheus_client's
    labels() validates and locks on every call, a few µs on paths taken thousands of times a
    second (alerts in a storm, check runs)."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        """The child for these label values, in the metric's label order."""
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child

    def remove(self, *values: str) -> None:
        """Drop the child and its series (a check that no longer exists)."""
        if self._children.pop(values, None) is not None:
            self._metric.remove(*values)


@dataclass(frozen=True, slots=True)
class OutboxFigures:
    """The outbox's backlog: rows not yet final, the age of the oldest, and how long the row
    due longest ago has been due (0 when none is due)."""

    pending: int
    oldest_age: float
    oldest_due: float


class FlowMetrics:
    """Counters of alerts and notifications, and the outbox gauges, on `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry
        self._ingested = Counter(
            "watchd_alerts_ingested",
            "Alerts submitted to the pipeline, by channel (http, mqtt, trap, checks, rules, "
            "watchd) and outcome: stored; refused (invalid, or failing alone; not retried); "
            "error (the store was unavailable: the sender or watchd's buffer retries).",
            ["source", "outcome"],
            registry=registry,
        )
        self._notifications = Counter(
            "watchd_notifications",
            "Notification attempts by receiver and outcome: delivered, skipped "
            "(send_resolved = false), retried, failed (refused, not retried), expired.",
            ["receiver", "outcome"],
            registry=registry,
        )
        self._send_seconds = Histogram(
            "watchd_notification_send_seconds",
            "Time a receiver took to answer one attempt (one row, or a batch receiver's rows).",
            ["receiver"],
            buckets=SEND_BUCKETS,
            registry=registry,
        )
        self._outbox_pending = Gauge(
            "watchd_outbox_pending",
            "Outbox rows not delivered yet (pending or being delivered), read at scrape time.",
            registry=registry,
        )
        self._outbox_oldest = Gauge(
            "watchd_outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox row not delivered yet (0 when there is none).",
            registry=registry,
        )
        self._outbox_due = Gauge(
            "watchd_outbox_oldest_due_seconds",
            "How long the outbox row due longest ago has been waiting to be sent: the "
            "dispatcher's lag (rows held behind a retried one in their chain count too).",
            registry=registry,
        )
        self._incidents = Counter(
            "watchd_incidents",
            "Incidents opened, reopened and resolved (by hand or when their alerts resolved) "
            "by this node, counted when the change is committed.",
            ["event"],
            registry=registry,
        )
        self._journal_backlog = Gauge(
            "watchd_ingest_journal_alerts",
            "Alerts accepted over HTTP (answered 200) and not taken in by the pipeline yet.",
            registry=registry,
        )
        self._journal_lag = Gauge(
            "watchd_ingest_journal_lag_seconds",
            "How long the oldest of them has waited to be taken in (0 when none waits).",
            registry=registry,
        )
        self._ingested_by = Children(self._ingested)
        self._incidents_by = Children(self._incidents)
        self._sent_by = Children(self._notifications)
        self._send_seconds_by = Children(self._send_seconds)
        self._outbox: Callable[[], Awaitable[OutboxFigures]] | None = None

    def count_ingested(self, source: str, outcome: str, n: int) -> None:
        """`n` alerts of one channel had `outcome` (stored, refused or error)."""
        self._ingested_by(source, outcome).inc(n)

    def count_incidents(self, events: Mapping[str, int]) -> None:
        """A committed transaction's incident events by kind (opened, reopened, resolved)."""
        for kind, n in events.items():
            self._incidents_by(kind).inc(n)

    def count_notifications(
        self, receiver: str, outcome: str, n: int = 1, seconds: float | None = None
    ) -> None:
        """`n` notification rows of `receiver` had `outcome` (delivered, skipped, retried,
        failed or expired), after `seconds` waiting for the receiver (None: not called)."""
        self._sent_by(receiver, outcome).inc(n)
        if seconds is not None:
            self._send_seconds_by(receiver).observe(seconds)

    def watch_messages(
        self,
        channel: str,
        received: tuple[str, Callable[[], int]],
        refused: Callable[[], Mapping[str, int]],
    ) -> None:
        """Read a receiver's own tallies at each scrape: watchd_<channel>_messages_received_total
        (`received`: its help text and reader) and watchd_<channel>_messages_refused_total{reason}."""
        self._registry.register(_MessageCounters(channel, received, refused))

    def watch_ingest_journal(self, backlog: Callable[[], int], lag: Callable[[], float]) -> None:
        """Read the ingest journal's backlog and lag (in memory) at each scrape."""
        self._journal_backlog.set_function(lambda: float(backlog()))
        self._journal_lag.set_function(lag)

    def watch_outbox(self, figures: Callable[[], Awaitable[OutboxFigures]]) -> None:
        """Read `figures` at each scrape (`refresh`) for the outbox gauges."""
        self._outbox = figures

    async def refresh(self) -> None:
        """Read the outbox figures for this scrape; a slow or failing store leaves the last
        ones (logged), so /metrics still answers while the database is away."""
        if self._outbox is None:
            return
        try:
            async with asyncio.timeout(REFRESH_TIMEOUT):
                found = await self._outbox()
        except (StoreError, TimeoutError) as exc:
            log.warning("metrics_outbox_unread", error=str(exc) or "timeout")
            return
        self._outbox_pending.set(found.pending)
        self._outbox_oldest.set(found.oldest_age)
        self._outbox_due.set(found.oldest_due)


class _MessageCounters(Collector):
    """The tallies a receiver (MQTT, SNMP traps) keeps as plain ints, as counters read at
    scrape time: its per-message path stays an integer increment."""

    def __init__(
        self,
        channel: str,
        received: tuple[str, Callable[[], int]],
        refused: Callable[[], Mapping[str, int]],
    ) -> None:
        self._name = f"watchd_{channel}_messages"
        self._channel = channel
        self._received_help, self._received = received
        self._refused = refused

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            f"{self._name}_received",
            self._received_help,
            value=self._received(),
        )
        refused = CounterMetricFamily(
            f"{self._name}_refused",
            f"Messages the {self._channel} receiver refused, by reason.",
            labels=["reason"],
        )
        for reason, n in self._refused().items():
            refused.add_metric([reason], n)
        yield refused


class CountedSink:
    """An AlertSink that counts what the sink it wraps did with each batch.

    `channel` names the channel of every alert (http, mqtt); None counts each alert under the
    channel of its source (the retry buffer, shared by checks, rules and traps, wraps one).
    A batch that fails for another reason than a store outage is split by its caller
    (watchd.pipeline.isolate) until the culprits fail alone: only a single alert failing is
    counted as refused, so each alert is counted once however often its batch was split
    (past isolate's MAX_ATTEMPTS commits, the alerts it gives up on in bulk go uncounted).
    """

    def __init__(self, sink: AlertSink, flow: FlowMetrics, channel: str | None = None) -> None:
        self._sink = sink
        self._flow = flow
        self._channel = channel

    async def submit(self, alerts: tuple[Alert, ...]) -> None:
        """Submit to the wrapped sink and count the outcome; its exceptions pass through."""
        try:
            await self._sink.submit(alerts)
        except StoreError as exc:
            if exc.outage:
                self._count(alerts, "error")
            elif len(alerts) == 1:
                self._count(alerts, "refused")
            raise
        except Exception:
            if len(alerts) == 1:
                self._count(alerts, "refused")
            raise
        self._count(alerts, "stored")

    def _count(self, alerts: tuple[Alert, ...], outcome: str) -> None:
        if self._channel is not None:
            self._flow.count_ingested(self._channel, outcome, len(alerts))
            return
        tally = Tally(CHANNEL_OF_SOURCE.get(a.source, OWN_CHANNEL) for a in alerts)
        for channel, n in tally.items():
            self._flow.count_ingested(channel, outcome, n)
