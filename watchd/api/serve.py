"""Serving the API without letting slow or idle clients take the daemon's descriptors.

    listening socket ──► accept loop ──────► aiohttp connection ──► headers ──► handler ──► body
                         (at max_connections:  (closed when no        within      (408 and closed
                          closes the oldest     request within        header_     when the body is
                          idle one, or waits)   header_timeout)       timeout     not in within
                                                                                  body_timeout)

watchd accepts connections itself instead of through asyncio's server: asyncio's accept loop
cannot stop at a limit, and when descriptors run out (EMFILE) it logs one error per try, many
per second. Here at most `max_connections` are open, and never more than half the process's
descriptor limit, so the store, checks and receivers keep the other half. At the limit a new
connection takes the place of the oldest one that has no request in progress (a slow client
still sending its headers, or an idle keep-alive connection), so clients that send their
request at once are served even while others hold connections open; when every connection has
a request in progress, new ones wait in the kernel's backlog, holding no descriptor. An accept
that fails anyway is logged once, and its recovery once, with the count in between.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import resource
import socket
import weakref
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from watchd.failures import FailureLog
from watchd.logging import get_logger

log = get_logger(__name__)

# Accept errors that mean "out of a resource for now": wait and try again.
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_RESOURCE_BACKOFF = 0.5  # seconds between accepts while descriptors are exhausted
_LIMIT_POLL = 0.05  # seconds between looks at the connection count while at the limit

# The connections with a request in progress (its handler running): never closed to make room.
BUSY = web.AppKey[set[asyncio.BaseTransport]]("watchd.busy-connections")


def connection_limit(configured: int) -> int:
    """`configured`, but at most half the soft RLIMIT_NOFILE (at least 1)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft // 2))


def request_guard(timeout: float, busy: set[asyncio.BaseTransport]) -> Middleware:
    """A middleware answering 408 (and closing the connection) when a request's body has not
    fully arrived `timeout` seconds after its headers: a client trickling a body cannot hold a
    connection and a handler for long. It also keeps the connection in `busy` while its request
    is handled. Put it outermost, so it closes the final response."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            busy.add(transport)
        try:
            return await _within_deadline(request, handler, timeout)
        finally:
            if transport is not None:
                busy.discard(transport)

    return guard


async def _within_deadline(
    request: web.Request, handler: Handler, seconds: float
) -> web.StreamResponse:
    body = request.content
    if body.is_eof():
        return await handler(request)
    expired = web.HTTPRequestTimeout(
        text=f"the request body did not arrive within {seconds:g} s of its headers"
    )

    def expire() -> None:
        if not body.is_eof():
            body.set_exception(expired)

    timer = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        response = await handler(request)
    finally:
        timer.cancel()
    if body.exception() is expired and not response.prepared:
        response.force_close()  # the rest of the body may still be on its way
    return response


class LimitedListener(asyncio.AbstractServer):
    """Listening sockets holding at most `limit` connections: at the limit a new one replaces
    the oldest connection not in `busy`, or waits (in the backlog) while all are busy."""

    def __init__(
        self,
        sockets: list[socket.socket],
        server: web.Server,
        limit: int,
        busy: set[asyncio.BaseTransport],
    ) -> None:
        self._sockets = sockets
        self._server = server
        self._limit = limit
        self._busy = busy
        self._opened: weakref.WeakKeyDictionary[asyncio.BaseTransport, float] = (
            weakref.WeakKeyDictionary()
        )
        self._loop = asyncio.get_running_loop()
        self._failures = FailureLog(
            log, failing="api_accept_failing", recovered="api_accept_recovered"
        )
        self._full = FailureLog(
            log,
            failing="api_connections_full",
            recovered="api_connections_below_limit",
            level=logging.WARNING,
        )
        self._newest: asyncio.BaseTransport | None = None  # never closed to make room
        self._replaced = 0
        self._failed_accepts = 0
        self._tasks = [
            self._loop.create_task(self._accept(sock), name="watchd.api-accept") for sock in sockets
        ]

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._sockets)

    def get_loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def is_serving(self) -> bool:
        return any(not task.done() for task in self._tasks)

    async def start_serving(self) -> None:
        """Serving starts at construction."""

    async def serve_forever(self) -> None:
        await asyncio.gather(*self._tasks)

    def close(self) -> None:
        # Each socket is closed once its accept has let go of it: closing it first would leave
        # a reader registered on a descriptor number the next open() may reuse.
        for task, sock in zip(self._tasks, self._sockets, strict=True):
            task.add_done_callback(functools.partial(_close, sock))
            task.cancel()

    async def wait_closed(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, sock: socket.socket) -> None:
        while True:
            # aiohttp tells no one when a connection closes: look again while at the limit.
            # One past the limit is accepted: it closes the oldest idle connection if there
            # is one, else accepting waits until a request ends (only one connection over).
            while not self._make_room():  # noqa: ASYNC110
                await asyncio.sleep(_LIMIT_POLL)
            try:
                conn, _ = await self._loop.sock_accept(sock)
            except OSError as exc:
                if exc.errno not in _RESOURCE_ERRNOS:
                    if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                        continue  # the client gave up before we accepted (or a firewall)
                    raise
                self._failed_accepts += 1
                self._failures.failed(
                    error=exc.strerror or str(exc),
                    open_connections=len(self._server.connections),
                    hint="descriptors are exhausted: raise LimitNOFILE or lower max_connections",
                )
                await asyncio.sleep(_RESOURCE_BACKOFF)
                continue
            self._failures.recovered(failed_accepts=self._failed_accepts)
            self._failed_accepts = 0
            try:
                transport, _ = await self._loop.connect_accepted_socket(self._server, conn)
            except OSError:
                conn.close()
                continue
            self._opened[transport] = self._loop.time()
            self._newest = transport
            self._make_room()

    def _make_room(self) -> bool:
        """Whether at most `limit` connections are open, after closing the oldest one without
        a request in progress (never the one accepted last) if there are more."""
        count = len(self._server.connections)  # an upper bound: some may be closing
        if count < 0.9 * self._limit:  # some slack, so as not to log every turn
            self._full.recovered(replaced_connections=self._replaced)
            self._replaced = 0
        if count <= self._limit:
            return True
        open_ = [
            h.transport
            for h in self._server.connections
            if h.transport is not None and not h.transport.is_closing()
        ]
        if len(open_) <= self._limit:
            return True
        idle = [t for t in open_ if t not in self._busy and t is not self._newest]
        if not idle:
            return False
        min(idle, key=lambda t: self._opened.get(t, 0.0)).close()
        self._replaced += 1
        self._full.failed(
            max_connections=self._limit,
            action="closing the oldest connections without a request in progress",
        )
        return len(open_) - 1 <= self._limit


class LimitedSite(web.BaseSite):
    """An aiohttp site on host:port served by a LimitedListener."""

    __slots__ = ("_busy", "_host", "_limit", "_port")

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        limit: int,
        busy: set[asyncio.BaseTransport],
    ) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._limit = limit
        self._busy = busy

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        sockets = await _listen(self._host, self._port, self._backlog)
        self._server = LimitedListener(sockets, server, self._limit, self._busy)


def _close(sock: socket.socket, _: object) -> None:
    sock.close()


async def _listen(host: str, port: int, backlog: int) -> list[socket.socket]:
    """Bound, listening, non-blocking sockets for every address of `host` (as asyncio's
    create_server binds them); raise OSError if one cannot be bound."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in _unique(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _unique(
    infos: Iterable[tuple[int, int, int, str, tuple[object, ...]]],
) -> list[tuple[int, int, int, str, tuple[object, ...]]]:
    seen: set[tuple[int, tuple[object, ...]]] = set()
    out = []
    for info in infos:
        key = (info[0], info[4])
        if key not in seen:
            seen.add(key)
            out.append(info)
    return out
