"""The real daemon's /metrics with checks, rules, alerts and notifications flowing, read by
Debian's promtool and by the counters operators alert on."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_cluster_daemon import cluster_config
from tests.integration.test_daemon import RunningDaemon, free_port, start_daemon
from tests.integration.test_daemon_incidents import TOKEN, config_with_token, request
from tests.mqtt_broker import TOPIC, Broker

pytestmark = pytest.mark.integration


def scrape(port: int) -> str:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(resp.read().decode())


def values(body: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def test_a_busy_daemons_metrics_pass_promtool_and_count_alerts_and_notifications(
    tmp_path: Path,
) -> None:
    """With probes, rules, a failing check, alerts posted (one invalid) and notifications sent,
    `promtool check metrics` finds nothing, and the ingestion, notification, outbox, build,
    process and cluster series are there with the counts that happened."""
    port = free_port()
    closed = free_port()
    config = config_with_token(
        tmp_path,
        port,
        f'\n[[items]]\nname = "db9"\naddress = "127.0.0.1"\n  [[items.checks]]\n  name = "pg"\n'
        f'  kind = "tcp"\n  port = {closed}\n  interval = "1s"\n  retry_interval = "1s"\n'
        "  max_attempts = 2\n",
    )
    daemon = start_daemon(tmp_path, config, port)
    try:
        alert = {"labels": {"alertname": "DiskFull", "item": "db1"}}
        status, _ = request(port, "POST", "/api/v2/alerts", [alert, {"labels": {}}])
        assert status == 400  # the second one has no labels; the first is stored
        daemon.wait_for_log("check_problem", timeout=30)
        deadline = time.monotonic() + 30
        found = values(scrape(port))
        delivered = (
            "watchd_notifications_total",
            frozenset({("receiver", "log"), ("outcome", "delivered")}),
        )
        while time.monotonic() < deadline and found.get(delivered, 0) < 2:
            time.sleep(0.3)
            found = values(scrape(port))
        body = scrape(port)
        found = values(body)
        checked = subprocess.run(
            ["promtool", "check", "metrics"], input=body, capture_output=True, text=True
        )
        assert checked.returncode == 0 and not (checked.stdout + checked.stderr).strip(), (
            checked.stdout + checked.stderr
        )
        assert "_created" not in body

        def at(name: str, **labels: str) -> float | None:
            return found.get((name, frozenset(labels.items())))

        assert at("watchd_alerts_ingested_total", source="http", outcome="stored") == 1
        assert at("watchd_alerts_ingested_total", source="http", outcome="refused") == 1
        assert (at("watchd_alerts_ingested_total", source="checks", outcome="stored") or 0) >= 1
        assert (at("watchd_notifications_total", receiver="log", outcome="delivered") or 0) >= 2
        assert (at("watchd_incidents_total", event="opened") or 0) >= 2  # the alert, the check
        assert at("watchd_outbox_pending") is not None
        assert at("watchd_outbox_oldest_due_seconds") is not None
        assert any(name == "watchd_build_info" for name, _ in found)
        assert (at("process_resident_memory_bytes") or 0) > 0
        assert at("watchd_cluster_checks_owned") is not None
        assert "# TYPE watchd_probe_net_recv_bytes_total counter" in body
        assert "watchd_probe_disk_used_percent{" in body
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.proc.wait(timeout=20)
        daemon.notify.close()


def test_two_cluster_nodes_metrics_pass_promtool_with_the_cluster_and_outbox_on_postgresql(
    tmp_path: Path, fresh_pg_url: str
) -> None:
    """Two nodes on one PostgreSQL: each scrape passes promtool, each sees two live nodes,
    exactly one holds the lease, and the outbox backlog is read from PostgreSQL."""
    daemons: list[RunningDaemon] = []
    try:
        for name in ("a", "b"):
            config, port = cluster_config(tmp_path, fresh_pg_url, name)
            daemons.append(start_daemon(config.parent, config, port))
        daemons[1].wait_for_log("cluster_joined")
        daemons[0].wait_for_log("node_joined")
        bodies = [daemon.get("/metrics")[1] for daemon in daemons]
        held = 0.0
        for body in bodies:
            checked = subprocess.run(
                ["promtool", "check", "metrics"], input=body, capture_output=True, text=True
            )
            assert checked.returncode == 0 and not (checked.stdout + checked.stderr).strip(), (
                checked.stdout + checked.stderr
            )
            found = values(body)
            assert found[("watchd_cluster_nodes", frozenset({("state", "live")}))] == 2
            assert found[("watchd_outbox_pending", frozenset())] == 0
            held += sum(v for (n, _), v in found.items() if n == "watchd_cluster_lease_held")
        assert held == 1
    finally:
        for daemon in daemons:
            daemon.discard()


def test_mqtt_and_trap_messages_are_counted_received_and_refused(tmp_path: Path) -> None:
    """A daemon taking alerts from a real Mosquitto and SNMP traps counts a good and a bad
    MQTT message and a trap with the right and one with a wrong community, and promtool
    still finds nothing."""
    broker = Broker(tmp_path)
    broker.start()
    port, trap_port = free_port(), free_udp_port()
    config = config_with_token(
        tmp_path,
        port,
        f'\n[mqtt_ingest]\nenabled = true\nport = {broker.port}\ntopics = ["{TOPIC}"]\n'
        f'\n[snmp_traps]\nenabled = true\nlisten = "127.0.0.1:{trap_port}"\n'
        'communities = ["public"]\n',
    )
    daemon = start_daemon(tmp_path, config, port)
    try:
        daemon.wait_for_log("mqtt_connected")
        good = [{"labels": {"alertname": "QueueFull", "item": "mq1"}}]
        for payload in (json.dumps(good), "not json"):
            subprocess.run(
                ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1",
                 "-t", TOPIC, "-m", payload],
                check=True, timeout=10,
            )  # fmt: skip
        for community in ("public", "wrong"):
            subprocess.run(
                ["snmptrap", "-v", "2c", "-c", community, f"127.0.0.1:{trap_port}", "",
                 "1.3.6.1.4.1.8072.2.3.0.1"],
                check=True, timeout=10,
            )  # fmt: skip
        received = ("watchd_mqtt_messages_received_total", frozenset())
        trapped = ("watchd_snmptrap_messages_received_total", frozenset())
        deadline = time.monotonic() + 20
        found = values(scrape(port))
        while time.monotonic() < deadline and (found.get(received), found.get(trapped)) != (2, 1):
            time.sleep(0.2)
            found = values(scrape(port))
        body = scrape(port)
        found = values(body)
        checked = subprocess.run(
            ["promtool", "check", "metrics"], input=body, capture_output=True, text=True
        )
        assert not (checked.stdout + checked.stderr).strip(), checked.stdout + checked.stderr

        def at(name: str, **labels: str) -> float | None:
            return found.get((name, frozenset(labels.items())))

        assert at("watchd_mqtt_messages_received_total") == 2
        assert at("watchd_mqtt_messages_refused_total", reason="invalid") == 1
        assert at("watchd_alerts_ingested_total", source="mqtt", outcome="stored") == 1
        assert at("watchd_snmptrap_messages_received_total") == 1
        assert at("watchd_snmptrap_messages_refused_total", reason="rejected") == 1
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.proc.wait(timeout=20)
        daemon.notify.close()
        broker.stop()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
