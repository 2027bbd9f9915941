"""Status pages in the real daemon: served from the config, following the checks, gone after a
reload that removes them."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_daemon import free_port, shipped_config_for, start_daemon

pytestmark = pytest.mark.integration

PAGE = """
[[services]]
name = "self"
checks = ["watchd/healthz"]

[[status_pages]]
name = "public"
title = "watchd on this host"
public = true
services = [{ service = "self", name = "Monitoring", description = "watchd itself" }]
"""


def test_the_daemon_serves_a_configured_page_until_a_reload_removes_it(tmp_path: Path) -> None:
    """`watchd run` with a [[status_pages]] entry serves it: the service goes operational once its check has run, the JSON has 90 days and no internal name; after SIGHUP with the page removed it is 404."""
    port = free_port()
    config = shipped_config_for(tmp_path, port)
    shipped = config.read_text()
    config.write_text(shipped + PAGE)
    daemon = start_daemon(tmp_path, config, port)
    try:
        deadline = time.monotonic() + 30
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status, body = daemon.get("/status/public/status.json")
            assert status == 200, body
            view = json.loads(body)
            if view["state"] == "operational":
                break
            time.sleep(0.5)
        assert view["state"] == "operational", view
        (service,) = view["services"]
        assert service["name"] == "Monitoring" and len(service["days"]) == 90
        assert "healthz" not in body and "127.0.0.1" not in body
        status, page = daemon.get("/status/public")
        assert status == 200 and "Monitoring" in page and "All services are operational" in page
        config.write_text(shipped)
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_for_log("reloaded")
        time.sleep(0.2)
        assert daemon.get("/status/public")[0] == 404
    finally:
        daemon.discard()
