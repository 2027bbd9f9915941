"""Tests for the operational endpoints: /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from watchd.metrics import Metrics
from watchd.model import Sample, Status

pytestmark = pytest.mark.integration
Serve = Callable[[web.Application], Awaitable[str]]


async def test_healthz_answers_without_a_token(
    make_app: Callable[..., web.Application], serve: Serve, http: aiohttp.ClientSession
) -> None:
    """A liveness probe gets 200 {"status": "ok"} even when tokens are configured."""
    base = await serve(make_app())
    async with http.get(f"{base}/healthz") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok"}


async def test_readyz_follows_readiness_without_a_token(
    make_app: Callable[..., web.Application],
    serve: Serve,
    http: aiohttp.ClientSession,
    ready: asyncio.Event,
) -> None:
    """/readyz is 503 with a JSON reason while not ready, and 200 once ready."""
    base = await serve(make_app())
    ready.clear()
    async with http.get(f"{base}/readyz") as resp:
        assert resp.status == 503
        assert "not ready" in (await resp.json())["error"]
    ready.set()
    async with http.get(f"{base}/readyz") as resp:
        assert resp.status == 200
        assert (await resp.json())["status"] == "ready"


async def scrape(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str]
) -> dict[str, list[tuple[dict[str, str], float]]]:
    async with http.get(url, headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
    return {
        family.name: [(sample.labels, sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(text)
    }


async def test_metrics_expose_watchd_and_probe_series_and_drop_vanished_ones(
    make_app: Callable[..., web.Application],
    serve: Serve,
    http: aiohttp.ClientSession,
    metrics: Metrics,
    auth: dict[str, dict[str, str]],
) -> None:
    """A scrape parses as Prometheus text, shows probe samples, and forgets vanished series."""
    url = f"{await serve(make_app())}/metrics"
    metrics.observe_check("tcp", Status.OK, 0.004, failed=False)
    metrics.observe_samples(
        "web1",
        "ports",
        [
            Sample("tcp.connect_seconds", 0.002, {"port": "22"}),
            Sample("tcp.connect_seconds", 0.003, {"port": "80"}),
        ],
    )
    families = await scrape(http, url, auth["read"])
    assert ({"kind": "tcp", "status": "ok"}, 1.0) in families["watchd_checks"]
    ports = sorted(labels["port"] for labels, _ in families["watchd_probe_tcp_connect_seconds"])
    assert ports == ["22", "80"]

    metrics.observe_samples("web1", "ports", [Sample("tcp.connect_seconds", 0.005, {"port": "22"})])
    families = await scrape(http, url, auth["read"])
    assert families["watchd_probe_tcp_connect_seconds"] == [
        ({"port": "22", "item": "web1", "check": "ports"}, 0.005)
    ]
