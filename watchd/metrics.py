"""watchd's own Prometheus metrics, and the latest probe samples re-exported as gauges.

`Metrics` owns a private `CollectorRegistry` (never the global one), so each daemon, and each
test, has its own. Two kinds of series are exposed:

- fixed instruments about watchd itself (`watchd_checks_total`, `watchd_check_duration_seconds`,
  event loop and schedule lag, store write time, current HARD state per check, ...);
- `watchd_probe_<metric>` gauges: the latest samples each check produced. Their label sets
  differ from metric to metric, and there can be hundreds of thousands, so `ProbeSamples`
  renders them beside the registry, from each (item, check)'s latest run: a series that a
  check stops producing disappears at the next run instead of lingering.
"""

from __future__ import annotations

import functools
import re
from array import array
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from watchd.metrics_flow import Children, FlowMetrics
from watchd.model import Labels, Sample, Status

PROBE_PREFIX = "watchd_probe_"
# The 0.0.4 text format: understood by every Prometheus version and scraper.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# A sample metric named `..._total` is a cumulative counter (psutil's disk and network counters,
# SNMP counter columns): its family is typed counter, as Prometheus names them, so promtool and
# PromQL's rate() treat it as one. Every other sample is the gauge of its latest value.
COUNTER_SUFFIX = "_total"

# The `_created` series prometheus_client adds to each counter and histogram (a timestamp per
# child) are an OpenMetrics notion that the 0.0.4 text format served here shows as extra
# gauges, doubling the series count of each counter; nothing of watchd's needs them.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client
_GO_SPECIAL = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}


def go_float(number: float) -> str:
    """A float as Go and prometheus_client write it ("+Inf", "NaN", "1.5e+07"): the same text
    as prometheus_client.utils.floatToGoString (tests/test_metrics.py compares them), in
    half its time; a scrape of 5,000 SNMP devices writes 405,000 of them."""
    text = repr(number)
    dot = text.find(".")
    if dot > 6 and number > 0:
        # Go switches to exponents sooner than Python.
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return _GO_SPECIAL.get(text, text)


# From a fast local probe (1 ms) to the longest sensible check timeout (60 s).
CHECK_DURATION_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
# From on time to a whole missed minute: the 1 s bound is issue 14's target for the p99.
SCHEDULE_LAG_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip
STORE_WRITE_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

_INVALID_METRIC_CHARS = re.compile(r"[^a-zA-Z0-9_:]")
_INVALID_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


@functools.cache
def metric_name(sample_metric: str) -> str:
    """The Prometheus name a sample metric is exported under: `watchd_probe_` + sanitized name."""
    return PROBE_PREFIX + _INVALID_METRIC_CHARS.sub("_", sample_metric)


@functools.cache
def label_name(name: str) -> str:
    """A valid, non-reserved Prometheus label name for `name` ([a-zA-Z_][a-zA-Z0-9_]*)."""
    clean = _INVALID_LABEL_CHARS.sub("_", name)
    if not clean or clean[0].isdigit():
        clean = "_" + clean
    if clean.startswith("__"):
        # Names starting with "__" are reserved for Prometheus itself.
        clean = "_" + clean.lstrip("_")
    return clean


class ProbeSamples:
    """The latest samples of every (item, check), rendered as `watchd_probe_<metric>` gauges.

    Sample labels that clash with `item` or `check` (with another value) are kept as
    `exported_item` and `exported_check`, as Prometheus does for clashing target labels.

    Each check's latest run is kept compact (per sample its family name, its labels mapping,
    shared by the samples of one table row, and its value in an array of doubles: 24 bytes a
    sample where the samples themselves took 104) and rendered at each scrape, a row's label
    text once for all its samples. At 5,000 SNMP devices (405,000 series) that is 0.5 s of CPU
    per scrape, where rendering every check's lines afresh took 2.5 s and keeping them between
    scrapes 85 MB (bench/README.md, issue 14).
    """

    def __init__(self) -> None:
        self._latest: dict[tuple[str, str], _Latest] = {}
        self._help: dict[str, str] = {}
        self._names: dict[tuple[str, ...], tuple[str, ...]] = {}

    def observe(self, item: str, check: str, samples: Sequence[Sample]) -> None:
        """Replace everything known for (item, check) with these samples."""
        # The samples' metrics, values and labels, each as one tuple (an SNMP poll has about a
        # hundred samples: transposed at once rather than read sample by sample, thrice).
        metrics, values, labels, _ = zip(*samples, strict=True) if samples else ((),) * 4
        names = tuple(map(metric_name, metrics))
        # The checks of one profile give the same names in the same order: one tuple for all
        # of them (an SNMP poll's is 0.7 KB; 3.5 MB at 5,000 devices, issue 14).
        shared = self._names.get(names)
        if shared is None:
            if len(self._names) > 2 * len(self._latest) + 64:
                # Keep only the tuples still in use: checks whose samples change names
                # (interfaces that come and go) would otherwise grow it for ever.
                self._names = {kept[0]: kept[0] for kept in self._latest.values()}
            shared = self._names[names] = names
        names = shared
        self._latest[(item, check)] = (names, labels, array("d", values))
        if not self._help.keys() >= set(names):  # a family seen for the first time
            for metric, name in zip(metrics, names, strict=True):
                if name not in self._help:
                    self._help[name] = f"Latest value of the probe sample {metric!r}."

    def forget(self, item: str, check: str) -> None:
        """Drop every series of (item, check), e.g. when the check is removed from the config."""
        self._latest.pop((item, check), None)

    def families(self) -> Iterator[bytes]:
        """The text exposition (format 0.0.4) of every probe family, one family at a time.

        A family's lines are made at its turn, so a scrape holds one family's text at a time:
        at 5,000 SNMP devices (405,000 series, ~35 MB of text) a scrape made all of it at once
        and left the daemon 35 MB bigger, over issue 14's 300 MB (bench/README.md). What is
        walked is the latest samples as they were when the scrape began.
        """
        # The checks that give the same names (those of one profile share the tuple) are walked
        # together: where each family sits among the names is found once for all of them.
        groups: dict[int, tuple[tuple[str, ...], list[_Check]]] = {}
        for (item, check), (names, rows, values) in self._latest.items():
            group = groups.get(id(names))
            if group is None:
                group = groups[id(names)] = (names, [])
            group[1].append((item, check, rows, values, {}))
        families: dict[str, list[tuple[list[_Check], list[int]]]] = {}
        for names, checks in groups.values():
            places: dict[str, list[int]] = {}
            for i, name in enumerate(names):
                at = places.get(name)
                if at is None:
                    places[name] = [i]
                else:
                    at.append(i)
            for name, at in places.items():
                parts = families.get(name)
                if parts is None:
                    families[name] = [(checks, at)]
                else:
                    parts.append((checks, at))
        for name, parts in families.items():
            help_text = self._help[name].replace("\\", r"\\").replace("\n", r"\n")
            kind = "counter" if name.endswith(COUNTER_SUFFIX) else "gauge"
            lines = [f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n"]
            for checks, at in parts:
                for item, check, rows, values, texts in checks:
                    # A later sample with the same name and labels wins, as the newest value.
                    series: dict[str, float] = {}
                    for i in at:
                        row = rows[i]
                        text = texts.get(id(row))  # by id: the samples of one row share labels
                        if text is None:
                            text = texts[id(row)] = _label_text(item, check, row)
                        series[text] = values[i]
                    for text, number in series.items():
                        lines.append(f"{name}{{{text}}} {go_float(number)}\n")
            yield "".join(lines).encode()


# One check's latest samples: family names, labels mappings and values, in the run's order.
_Latest = tuple[tuple[str, ...], tuple[Labels, ...], array]  # type: ignore[type-arg]
# The same while a scrape walks it, with the label texts of its rows made so far (by id).
_Check = tuple[str, str, tuple[Labels, ...], array, dict[int, str]]  # type: ignore[type-arg]


def _label_text(item: str, check: str, labels: Labels) -> str:
    """The label set of a probe series as the text format writes it between the braces."""
    ours = {"item": item, "check": check}
    clean: dict[str, str] = {}
    for key, value in labels.items():
        name = label_name(key)
        if name in ours:
            if value == ours[name]:
                continue  # the scheduler's own item/check label, added below
            name = "exported_" + name
        clean[name] = str(value)
    clean["item"] = item
    clean["check"] = check
    return ",".join(f'{key}="{_escape_label(value)}"' for key, value in sorted(clean.items()))


def _escape_label(value: str) -> str:
    """A label value as the text format writes it (backslash, newline and quote escaped)."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class Metrics:
    """watchd's metrics registry and the instruments other components update."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._checks = Counter(
            "watchd_checks_total", "Check runs by kind and status.", ["kind", "status"], registry=r
        )
        self._failures = Counter(
            "watchd_check_failures_total",
            "Check runs that raised or timed out, by kind.",
            ["kind"],
            registry=r,
        )
        self._overloaded = Counter(
            "watchd_check_runs_overloaded_total",
            "Check runs whose non-OK result was withheld as UNKNOWN because watchd was behind, "
            "by kind.",
            ["kind"],
            registry=r,
        )
        self._duration = Histogram(
            "watchd_check_duration_seconds",
            "Time one check run took, by kind.",
            ["kind"],
            buckets=CHECK_DURATION_BUCKETS,
            registry=r,
        )
        self._loop_lag = Gauge(
            "watchd_event_loop_lag_seconds",
            "How late the event loop woke a timer: the worst of the last second's probes.",
            registry=r,
        )
        self._store_write = Histogram(
            "watchd_store_write_seconds",
            "Time one batched store write took.",
            buckets=STORE_WRITE_BUCKETS,
            registry=r,
        )
        self._pending = Gauge(
            "watchd_store_pending_samples",
            "Samples waiting to be written to the store.",
            registry=r,
        )
        self._store_file_lost = Gauge(
            "watchd_store_file_lost",
            "1 when the SQLite file the daemon opened was deleted or replaced: writes are "
            "refused until it is restarted.",
            registry=r,
        )
        self._schedule_lag = Gauge(
            "watchd_schedule_lag_seconds",
            "How late the last check run started compared with its schedule.",
            registry=r,
        )
        self._schedule_lag_seconds = Histogram(
            "watchd_check_schedule_lag_seconds",
            "How late each check run started compared with its schedule.",
            buckets=SCHEDULE_LAG_BUCKETS,
            registry=r,
        )
        self._scheduled = Gauge(
            "watchd_checks_scheduled", "Checks currently on the schedule.", registry=r
        )
        self._check_status = Gauge(
            "watchd_check_status",
            "Current HARD state per check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
            ["item", "check"],
            registry=r,
        )
        self._checks_by = Children(self._checks)
        self._duration_by = Children(self._duration)
        self._check_status_by = Children(self._check_status)
        self._build = Info(
            "watchd_build",
            "watchd's version, the Python it runs on and its event loop; the value is always 1.",
            registry=r,
        )
        # CPU seconds, resident memory, open and maximum file descriptors and start time of
        # this process (process_*), on the daemon's own registry.
        ProcessCollector(registry=r)
        self.flow = FlowMetrics(r)  # alerts ingested, notifications, outbox backlog
        self._probes = ProbeSamples()  # rendered beside the registry: see ProbeSamples

    def set_build_info(self, *, version: str, python: str, event_loop: str) -> None:
        """watchd_build_info{version, python, event_loop} 1."""
        self._build.info({"version": version, "python": python, "event_loop": event_loop})

    def observe_check(self, kind: str, status: Status, duration: float, failed: bool) -> None:
        """Count one check run; `failed` means the run raised or timed out."""
        self._checks_by(kind, status.name.lower()).inc()
        self._duration_by(kind).observe(duration)
        if failed:
            self._failures.labels(kind=kind).inc()

    def count_overloaded(self, kind: str) -> None:
        """Count a run withheld as "poller overloaded" (it left its check's state alone)."""
        self._overloaded.labels(kind=kind).inc()

    def set_loop_lag(self, seconds: float) -> None:
        """The event loop's recent lag (watchd.overload.LoopLag publishes it)."""
        self._loop_lag.set(seconds)

    def set_check_status(self, item: str, check: str, status: Status) -> None:
        """Record the current HARD state of a check."""
        self._check_status_by(item, check).set(int(status))

    def observe_samples(self, item: str, check: str, samples: Sequence[Sample]) -> None:
        """Export the latest samples of (item, check), replacing those of its previous run."""
        self._probes.observe(item, check, samples)

    def forget(self, item: str, check: str) -> None:
        """Remove every series of a check that no longer exists (state and probe samples)."""
        self._check_status_by.remove(item, check)
        self._probes.forget(item, check)

    def observe_store_write(self, seconds: float) -> None:
        self._store_write.observe(seconds)

    def watch_store_file(self, lost: Callable[[], bool]) -> None:
        """Read `lost` at each scrape for watchd_store_file_lost."""
        self._store_file_lost.set_function(lambda: float(lost()))

    def set_pending_samples(self, n: int) -> None:
        self._pending.set(n)

    def set_schedule_lag(self, seconds: float) -> None:
        """One run's start lag: the last-run gauge and the histogram (its p99 shows whether the
        poller keeps up, which the gauge of one run cannot)."""
        self._schedule_lag.set(seconds)
        self._schedule_lag_seconds.observe(seconds)

    def watch_checks_scheduled(self, count: Callable[[], int]) -> None:
        """Read `count` at each scrape for watchd_checks_scheduled (a cluster node's share
        changes with every membership change and handover)."""
        self._scheduled.set_function(lambda: float(count()))

    async def refresh(self) -> None:
        """Read what is read from the store at scrape time (the outbox backlog)."""
        await self.flow.refresh()

    def render(self) -> tuple[bytes, str]:
        """The text exposition of every metric, and its content type."""
        return b"".join(self.exposition()), CONTENT_TYPE

    def exposition(self) -> Iterator[bytes]:
        """The text exposition of every metric in parts (watchd's own, then each probe family),
        for a scrape to send as they are made (see ProbeSamples.families)."""
        yield generate_latest(self.registry)
        yield from self._probes.families()
