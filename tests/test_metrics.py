"""Tests for watchd.metrics: watchd's instruments and the probe-sample collector."""

from __future__ import annotations

import math
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from watchd.cluster.metrics import ClusterMetrics
from watchd.metrics import Metrics, go_float, label_name, metric_name
from watchd.model import Sample, Status


def scrape(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body, _ = metrics.render()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def probe_lines(metrics: Metrics) -> list[bytes]:
    """The probe series of a scrape (watchd's own, like its CPU time, move between scrapes)."""
    return [line for line in metrics.render()[0].splitlines() if line.startswith(b"watchd_probe_")]


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return scrape(metrics).get((name, frozenset(labels.items())))


def test_check_runs_are_counted_by_kind_and_status_with_durations_and_failures() -> None:
    """observe_check feeds watchd_checks_total, the duration histogram and the failure counter."""
    m = Metrics()
    m.observe_check("http", Status.OK, 0.02, failed=False)
    m.observe_check("http", Status.CRITICAL, 3.0, failed=False)
    m.observe_check("http", Status.UNKNOWN, 10.0, failed=True)
    assert value(m, "watchd_checks_total", kind="http", status="ok") == 1
    assert value(m, "watchd_checks_total", kind="http", status="critical") == 1
    assert value(m, "watchd_checks_total", kind="http", status="unknown") == 1
    assert value(m, "watchd_check_failures_total", kind="http") == 1
    assert value(m, "watchd_check_duration_seconds_count", kind="http") == 3
    assert value(m, "watchd_check_duration_seconds_bucket", kind="http", le="0.025") == 1
    assert value(m, "watchd_check_duration_seconds_bucket", kind="http", le="60.0") == 3


def test_gauges_show_the_last_value_set() -> None:
    """Store, schedule and state gauges report what the components last set."""
    m = Metrics()
    m.set_pending_samples(17)
    m.set_schedule_lag(0.25)
    m.watch_checks_scheduled(lambda: 1200)
    m.set_check_status("web1", "http", Status.CRITICAL)
    m.observe_store_write(0.003)
    assert value(m, "watchd_store_pending_samples") == 17
    assert value(m, "watchd_schedule_lag_seconds") == 0.25
    assert value(m, "watchd_checks_scheduled") == 1200
    assert value(m, "watchd_check_status", item="web1", check="http") == 2
    assert value(m, "watchd_store_write_seconds_count") == 1


def test_schedule_lag_of_every_run_is_in_a_histogram() -> None:
    """Each run's start lag lands in watchd_check_schedule_lag_seconds: a p99 can be read."""
    m = Metrics()
    for lag in (0.0, 0.003, 0.2, 0.7, 3.0):
        m.set_schedule_lag(lag)
    assert value(m, "watchd_schedule_lag_seconds") == 3.0
    assert value(m, "watchd_check_schedule_lag_seconds_count") == 5
    assert value(m, "watchd_check_schedule_lag_seconds_bucket", le="0.005") == 2
    assert value(m, "watchd_check_schedule_lag_seconds_bucket", le="1.0") == 4
    assert value(m, "watchd_check_schedule_lag_seconds_bucket", le="+Inf") == 5


def test_two_instances_have_separate_registries() -> None:
    """Several Metrics objects coexist (no global registry clash) and do not share values."""
    a, b = Metrics(), Metrics()
    a.watch_checks_scheduled(lambda: 5)
    assert value(a, "watchd_checks_scheduled") == 5
    assert value(b, "watchd_checks_scheduled") == 0


def test_probe_samples_are_exported_with_their_labels_plus_item_and_check() -> None:
    """Each sample becomes watchd_probe_<metric>{labels, item, check} with its latest value."""
    m = Metrics()
    m.observe_samples(
        "db1",
        "disk",
        [
            Sample("disk.used_percent", 71.5, {"mount": "/"}),
            Sample("disk.used_percent", 12.0, {"mount": "/var"}),
            Sample("load1", 0.4),
        ],
    )
    m.observe_samples("web1", "net", [Sample("if_octets", 9e9, {"if-name": "eth0", "2nd": "x"})])
    got = scrape(m)
    assert (
        got[
            (
                "watchd_probe_disk_used_percent",
                frozenset({("mount", "/"), ("item", "db1"), ("check", "disk")}),
            )
        ]
        == 71.5
    )
    assert (
        got[
            (
                "watchd_probe_disk_used_percent",
                frozenset({("mount", "/var"), ("item", "db1"), ("check", "disk")}),
            )
        ]
        == 12.0
    )
    assert got[("watchd_probe_load1", frozenset({("item", "db1"), ("check", "disk")}))] == 0.4
    assert (
        got[
            (
                "watchd_probe_if_octets",
                frozenset({("if_name", "eth0"), ("_2nd", "x"), ("item", "web1"), ("check", "net")}),
            )
        ]
        == 9e9
    )


def test_a_new_observation_replaces_the_previous_series_of_that_check() -> None:
    """A series the check no longer produces disappears; other checks' series stay."""
    m = Metrics()
    m.observe_samples(
        "db1", "disk", [Sample("used", 1.0, {"mount": "/"}), Sample("used", 2.0, {"mount": "/mnt"})]
    )
    m.observe_samples("db2", "disk", [Sample("used", 3.0, {"mount": "/"})])
    m.observe_samples("db1", "disk", [Sample("used", 5.0, {"mount": "/"})])
    probes = {k: v for k, v in scrape(m).items() if k[0] == "watchd_probe_used"}
    assert probes == {
        ("watchd_probe_used", frozenset({("mount", "/"), ("item", "db1"), ("check", "disk")})): 5.0,
        ("watchd_probe_used", frozenset({("mount", "/"), ("item", "db2"), ("check", "disk")})): 3.0,
    }


def test_checks_whose_sample_names_change_every_run_show_their_latest_names_only() -> None:
    """Alike checks share one tuple of sample names between them, but a check whose samples
    change names every run (interfaces coming and going) neither shows old names nor makes
    watchd keep every set of names it ever saw."""
    m = Metrics()
    for n in range(500):
        m.observe_samples("sw1", "net", [Sample(f"if{n}_octets", float(n))])
        m.observe_samples("sw2", "net", [Sample("up", 1.0)])
    assert [line for line in probe_lines(m) if b"octets" in line] == [
        b'watchd_probe_if499_octets{check="net",item="sw1"} 499.0'
    ]
    assert len(m._probes._names) <= 2 * 2 + 64 + 1


def test_a_scrape_is_made_a_family_at_a_time_with_every_checks_series_in_its_family() -> None:
    """The exposition comes in parts, watchd's own metrics then one part per probe family
    holding that family's series of every check (alike checks walked together), so a scrape of
    thousands of devices never holds the whole text at once (issue 14's memory)."""
    m = Metrics()
    for n in range(3):
        row = {"ifName": f"eth{n}"}
        m.observe_samples(f"sw{n}", "snmp", [Sample("in_octets", n, row), Sample("up", 1.0, row)])
    m.observe_samples("db1", "disk", [Sample("used", 5.0, {"mount": "/"})])
    own, *families = m.exposition()
    assert own.startswith(b"# HELP watchd_") and b"watchd_probe_" not in own
    assert [part.split(b"\n")[0] for part in families] == [
        b"# HELP watchd_probe_in_octets Latest value of the probe sample 'in_octets'.",
        b"# HELP watchd_probe_up Latest value of the probe sample 'up'.",
        b"# HELP watchd_probe_used Latest value of the probe sample 'used'.",
    ]
    assert families[0].count(b"\nwatchd_probe_in_octets{") == 3


def test_forget_removes_the_state_gauge_and_probe_series_of_a_check() -> None:
    """A removed check leaves no series behind."""
    m = Metrics()
    m.set_check_status("db1", "disk", Status.WARNING)
    m.observe_samples("db1", "disk", [Sample("used", 1.0)])
    m.forget("db1", "disk")
    m.forget("never", "seen")  # forgetting an unknown check is harmless
    assert not [k for k in scrape(m) if dict(k[1]).get("item") == "db1"]


def test_sample_labels_named_item_or_check_are_kept_as_exported_labels() -> None:
    """A sample label clashing with item/check is renamed exported_*, never overwriting ours."""
    m = Metrics()
    m.observe_samples("web1", "http", [Sample("up", 1.0, {"item": "other", "check": "x"})])
    labels = {
        ("exported_item", "other"),
        ("exported_check", "x"),
        ("item", "web1"),
        ("check", "http"),
    }
    assert scrape(m)[("watchd_probe_up", frozenset(labels))] == 1.0


def test_names_are_sanitized_to_valid_prometheus_names() -> None:
    """Metric and label names with dots, dashes, digits or reserved prefixes become valid."""
    assert metric_name("http.response-time.ms") == "watchd_probe_http_response_time_ms"
    assert label_name("if-name") == "if_name"
    assert label_name("1st") == "_1st"
    assert label_name("__name__") == "_name__"
    assert label_name("") == "_"


def test_render_returns_the_text_format_content_type() -> None:
    """render() gives bytes Prometheus can scrape with the 0.0.4 text content type."""
    body, content_type = Metrics().render()
    assert content_type.startswith("text/plain; version=0.0.4")
    assert b"# TYPE watchd_checks_total counter" in body


def test_samples_that_already_carry_the_checks_item_and_check_labels_are_not_duplicated() -> None:
    """Samples as the scheduler passes them (item and check labels set) export item/check once."""
    m = Metrics()
    m.observe_samples(
        "db1",
        "disk",
        [Sample("disk_used_percent", 40.0, {"mount": "/", "item": "db1", "check": "disk"})],
    )
    got = scrape(m)
    key = (
        "watchd_probe_disk_used_percent",
        frozenset({("mount", "/"), ("item", "db1"), ("check", "disk")}),
    )
    assert got[key] == 40.0


def test_probe_label_values_with_quotes_backslashes_and_newlines_scrape_back_unchanged() -> None:
    """The probe lines watchd writes itself escape what the text format requires."""
    m = Metrics()
    odd = 'a "quoted" \\ back\nslash'
    m.observe_samples("web1", "http", [Sample("up", float("inf"), {"url": odd})])
    assert scrape(m)[
        ("watchd_probe_up", frozenset({("url", odd), ("item", "web1"), ("check", "http")}))
    ] == float("inf")


def test_each_scrape_shows_every_checks_latest_run_and_a_run_replaces_only_its_own_check() -> None:
    """Scrapes with no runs in between give the same text; a new run of one check changes its
    series and no other's, and a series its new run no longer has is gone."""
    m = Metrics()
    for i in range(3):
        m.observe_samples(f"db{i}", "disk", [Sample("used", float(i), {"mount": "/"})])
    first = probe_lines(m)
    assert probe_lines(m) == first
    m.observe_samples("db1", "disk", [Sample("used", 7.0, {"mount": "/var"})])
    assert value(m, "watchd_probe_used", mount="/var", item="db1", check="disk") == 7.0
    assert value(m, "watchd_probe_used", mount="/", item="db1", check="disk") is None
    assert value(m, "watchd_probe_used", mount="/", item="db2", check="disk") == 2.0


def test_samples_of_one_row_with_the_same_name_and_labels_export_the_newest_value() -> None:
    """Two samples of one run with equal names and label sets (different mappings) make one
    series, the later value: a duplicate series would make Prometheus refuse the scrape."""
    m = Metrics()
    m.observe_samples(
        "db1",
        "disk",
        [
            Sample("used", 1.0, {"mount": "/", "fs": "ext4"}),
            Sample("used", 2.0, {"fs": "ext4", "mount": "/"}),
        ],
    )
    body = m.render()[0].decode()
    assert body.count("watchd_probe_used{") == 1
    assert value(m, "watchd_probe_used", mount="/", fs="ext4", item="db1", check="disk") == 2.0


def test_probe_values_are_written_as_go_writes_them() -> None:
    """Go's exponent rule (from 1e21 down to 1e+06 where Python would still write digits),
    +Inf, -Inf and NaN, as Prometheus' text format has them."""
    assert [go_float(x) for x in (1e10, 1234567.0, 100000.0, 0.5, -3.0, 2.5e-07)] == [
        "1e+10",
        "1.234567e+06",
        "100000.0",
        "0.5",
        "-3.0",
        "2.5e-07",
    ]
    assert [go_float(x) for x in (math.inf, -math.inf, math.nan)] == ["+Inf", "-Inf", "NaN"]


@pytest.mark.skipif(
    floatToGoString(1e10) != "1e+10", reason="this prometheus_client writes 1e10 as 1e+010"
)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_probe_values_are_written_as_prometheus_client_writes_them(number: float) -> None:
    """go_float gives floatToGoString's text for every float (Go's exponent rule, +Inf, NaN)."""
    assert go_float(number) == floatToGoString(number)


def promtool_findings(body: bytes) -> str:
    """What Debian's `promtool check metrics` says about an exposition ("" when it is clean)."""
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, check=False
    )
    return (done.stdout + done.stderr).decode().strip()


def test_every_instrument_probe_counter_and_cluster_metric_passes_promtool() -> None:
    """watchd's instruments, the cluster's, counter and gauge probe samples and the build info
    scrape with no promtool finding, and no `_created` series."""
    m = Metrics()
    ClusterMetrics(m.registry).observe(live=2, dead=1, checks_owned=40)
    m.set_build_info(version="0.1.0", python="3.11.7", event_loop="uvloop")
    m.observe_check("local", Status.OK, 0.01, failed=False)
    m.observe_store_write(0.002)
    m.flow.count_ingested("http", "stored", 3)
    m.flow.count_notifications("log", "delivered", 1, 0.002)
    m.flow.count_incidents({"opened": 1})
    m.flow.watch_messages("mqtt", ("MQTT messages received.", lambda: 5), lambda: {"invalid": 1})
    m.observe_samples(
        "localhost",
        "diskio",
        [Sample("disk_reads_total", 1234, {"device": "sda"}), Sample("cpu_cores", 2)],
    )
    body, _ = m.render()
    assert promtool_findings(body) == ""
    assert b"_created" not in body
    assert b"# TYPE watchd_probe_disk_reads_total counter" in body
    assert b"# TYPE watchd_probe_cpu_cores gauge" in body
    assert value(m, "watchd_build_info", version="0.1.0", python="3.11.7", event_loop="uvloop") == 1


def test_process_metrics_of_the_daemon_itself_are_exported() -> None:
    """CPU seconds, resident memory, open fds and start time of this process are scraped."""
    scraped = {name for name, _ in scrape(Metrics())}
    assert {
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    } <= scraped
