"""watchd's HTTP API: an aiohttp application with bearer-token scopes and JSON errors.

`create_app(tokens=..., metrics=..., items=..., ready=...)` returns the application with the
base routes:

    GET /healthz        liveness, no token
    GET /readyz         readiness (200 / 503), no token
    GET /metrics        Prometheus exposition, scope "read"
    GET /api/v1/items   configured items, scope "read"

Other modules add their routes to the returned app before it starts, declaring the scope
on the handler itself::

    from watchd.api import ApiError, require_scope
    from watchd.api.errors import json_response
    from watchd.api.inputs import json_body

    @require_scope("ingest")
    async def post_alerts(request: web.Request) -> web.Response:
        payload = await json_body(request)  # 413 over max_body_bytes, 400 naming what is wrong
        ...
        raise ApiError(400, "The alert list is empty.")  # -> {"error": "..."} with 400

    app.router.add_post("/api/v2/alerts", post_alerts)

A handler without a declaration needs "read"; `@public` opens one to everyone. Every error
is JSON `{"error": "<sentence>"}`; answers use `json_response` (strict JSON, no NaN); ids in
paths go through `inputs.path_id`; a StoreError from a handler becomes 503 + Retry-After.
Before any of that, every route is behind watchd.api.origin: a Host that is not this server
gets 421 and a browser's write for another origin's page 403, so a new route needs nothing of
its own against CSRF or DNS rebinding (`@any_host` for a probe that must answer any name). `start_api(app, host, port)` serves it and returns the
runner for the caller to clean up.
"""

from watchd.api.app import ApiStartError, create_app, start_api
from watchd.api.auth import public, require_scope
from watchd.api.errors import ApiError, error_response

__all__ = [
    "ApiError",
    "ApiStartError",
    "create_app",
    "error_response",
    "public",
    "require_scope",
    "start_api",
]
