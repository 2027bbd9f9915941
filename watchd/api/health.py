"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web

from watchd.api import keys
from watchd.api.auth import public, require_scope
from watchd.api.errors import error_response, json_response
from watchd.api.origin import any_host
from watchd.metrics import CONTENT_TYPE


@public
@any_host
async def healthz(request: web.Request) -> web.Response:
    """200 whenever the process serves requests: a liveness probe, never needs a token."""
    return json_response({"status": "ok"})


@public
@any_host
async def readyz(request: web.Request) -> web.Response:
    """200 once watchd is ready to work (store open, schedule loaded), 503 before and after,
    and 503 saying why when it cannot work (its database file was deleted)."""
    reason = request.app[keys.NOT_READY]()
    if reason is not None:
        return error_response(503, f"watchd is not ready: {reason}.")
    if request.app[keys.READY]():
        return json_response({"status": "ready"})
    return error_response(503, "watchd is not ready: it is starting up or shutting down.")


@require_scope("read")
async def metrics(request: web.Request) -> web.StreamResponse:
    """The Prometheus text exposition of watchd's metrics and latest probe samples."""
    metrics = request.app[keys.METRICS]
    await metrics.refresh()
    # Sent a part at a time: the whole text of 5,000 SNMP devices is ~35 MB, which held at
    # once stayed in the daemon's memory after the scrape; and other work runs between parts.
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE})
    await response.prepare(request)
    for part in metrics.exposition():
        await response.write(part)
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
