"""The cluster's nodes and leases over HTTP, as the store records them (any node answers).

GET /api/v1/cluster     read

The composition root passes the callable that reads them: the API does not know the cluster.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from watchd.api.auth import require_scope
from watchd.api.errors import json_response

ClusterSource = Callable[[], Awaitable[dict[str, Any]]]
SOURCE = web.AppKey[ClusterSource]("watchd.cluster.source")


@require_scope("read")
async def cluster_status(request: web.Request) -> web.Response:
    """The cluster: every node (live or dead, heartbeat age, zones, checks owned, leases) and
    every lease with its holder."""
    return json_response(await request.app[SOURCE]())


def add_routes(app: web.Application, source: ClusterSource) -> None:
    app[SOURCE] = source
    app.router.add_get("/api/v1/cluster", cluster_status)
