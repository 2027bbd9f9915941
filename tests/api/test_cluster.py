"""GET /api/v1/cluster: the nodes and leases of a real store where a real node joined."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from watchd.api import cluster as cluster_routes
from watchd.clock import SystemClock
from watchd.cluster.config import ClusterConfig
from watchd.cluster.membership import Membership
from watchd.cluster.status import read_status
from watchd.store import Store

pytestmark = pytest.mark.integration


async def test_the_api_serves_the_cluster_status_to_a_read_token(
    tmp_path: Path,
    make_app: Callable[..., web.Application],
    serve: Callable[[web.Application], Awaitable[str]],
    http: aiohttp.ClientSession,
    auth: dict[str, dict[str, str]],
) -> None:
    """GET /api/v1/cluster answers a read token with the nodes and leases, refuses an ingest
    token, and is in the OpenAPI document."""
    store = await Store.open(f"sqlite:///{tmp_path}/watchd.db", clock=SystemClock())
    membership = Membership(
        store.engine, ClusterConfig(node_name="solo"), clock=SystemClock(), checks_owned=lambda: 3
    )
    await membership.join()

    async def source() -> dict[str, Any]:
        status = await read_status(store.engine, dead_after=10.0, clock=SystemClock())
        return status.to_dict()

    app = make_app()
    cluster_routes.add_routes(app, source)
    try:
        base = await serve(app)
        async with http.get(f"{base}/api/v1/cluster", headers=auth["read"]) as resp:
            assert resp.status == 200
            body = await resp.json()
    finally:
        await store.close()
    assert [(n["name"], n["state"], n["leases"], n["checks_owned"]) for n in body["nodes"]] == [
        ("solo", "live", ["singleton"], 3)
    ]
    assert body["single_node"] is True
    async with http.get(f"{base}/api/v1/cluster", headers=auth["ingest"]) as resp:
        assert resp.status == 403
    async with http.get(f"{base}/api/openapi.json") as resp:
        paths = (await resp.json())["paths"]
    assert paths["/api/v1/cluster"]["get"]["security"] == [{"bearer": ["read"]}]
