"""Building the aiohttp application and starting it on a TCP port."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from aiohttp import web

from watchd.api import health, keys, openapi
from watchd.api import items as item_routes
from watchd.api.auth import TOKENS, TokenTable, auth_middleware
from watchd.api.errors import error_middleware
from watchd.api.inputs import url_text
from watchd.api.origin import POLICY, Network, WebPolicy, browser_middleware
from watchd.api.serve import BUSY, LimitedSite, connection_limit, request_guard
from watchd.logging import get_logger
from watchd.metrics import Metrics

log = get_logger(__name__)


class ApiStartError(Exception):
    """The API could not listen on `host`:`port`; `reason` says why."""

    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"The HTTP API could not listen on {_address(host, port)}: {reason}.")
        self.host = host
        self.port = port
        self.reason = reason


def create_app(
    *,
    tokens: Mapping[str, frozenset[str]],
    metrics: Metrics,
    items: Callable[[], list[dict[str, Any]]],
    ready: Callable[[], bool],
    not_ready: Callable[[], str | None] = lambda: None,
    max_body_bytes: int = 1_048_576,
    token_names: Mapping[str, str] | None = None,
    token_users: Mapping[str, str] | None = None,
    token_teams: Mapping[str, frozenset[str]] | None = None,
    allowed_hosts: Iterable[str] = (),
    trusted_proxies: Iterable[str | Network] = (),
    body_timeout: float = 30.0,
) -> web.Application:
    """The API application with its base routes; callers add theirs with `app.router.add_*`.

    `tokens` maps each token to its scopes; an empty mapping disables authentication (the
    default config listens on 127.0.0.1 only). `token_names` names them: a request's actor
    (who acknowledged, who silenced) defaults to its token's name; `token_users` maps personal
    tokens to the person they act as, `token_teams` those restricted to teams to their teams. Request bodies over
    `max_body_bytes` get 413. Requests naming a host that is neither local nor in
    `allowed_hosts` get 421 and cross-origin writes from browsers 403 (watchd.api.origin);
    `trusted_proxies` are the reverse proxies whose X-Forwarded-Host/-Proto are believed.
    `not_ready` says why a running watchd cannot work (its database file vanished): /readyz
    answers 503 with it.
    A body not in within `body_timeout` seconds of its headers gets 408 (watchd.api.serve).
    """
    table = TokenTable(tokens, token_names, token_users, token_teams)
    policy = WebPolicy.build(allowed_hosts, trusted_proxies)
    busy: set[asyncio.BaseTransport] = set()
    app = web.Application(
        client_max_size=max_body_bytes,
        middlewares=[
            request_guard(body_timeout, busy),
            error_middleware(max_body_bytes),
            browser_middleware(policy, table),
            auth_middleware(table),
            url_text,
        ],
    )
    app[POLICY] = policy
    app[TOKENS] = table
    app[BUSY] = busy
    app[keys.METRICS] = metrics
    app[keys.ITEMS] = items
    app[keys.READY] = ready
    app[keys.NOT_READY] = not_ready
    health.add_routes(app)
    item_routes.add_routes(app)
    openapi.add_routes(app)
    return app


async def start_api(
    app: web.Application,
    host: str,
    port: int,
    *,
    max_connections: int = 1000,
    header_timeout: float = 15.0,
) -> web.AppRunner:
    """Serve `app` on host:port and return the runner; the caller awaits `runner.cleanup()`.

    Port 0 picks a free port; `runner.addresses` tells which. Raises ApiStartError, naming
    the address, when the port is taken or the address is not local. At most
    `max_connections` are open at once (and at most half the descriptor limit; at the limit a
    new one replaces the oldest without a request in progress); a connection
    that has not sent a request's headers `header_timeout` seconds after it opened or after
    its previous answer is closed (watchd.api.serve).
    """
    limit = connection_limit(max_connections)
    if limit < max_connections:
        log.info("api_connections_limited", max_connections=limit, configured=max_connections)
    # No access log: scrapes and probes every few seconds would drown the log (STYLE: log
    # transitions, not repetitions); request counts belong in metrics. aiohttp's keep-alive
    # timer runs from the connection's start, and closes it only while no request is complete:
    # it is the header timeout too.
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, keepalive_timeout=header_timeout
    )
    await runner.setup()
    site = LimitedSite(runner, host, port, limit=limit, busy=app.get(BUSY, set()))
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ApiStartError(host, port, _reason(exc)) from exc
    return runner


def _reason(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the port is already in use by another process (choose another api.listen)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "the address is not one of this host's addresses"
    if exc.errno == errno.EACCES:
        return "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)"
    return exc.strerror or str(exc)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
