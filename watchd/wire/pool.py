"""A keep-alive HTTP/1.1 client for the notification receivers: connections kept per (scheme,
host, port) and reused request after request, the answer parsed by httptools.

In a storm a receiver sends thousands of small JSON POSTs to one endpoint; aiohttp's client
was ~60 % of the delivery workers' time (bench/README.md, issue 13), mostly request and
response machinery these calls do not use. This client does what they need and no more:
one request at a time per connection (no pipelining), redirects not followed (the answer is
returned), no cookies, no compression asked for, no proxy (aiohttp's session was not told to
use one either), HEAD not supported. TLS through the given ssl context; DNS answers kept
10 s; a whole request (connect included) bounded by `timeout`; answers over `max_body` bytes
refused.

A connection is reused only when the answer said it may be (HTTP/1.1 without "Connection:
close", a length or chunked framing) and it was idle for less than `IDLE` seconds. A server
may close an idle connection just as a request is written on it; a reused connection that
ends before any byte of the answer came is the only failure retried here, once, on a new
connection: the server read nothing of it then, or dropped it unanswered (the receivers'
idempotency keys make a repeat harmless). Any other failure is the caller's to retry.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from yarl import URL

from watchd.wire.answer import AnswerProtocol
from watchd.wire.connect import Resolver, WireError, charset, connect, request_head

IDLE = 15.0  # seconds a connection may wait unused and still be reused (aiohttp's default)
MAX_BODY = 4 * 1024 * 1024  # bytes of an answer's body read at most


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete answer: its status, header fields (names in lower case, as received: a
    receiver reads one or two of them, so none is decoded until asked for) and body."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of the header `name` (lower case), or None."""
        wanted = name.encode("latin-1")
        for key, value in self.headers:
            if key == wanted:
                return value.decode("utf-8", "surrogateescape")
        return None

    def text(self) -> str:
        """The body as text, in the charset its Content-Type names (else UTF-8)."""
        return self.body.decode(charset(self.header("content-type")), errors="replace")


@dataclass(frozen=True, slots=True)
class _Target:
    """What a URL gives a request: its connection key, the Host header and request target."""

    scheme: str
    host: str
    port: int
    authority: str
    path: str


@lru_cache(maxsize=256)
def _target(url: str) -> _Target:
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise WireError(f"not an http or https URL: {url}")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return _Target(
        parsed.scheme,
        parsed.host,
        port,
        parsed.host_port_subcomponent or parsed.host,
        parsed.raw_path_qs or "/",
    )


class _Stale(Exception):
    """A reused connection ended before any byte of the answer: try a new one."""


class _Connection(AnswerProtocol):
    """One TCP (or TLS) connection: sends a request when idle, parses its answer."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self._limit = limit
        self._transport: asyncio.Transport | None = None
        self.closed = False
        self.served = 0  # answers read in full on this connection
        self.idle_since = 0.0  # monotonic
        self._answer: asyncio.Future[Reply] | None = None
        self._began = False  # a byte of the current answer has come
        self._chunks: list[bytes] = []
        self._size = 0
        self._status = 0
        self._reusable = False
        # An answer with neither Content-Length nor chunked framing ends with the connection.
        self._ends_at_close = False

    def send(self, request: bytes) -> asyncio.Future[Reply]:
        """Write `request`; the future is the answer (WireError, _Stale on failure)."""
        assert self._transport is not None and self._answer is None
        self._answer = asyncio.get_running_loop().create_future()
        self._began = self._ends_at_close = False
        self._status = self._head_size = 0
        self._headers, self._chunks, self._size = [], [], 0
        self._transport.write(request)
        return self._answer

    def usable(self, now: float) -> bool:
        """Open, idle, and idle for less than IDLE seconds."""
        transport = self._transport
        return (
            not self.closed
            and transport is not None
            and not transport.is_closing()
            and now - self.idle_since < IDLE
        )

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.abort()  # unanswered or unwanted: nothing left to flush or read

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            self.close()  # bytes nobody asked for: the framing is lost
            return
        self._began = True
        self._feed(data)

    # the answer (AnswerProtocol)

    def _head(self, status: int) -> None:
        self._status = status
        self._reusable = self._parser.should_keep_alive()
        framed = any(name in (b"content-length", b"transfer-encoding") for name, _ in self._headers)
        self._ends_at_close = not framed and status not in (204, 304)

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > self._limit:
            self._fail(WireError(f"the answer's body is over {self._limit} bytes"))
            return
        self._chunks.append(body)

    def _complete(self) -> None:
        answer = self._answer
        if answer is None or answer.done():
            return
        self._answer = None
        self.served += 1
        self.idle_since = time.monotonic()
        if not self._reusable:
            self.close()
        answer.set_result(Reply(self._status, tuple(self._headers), b"".join(self._chunks)))

    def _ended(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self._answer
        if answer is None or answer.done():
            return
        if not self._began:
            if self.served:
                self._fail(_Stale())
            else:
                self._fail(WireError("the server closed the connection without an answer"))
            return
        if self._ends_at_close and exc is None:
            self._reusable = False
            self._complete()  # an answer framed by the connection's end ends here
        else:
            self._fail(WireError("the server closed the connection before the answer's end"))

    def _fail(self, exc: Exception) -> None:
        answer, self._answer = self._answer, None
        self.close()
        if answer is not None and not answer.done():
            answer.set_exception(exc)


class KeepAlivePool:
    """Requests over kept connections; `request` raises WireError or TimeoutError."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext,
        timeout: float,
        max_idle: int,
        max_body: int = MAX_BODY,
    ) -> None:
        """`tls` verifies https peers, `timeout` bounds a request (connecting and the retry
        on a new connection included), `max_idle` connections are kept per host."""
        self._tls = tls
        self._timeout = timeout
        self._max_idle = max_idle
        self._max_body = max_body
        self._resolver = Resolver()
        self._idle: dict[tuple[str, str, int], deque[_Connection]] = {}

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]],
        body: bytes | None,
    ) -> Reply:
        """Send one request and read its answer."""
        if method == "HEAD":
            raise ValueError("HEAD is not supported")  # its answer's framing differs
        target = _target(url)
        # Names are case-insensitive: a later header replaces an earlier one of the same name
        # (a template's Accept replaces the default one, as aiohttp's headers did).
        fields = {"host": ("Host", target.authority), "accept": ("Accept", "*/*")}
        for name, value in headers:
            fields[name.lower()] = (name, value)
        if body is not None or method in ("POST", "PUT", "PATCH"):
            fields["content-length"] = ("Content-Length", str(len(body or b"")))
        head = request_head(method, target.path, fields.values())
        request = head + body if body else head
        key = (target.scheme, target.host, target.port)
        async with asyncio.timeout(self._timeout):
            conn = self._reused(key)
            if conn is not None:
                try:
                    return await self._exchange(key, conn, request)
                except _Stale:
                    pass
            conn = await self._open(target)
            return await self._exchange(key, conn, request)

    def _reused(self, key: tuple[str, str, int]) -> _Connection | None:
        """The most recently idle connection to `key` still usable; older ones dropped."""
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.usable(now):
                return conn
            conn.close()
        return None

    async def _open(self, target: _Target) -> _Connection:
        conn = _Connection(self._max_body)
        tls = self._tls if target.scheme == "https" else None
        await connect(lambda: conn, target.host, target.port, tls, self._resolver)
        return conn

    async def _exchange(
        self, key: tuple[str, str, int], conn: _Connection, request: bytes
    ) -> Reply:
        try:
            reply = await conn.send(request)
        except BaseException:
            conn.close()  # cancelled, timed out or broken: drop it now, leave nothing open
            raise
        if not conn.closed:
            idle = self._idle.setdefault(key, deque())
            if len(idle) < self._max_idle:
                idle.append(conn)
            else:
                conn.close()
        return reply

    def close(self) -> None:
        """Close every kept connection."""
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()
