"""Hand-off notices with the real daemon: an override made over the API brings bob on call a
few seconds later, and the SMS gateway (a capture HTTP server standing in for it, as bob's
webhook contact) gets exactly one notice; a restarted daemon on the same store sends none again."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.test_daemon import RunningDaemon, free_port, start_daemon
from tests.integration.test_daemon_incidents import config_with_token, request
from tests.integration.test_escalation_people import Gateway, wait_until

pytestmark = pytest.mark.integration


def people_config(gateway: int) -> str:
    """alice always on call (one turn of 20,000 weeks), bob reachable through the gateway,
    and the hand-off job looking every second."""
    return f"""
[route]
receivers = ["log"]

[[receivers]]
name = "sms-gateway"
kind = "webhook"
url = "http://127.0.0.1:{gateway}/sms"

[[users]]
name = "alice"

[[users]]
name = "bob"
display_name = "Bob Wu"
timezone = "Asia/Shanghai"
contacts = [{{ name = "sms", receiver = "sms-gateway", address = "+8613800000002" }}]

[[schedules]]
name = "primary"
[[schedules.layers]]
name = "everyone"
users = ["alice"]
start = "2000-01-03T00:00"
rotation = "20000w"

[incidents]
timer_interval = "1s"
"""


def override(port: int, user: str) -> tuple[datetime, datetime]:
    """`user` takes the schedule over 3 s from now for two hours (over the API); the times."""
    start = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    end = start + timedelta(hours=2)
    status, body = request(
        port,
        "POST",
        "/api/v1/oncall/primary/overrides",
        {
            "user": user,
            "start": start.strftime("%Y-%m-%dT%H:%M:%S"),
            "end": end.strftime("%Y-%m-%dT%H:%M:%S"),
            "reason": "swap",
            "by": "carol",
        },
    )
    assert status in (200, 201), body
    return start, end


def stop(daemon: RunningDaemon) -> None:
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=20) == 0
    daemon.notify.close()


def test_an_override_notifies_bob_once_and_a_restart_does_not_again(tmp_path: Path) -> None:
    """bob, brought on call by an override, gets one notice through his gateway contact with his number and shift in his time zone, and none more from the restarted daemon, which does see alice's later hand-off."""
    gateway = Gateway()
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    port = free_port()
    config = config_with_token(tmp_path, port, people_config(gateway.server_address[1]))
    daemon = start_daemon(tmp_path, config, port)
    try:
        start, end = override(port, "bob")
        wait_until(lambda: gateway.received)
        time.sleep(3.0)  # three more looks at the schedule
        ((key, notice),) = gateway.received
        assert key == f"handoff:primary:{start.timestamp():.0f}"
        assert notice["recipient"]["address"] == "+8613800000002"
        local = timedelta(hours=8)
        assert notice["text"] == (
            f"You are on call for primary from {start + local:%Y-%m-%d %H:%M} "
            f"to {end + local:%Y-%m-%d %H:%M} (Asia/Shanghai)."
        )
        stop(daemon)
        daemon = start_daemon(tmp_path, config, port)
        # alice taking over proves the restarted daemon looks (she has no contact at all,
        # so it warns); bob's hand-off, stored already, is not sent again.
        override(port, "alice")
        unreachable = daemon.wait_for_log("handoff_unreachable")
        assert unreachable["user"] == "alice"
        assert len(gateway.received) == 1
    finally:
        stop(daemon)
        gateway.shutdown()
