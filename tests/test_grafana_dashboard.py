"""examples/grafana-watchd.json: a Grafana dashboard on the metrics watchd exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from prometheus_client import CollectorRegistry

from watchd.cluster.metrics import ClusterMetrics
from watchd.metrics import Metrics

DASHBOARD = Path(__file__).parents[1] / "examples" / "grafana-watchd.json"
# A metric name in an expression: watchd's own, or the process collector's.
METRIC = re.compile(r"\b((?:watchd|process)_[a-z0-9_]+)\b")
# The series a family of each type exposes, by suffix.
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "info": ("_info",),
}


def exported(registry: CollectorRegistry) -> set[str]:
    """Every series name the families of `registry` can expose."""
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in SUFFIXES.get(family.type, ("",))
    }


def daemon_metrics() -> set[str]:
    """The daemon's families as watchd.app registers them, MQTT and traps enabled."""
    m = Metrics()
    ClusterMetrics(m.registry)
    for channel in ("mqtt", "snmptrap"):
        m.flow.watch_messages(channel, ("received", lambda: 0), lambda: {})
    return exported(m.registry)


def expressions() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]


def test_every_dashboard_expression_names_only_metrics_the_daemon_exports() -> None:
    """No panel queries a metric watchd does not export (a rename would leave it empty)."""
    known = daemon_metrics()
    named = {name for expr in expressions() for name in METRIC.findall(expr)}
    assert named, "the dashboard queries no metric"
    assert named - known == set()
    # What operators alert on is on it.
    assert {
        "watchd_alerts_ingested_total",
        "watchd_notifications_total",
        "watchd_incidents_total",
        "watchd_outbox_pending",
        "watchd_outbox_oldest_due_seconds",
        "watchd_build_info",
    } <= named


def test_every_dashboard_expression_is_valid_promql(tmp_path: Path) -> None:
    """Debian's promtool parses each expression (as a recording rule)."""
    rules = tmp_path / "dashboard.rules.json"
    records = [{"record": f"dashboard:expr{i}", "expr": e} for i, e in enumerate(expressions())]
    rules.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": records}]}))
    checked = subprocess.run(
        ["promtool", "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
