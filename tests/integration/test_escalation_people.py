"""Escalation to a schedule with the real daemon: whoever is on call gets an SMS through a
gateway (a capture HTTP server standing in for it, as the webhook receiver) at once, and a mail
(real aiosmtpd) when their rule's delay has passed unacknowledged; the incident's timeline,
over the API, says who was paged through which contact."""

from __future__ import annotations

import json
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.integration.test_daemon import free_port, start_daemon
from tests.integration.test_daemon_incidents import config_with_token, request
from tests.notify.test_receivers import Inbox

pytestmark = pytest.mark.integration


class Gateway(ThreadingHTTPServer):
    """An SMS gateway's HTTP side: keeps each JSON body and its Idempotency-Key."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _GatewayHandler)
        self.received: list[tuple[str, dict[str, Any]]] = []


class _GatewayHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        assert isinstance(self.server, Gateway)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.received.append((self.headers.get("Idempotency-Key", ""), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        return None


def wait_until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def people_config(gateway: int, smtp: int) -> str:
    """An SMS gateway and a mail server as receivers, two people on a weekly schedule (alice
    on call: her first turn, from a Monday long ago, lasts 20,000 weeks), and a policy paging
    the schedule at once."""
    return f"""
[route]
receivers = ["log"]

[[receivers]]
name = "sms-gateway"
kind = "webhook"
url = "http://127.0.0.1:{gateway}/sms"

[[receivers]]
name = "mail"
kind = "email"
host = "127.0.0.1"
port = {smtp}
security = "none"
sender = "watchd@example.com"
to = ["ops@example.com"]

[[users]]
name = "alice"
display_name = "Alice Li"
contacts = [
  {{ name = "sms", receiver = "sms-gateway", address = "+8613800000001" }},
  {{ name = "mail", receiver = "mail", address = "alice@example.com" }},
]
notify = [{{ contact = "sms" }}, {{ contact = "mail", after = "3s" }}]

[[users]]
name = "bob"
contacts = [{{ name = "sms", receiver = "sms-gateway", address = "+8613800000002" }}]

[[schedules]]
name = "primary"
[[schedules.layers]]
name = "everyone"
users = ["alice", "bob"]
start = "2000-01-03T00:00"
rotation = "20000w"

[incidents]
timer_interval = "1s"

[[incidents.escalation]]
name = "page-on-call"
steps = [{{ after = "0s", schedules = ["primary"] }}]
"""


def test_escalation_to_a_schedule_sms_now_and_mail_later(tmp_path: Path) -> None:
    """The on-call person gets the SMS through the gateway with their number at once and their mail 3 s later while unacknowledged; the API timeline names them and the contact."""
    gateway = Gateway()
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    smtp_port = free_port()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    port = free_port()
    config = config_with_token(tmp_path, port, people_config(gateway.server_address[1], smtp_port))
    daemon = start_daemon(tmp_path, config, port)
    try:
        alert = {
            "labels": {"alertname": "DiskFull", "item": "db1", "severity": "critical"},
            "annotations": {"summary": "disk / on db1 is full"},
            "endsAt": "2099-01-01T00:00:00Z",
        }
        status, _ = request(port, "POST", "/api/v2/alerts", [alert])
        assert status == 200
        wait_until(lambda: gateway.received)
        ((key, sms),) = gateway.received
        assert sms["recipient"] == {
            "user": "alice",
            "name": "Alice Li",
            "contact": "sms",
            "address": "+8613800000001",
        }
        assert key.endswith(":alice:sms") and sms["incident"]["severity"] == "critical"
        wait_until(lambda: inbox.messages)
        (mail,) = inbox.messages
        assert (
            mail["To"] == "alice@example.com"
            and "escalated: disk / on db1 is full" in mail["Subject"]
        )

        status, detail = request(port, "GET", "/api/v1/incidents/1")
        assert status == 200
        sent = [
            e["detail"]
            for e in detail["timeline"]
            if e["kind"] == "notification" and e["detail"]["kind"] == "escalated"
        ]
        assert [s["pages"] for s in sent] == [
            [{"user": "alice", "contact": "sms", "receiver": "sms-gateway"}],
            [{"user": "alice", "contact": "mail", "receiver": "mail"}],
        ]
        assert sent[1]["after"] == 3.0
        assert len(gateway.received) == 1  # bob, not on call, was never paged
    finally:
        daemon.proc.send_signal(signal.SIGTERM)
        assert daemon.proc.wait(timeout=20) == 0
        daemon.notify.close()
        smtp.stop()
        gateway.shutdown()
