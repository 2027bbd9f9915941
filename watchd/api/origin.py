"""What browsers may do: a Host allow-list against DNS rebinding, and no cross-origin writes.

With no tokens configured (the shipped config) any web page a local browser opens could
otherwise use the API: post a form to create a silence or inject an alert (CSRF), or rebind its
own DNS name to 127.0.0.1 and read everything. Two checks, before authentication:

Host. A request must name this server: an IP address (a page served from an IP cannot be
rebound), `localhost` and `*.localhost`, this machine's host names, the listen address, or a
name in `[api] allowed_hosts` (`*.example.com` for subdomains, `*` for any). Others get 421 naming
the key, logged once per name. Exempt: a request with a valid bearer token (a rebinding page
cannot know one), a write without Origin and Sec-Fetch-Site (browsers send one of them on every
POST, so it is a sender such as Prometheus: its alerts are never refused for the name it used)
and the liveness/readiness probes (they reveal nothing).

Cross-origin writes. A request that may change state (not GET/HEAD/OPTIONS) sent by a
browser for a page of another origin gets 403, like Go's `http.CrossOriginProtection`: the
browser's `Sec-Fetch-Site` must be `same-origin` (or `none`, typed by the user); without it
(older browsers) an `Origin` header must match the Host. A request with neither header is not
from a browser (curl, Prometheus, amtool) and passes, authenticated by its token as before.

Behind a reverse proxy whose address is in `[api] trusted_proxies`, its `X-Forwarded-Host`
stands for the Host and `X-Forwarded-Proto: https` makes the session cookie `Secure`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from watchd.api.auth import TokenTable, bearer
from watchd.api.errors import ApiError
from watchd.logging import get_logger

log = get_logger(__name__)
H = TypeVar("H", bound=Handler)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_ANY_HOST_ATTR = "__watchd_any_host__"
_LOGGED_LIMIT = 100  # distinct refused hosts/origins logged; then silence (no log flood)


def any_host(handler: H) -> H:
    """Mark a handler as answering under any Host (the liveness and readiness probes)."""
    setattr(handler, _ANY_HOST_ATTR, True)
    return handler


def _host_name(host: str) -> str:
    """The name part of a Host value, lower-case, without port, brackets or a trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        host = name
    return host.rstrip(".")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def machine_names() -> set[str]:
    """This machine's host names (short and fully qualified)."""
    names = {socket.gethostname()}
    with contextlib.suppress(OSError):  # a resolver that fails: the short name is enough
        names.add(socket.getfqdn())
    return {_host_name(n) for n in names if n}


@dataclass(frozen=True, slots=True)
class WebPolicy:
    """Which Host names this server answers to and which peers are trusted reverse proxies."""

    hosts: frozenset[str]
    proxies: tuple[Network, ...] = ()

    @classmethod
    def build(
        cls, allowed_hosts: Iterable[str] = (), trusted_proxies: Iterable[str | Network] = ()
    ) -> WebPolicy:
        """Loopback names and this machine's names, plus `allowed_hosts`."""
        hosts = {"localhost", "*.localhost", *machine_names()}
        hosts |= {_host_name(h) if h != "*" else h for h in allowed_hosts if h}
        return cls(frozenset(hosts), tuple(ipaddress.ip_network(p) for p in trusted_proxies))

    def allows(self, host: str | None) -> bool:
        if host is None:
            return True  # HTTP/1.0 without Host: not a browser (they all send one)
        name = _host_name(host)
        if "*" in self.hosts or name in self.hosts or _is_ip(name):
            return True
        return any(h.startswith("*.") and name.endswith(h[1:]) for h in self.hosts)

    def _forwarded(self, request: web.Request, header: str) -> str | None:
        """The header's value as set by the nearest trusted proxy, else None."""
        value = request.headers.get(header)
        if value is None or not self.proxies or request.remote is None:
            return None
        try:
            peer = ipaddress.ip_address(request.remote)
        except ValueError:  # a Unix socket peer
            return None
        if not any(peer in net for net in self.proxies):
            return None
        # Each proxy appends; the last value is the one our own proxy set.
        return value.rsplit(",", 1)[-1].strip() or None

    def host(self, request: web.Request) -> str | None:
        """The Host the client used: X-Forwarded-Host from a trusted proxy, else Host (not
        aiohttp's request.host, which asks the resolver when there is none)."""
        return self._forwarded(request, "X-Forwarded-Host") or request.headers.get("Host")

    def client(self, request: web.Request) -> str:
        """The client's address: the one a trusted proxy put last in X-Forwarded-For, else
        the peer's ("unix" for a Unix socket peer)."""
        return self._forwarded(request, "X-Forwarded-For") or request.remote or "unix"

    def secure(self, request: web.Request) -> bool:
        """Whether the browser reached us over TLS: directly, or via a trusted proxy."""
        forwarded = self._forwarded(request, "X-Forwarded-Proto")
        return request.secure or (forwarded is not None and forwarded.lower() == "https")


POLICY = web.AppKey("watchd.web_policy", WebPolicy)


class _Once:
    """Log a refused value once (up to _LOGGED_LIMIT distinct ones): transitions, not floods."""

    def __init__(self, event: str) -> None:
        self._event = event
        self._seen: set[str] = set()

    def __call__(self, value: str, **fields: str) -> None:
        if value in self._seen or len(self._seen) >= _LOGGED_LIMIT:
            return
        self._seen.add(value)
        log.warning(self._event, **fields)


def _route(request: web.Request) -> str:
    """The route's pattern (/ack/{token}), never the path: an ack link's path is a credential."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


def _from_browser(request: web.Request) -> bool:
    return "Origin" in request.headers or "Sec-Fetch-Site" in request.headers


def _cross_origin(request: web.Request, policy: WebPolicy) -> str | None:
    """Why a state-changing request comes from another origin's page, or None."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return None if site in ("same-origin", "none") else f"the browser says it is {site}"
    origin = request.headers.get("Origin")
    if origin is None:
        return None  # not sent by a browser
    if origin == "null":
        return "it comes from an opaque origin (a sandboxed frame or a local file)"
    # An Origin is "scheme://host[:port]" and nothing else; not urlsplit, which raises on
    # a malformed one ("http://[::1").
    if origin.partition("://")[2].lower() != (policy.host(request) or "").lower():
        return f"it comes from {origin}"
    return None


def _any_host(request: web.Request) -> bool:
    return bool(getattr(request.match_info.handler, _ANY_HOST_ATTR, False))


def browser_middleware(policy: WebPolicy, table: TokenTable) -> Middleware:
    """Refuse requests for a Host not in the policy (421) and cross-origin writes (403)."""
    host_refused = _Once("api_host_refused")
    origin_refused = _Once("api_cross_origin_refused")

    def _exempt(request: web.Request) -> bool:
        """Answered under any Host: probes, bearer clients (a rebinding page cannot know a
        token) and writes with no Origin or Sec-Fetch-Site, which browsers always send on a
        POST: a sender posting alerts to a DNS alias must never lose them to this check."""
        if _any_host(request):
            return True
        if request.method not in SAFE_METHODS and not _from_browser(request):
            return True
        presented = bearer(request)
        return table.enabled and presented is not None and table.scopes(presented) is not None

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = policy.host(request)
        if host is not None and not policy.allows(host) and not _exempt(request):
            name = _host_name(host)
            host_refused(name, host=name, hint="add it to api.allowed_hosts if it is this server")
            raise ApiError(
                421,
                f"This server does not answer to the host name {name!r}; add it to "
                "api.allowed_hosts if it is a name of this watchd.",
            )
        if request.method not in SAFE_METHODS:
            why = _cross_origin(request, policy)
            if why is not None:
                origin = request.headers.get("Origin", "?")
                origin_refused(origin, origin=origin, method=request.method, route=_route(request))
                raise ApiError(
                    403,
                    f"Refused a cross-origin {request.method}: {why}. Only watchd's own pages "
                    "may change its state from a browser; clients that are not browsers send "
                    "no Origin header.",
                )
        return await handler(request)

    return guard
