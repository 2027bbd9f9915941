"""Debian's real Prometheus server uses watchd as its Alertmanager (API v2)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from watchd.api import create_app, start_api
from watchd.api.ingest import add_routes
from watchd.clock import SystemClock
from watchd.config import Config
from watchd.loading import incident_settings
from watchd.metrics import Metrics
from watchd.model import AlertStatus
from watchd.pipeline import AlertPipeline
from watchd.store import Store

pytestmark = pytest.mark.integration

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
TOKEN = "prometheus-ingest-token-1234"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def watchd_api(tmp_path: Path) -> AsyncIterator[tuple[int, Store]]:
    """watchd's API with the ingest routes and the incident pipeline on a SQLite store."""
    clock = SystemClock()
    store = await Store.open(f"sqlite:///{tmp_path}/watchd.db", clock=clock)
    sink = AlertPipeline(store.engine, clock=clock, settings=incident_settings(Config()))
    app = create_app(
        tokens={TOKEN: frozenset({"ingest"})}, metrics=Metrics(), items=list, ready=lambda: True
    )
    add_routes(app, sink=sink, clock=clock)
    runner = await start_api(app, "127.0.0.1", 0)
    yield runner.addresses[0][1], store
    await runner.cleanup()
    await store.close()


def prometheus_config(tmp: Path, am_port: int) -> Path:
    (tmp / "rules.yml").write_text(
        "groups:\n"
        "  - name: watchd-test\n"
        "    interval: 1s\n"
        "    rules:\n"
        "      - alert: AlwaysFiring\n"
        "        expr: vector(1)\n"
        "        labels: {severity: page}\n"
        "        annotations: {summary: 'always firing, {{ $value }}'}\n"
    )
    config = tmp / "prometheus.yml"
    config.write_text(
        "global:\n"
        "  evaluation_interval: 1s\n"
        f"rule_files: ['{tmp}/rules.yml']\n"
        "alerting:\n"
        "  alertmanagers:\n"
        "    - api_version: v2\n"
        "      timeout: 5s\n"
        f"      authorization: {{credentials: '{TOKEN}'}}\n"
        f"      static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n"
    )
    return config


@pytest.fixture
def prometheus(tmp_path: Path, watchd_api: tuple[int, Store]) -> Iterator[subprocess.Popen[bytes]]:
    """Debian's prometheus, evaluating every second, with watchd as its Alertmanager."""
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={prometheus_config(tmp_path, watchd_api[0])}",
            f"--storage.tsdb.path={tmp_path}/tsdb",
            f"--web.listen-address=127.0.0.1:{free_port()}",
            # The first send can race the discovery of the alertmanager and be dropped;
            # the default resend delay (1m) would then hold the alert back for a minute.
            "--rules.alert.resend-delay=1s",
        ],
        stdout=log,
        stderr=log,
    )
    yield proc
    proc.terminate()
    proc.wait(timeout=15)
    log.close()


async def test_prometheus_alerts_reach_watchd(
    tmp_path: Path, watchd_api: tuple[int, Store], prometheus: subprocess.Popen[bytes]
) -> None:
    """An always-firing Prometheus rule arrives in watchd's store within 30 s, as firing."""
    _, store = watchd_api
    async with asyncio.timeout(30):
        while not (alerts := await store.alerts()):
            assert prometheus.poll() is None, (tmp_path / "prometheus.log").read_text()
            await asyncio.sleep(0.2)
    [alert] = alerts
    assert dict(alert.labels) == {"alertname": "AlwaysFiring", "severity": "page"}
    assert alert.annotations["summary"] == "always firing, 1"
    assert alert.status is AlertStatus.FIRING
    assert alert.ends_at is not None and alert.ends_at > alert.starts_at
    assert alert.generator_url.startswith("http://")
    assert "g0.expr=vector%281%29" in alert.generator_url
    assert alert.source == "alertmanager-api"
