"""The real daemon, end to end: an alert from Prometheus' API shape becomes an incident that an
operator acknowledges over the API and resolves with the CLI, with the notifications logged."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.test_daemon import free_port, shipped_config_for, start_daemon

pytestmark = pytest.mark.integration

TOKEN = "integration-test-token-0123456789"


def request(port: int, method: str, path: str, body: object = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read().decode()
            return resp.status, json.loads(text) if text else {}
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read().decode() or "{}")


def config_with_token(tmp_path: Path, port: int, extra: str = "") -> Path:
    """The shipped config on `port` with TOKEN as token "ops" (read, write, ingest) and
    `extra` TOML appended."""
    (tmp_path / "ops.token").write_text(TOKEN + "\n")
    config = shipped_config_for(tmp_path, port)
    config.write_text(
        config.read_text().replace(
            "# [[api.tokens]]",
            '[[api.tokens]]\nname = "ops"\nscopes = ["read", "write", "ingest"]\nfile = "ops.token"\n# ',
        )
        + extra
    )
    return config


def test_alert_to_incident_ack_by_api_resolve_by_cli(tmp_path: Path) -> None:
    """POST /api/v2/alerts opens an incident; ack over the API and resolve with `watchd resolve` show in its timeline."""
    port = free_port()
    config = config_with_token(tmp_path, port)
    daemon = start_daemon(tmp_path, config, port)
    try:
        alert = {
            "labels": {"alertname": "DiskFull", "item": "db1", "severity": "critical"},
            "annotations": {"summary": "disk / on db1 is full"},
            "startsAt": "2026-11-26T10:00:00.000Z",
            "endsAt": "2099-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example/graph",
        }
        # Without a token the write endpoints refuse.
        anon = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v2/alerts",
            data=json.dumps([alert]).encode(),
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(anon, timeout=10)
        assert refused.value.code == 401

        status, _ = request(port, "POST", "/api/v2/alerts", [alert])
        assert status == 200
        status, listing = request(port, "GET", "/api/v1/incidents")
        assert status == 200
        (incident,) = listing["incidents"]
        assert incident["state"] == "open"
        assert incident["severity"] == "critical"
        notified = daemon.wait_for_log("notification")
        assert notified["kind"] == "opened"

        status, _ = request(
            port, "POST", f"/api/v1/incidents/{incident['id']}/ack", {"by": "alice"}
        )
        assert status == 200
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "watchd.cli",
                "resolve",
                str(incident["id"]),
                "--by",
                "bob",
                "-c",
                str(config),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert cli.returncode == 0, cli.stderr
        status, detail = request(port, "GET", f"/api/v1/incidents/{incident['id']}")
        assert detail["state"] == "resolved"
        kinds = [(e["kind"], e.get("actor")) for e in detail["timeline"]]
        assert ("acknowledged", "alice via token ops") in kinds
        assert ("resolved", "bob") in kinds
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=20) == 0
        daemon.notify.close()


def test_a_failing_check_opens_an_incident_and_its_recovery_resolves_it(tmp_path: Path) -> None:
    """A TCP check against a closed port becomes a HARD problem, an incident, and its notification."""
    port = free_port()
    closed = free_port()
    config = shipped_config_for(tmp_path, port)
    config.write_text(
        config.read_text()
        + f'\n[[items]]\nname = "db9"\naddress = "127.0.0.1"\n  [[items.checks]]\n  name = "pg"\n'
        f'  kind = "tcp"\n  port = {closed}\n  interval = "1s"\n  retry_interval = "1s"\n'
        "  max_attempts = 2\n"
    )
    daemon = start_daemon(tmp_path, config, port)
    try:
        problem = daemon.wait_for_log("check_problem", timeout=30)
        assert problem["item"] == "db9"
        deadline = time.monotonic() + 20
        incidents: list[dict] = []
        while time.monotonic() < deadline and not incidents:
            incidents = [
                i for i in request(port, "GET", "/api/v1/incidents?item=db9")[1]["incidents"]
            ]
            time.sleep(0.2)
        assert incidents and incidents[0]["state"] == "open"
        # The service comes back: the check recovers and the incident resolves by itself.
        with socket.socket() as listener:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", closed))
            listener.listen(16)
            recovered = daemon.wait_for_log("check_recovered", timeout=30)
            assert recovered["item"] == "db9"
            deadline = time.monotonic() + 20
            state = "open"
            while time.monotonic() < deadline and state != "resolved":
                state = request(port, "GET", f"/api/v1/incidents/{incidents[0]['id']}")[1]["state"]
                time.sleep(0.2)
            assert state == "resolved"
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.proc.wait(timeout=20)
        daemon.notify.close()


def test_the_openapi_document_lists_every_route_with_its_scope_and_body(tmp_path: Path) -> None:
    """/api/openapi.json describes the running daemon: every route, its scope, its JSON bodies."""
    port = free_port()
    daemon = start_daemon(tmp_path, shipped_config_for(tmp_path, port), port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/openapi.json", timeout=10) as r:
            doc = json.loads(r.read())
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        daemon.proc.wait(timeout=20)
        daemon.notify.close()
    assert doc["openapi"] == "3.1.0"
    paths = doc["paths"]
    for path in (
        "/healthz",
        "/metrics",
        "/api/v2/alerts",
        "/api/v1/events",
        "/api/v1/incidents",
        "/api/v1/incidents/{id}/ack",
        "/api/v1/silences",
        "/api/v1/deliveries",
        "/api/v1/reports/availability",
        "/api/v1/reviews",
        "/api/v1/reviews/{id}/actions/{action}",
    ):
        assert path in paths, path
    assert paths["/healthz"]["get"]["security"] == []
    assert paths["/api/v2/alerts"]["post"]["security"] == [{"bearer": ["ingest"]}]
    body = paths["/api/v2/alerts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["type"] == "array"
    assert body["items"] == {"$ref": "#/components/schemas/PostableAlert"}
    assert "labels" in doc["components"]["schemas"]["PostableAlert"]["properties"]
    ack = paths["/api/v1/incidents/{id}/ack"]["post"]
    assert ack["security"] == [{"bearer": ["write"]}]
    assert ack["parameters"][0]["name"] == "id"
    assert "by" in ack["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert paths["/api/v1/reviews/{id}"]["patch"]["security"] == [{"bearer": ["write"]}]
