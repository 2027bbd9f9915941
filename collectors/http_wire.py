"""A lean HTTP/1.1 client for checks that open a fresh connection per run.

One request per connection ("Connection: close"), written on an asyncio Protocol and parsed by
httptools (the C parser uvicorn uses): Content-Length, chunked and read-until-close bodies,
gzip/deflate, redirects (relative Location, 301/302/303 turning a POST into a GET,
credentials dropped when the origin changes, cookies set by a redirecting answer sent on),
and the peer certificate of the connection that served the final answer. aiohttp's request
machinery cost about as much CPU per check as the TCP connect itself; a check needs none of
its pooling, so the common case skips it. Kept connections (`fresh_connection = false`) stay
on aiohttp.

Every failure is a `WireError` whose message is the reason a person reads after the request's
name ("cannot connect to ...", "no answer within ..."), worded as for the aiohttp path. The
address lookups, the connection, the request head and WireError live in watchd.wire.connect,
shared with the notification receivers' keep-alive client.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
from yarl import URL

from watchd.wire.answer import AnswerProtocol
from watchd.wire.connect import MAX_HEAD, Resolver, WireError, charset, connect, request_head

_REDIRECTS = frozenset((301, 302, 303, 307, 308))


@dataclass(frozen=True, slots=True)
class Answer:
    """The final answer of a request (after redirects): what grading needs of it."""

    status: int
    url: URL
    charset: str
    body: bytes  # decompressed, at most the limit
    truncated: bool  # more body was left unread past the limit
    peer_cert: bytes | None  # DER certificate of the connection that served it (https)


@dataclass(slots=True)
class Progress:
    """How far the current request got: the timeout's message depends on it."""

    answered: bool = False


async def fetch(
    url: URL,
    method: str,
    headers: dict[str, str],
    data: bytes | None,
    *,
    sslcontext: ssl.SSLContext,
    follow_redirects: bool,
    max_redirects: int,
    limit: int,
    resolver: Resolver,
    progress: Progress,
) -> Answer:
    """The final answer to `method url`, following redirects as aiohttp does.

    `max_redirects` counts as in aiohttp: reaching it is an error, and 0 sets no limit.
    """
    jar: aiohttp.CookieJar | None = None
    redirects = 0
    request_headers = dict(headers)
    while True:
        cookie = _cookie_header(jar, url)
        exchange = await _exchange(
            url,
            method,
            request_headers,
            data,
            cookie,
            sslcontext=sslcontext,
            stop_at_redirect=follow_redirects,
            limit=limit,
            resolver=resolver,
            progress=progress,
        )
        location = exchange.header(b"location") or exchange.header(b"uri")
        if not (follow_redirects and exchange.status in _REDIRECTS and location is not None):
            return exchange.answer(url)
        cookies = exchange.headers_named(b"set-cookie")
        if cookies:
            if jar is None:
                jar = aiohttp.CookieJar(unsafe=True)  # cookies of IP hosts too, as browsers
            jar.update_cookies_from_headers(cookies, url)
        redirects += 1
        if max_redirects and redirects >= max_redirects:
            raise WireError(f"more than {max_redirects} redirects")
        if (exchange.status == 303 and method != "HEAD") or (
            exchange.status in (301, 302) and method == "POST"
        ):
            method, data = "GET", None
        target = _redirect_target(url, location)
        if target.origin() != url.origin():
            request_headers = {
                name: value
                for name, value in request_headers.items()
                if name.lower() not in ("authorization", "cookie")
            }
        url = target


def _redirect_target(url: URL, location: str) -> URL:
    try:
        target = URL(location)
        if target.scheme not in ("http", "https", ""):
            raise ValueError(location)
        if not target.absolute:
            target = url.join(target)
        if not target.host:
            raise ValueError(location)
    except ValueError as exc:
        raise WireError(f"redirected to an unusable URL: {location}") from exc
    return target.with_fragment(None)


def _cookie_header(jar: aiohttp.CookieJar | None, url: URL) -> str | None:
    if jar is None:
        return None
    found = jar.filter_cookies(url)
    return "; ".join(f"{morsel.key}={morsel.coded_value}" for morsel in found.values()) or None


async def _exchange(
    url: URL,
    method: str,
    headers: dict[str, str],
    data: bytes | None,
    cookie: str | None,
    *,
    sslcontext: ssl.SSLContext,
    stop_at_redirect: bool,
    limit: int,
    resolver: Resolver,
    progress: Progress,
) -> _Exchange:
    """One request on one new connection, read to the end of its answer (or the limit)."""
    progress.answered = False
    request = _request_bytes(url, method, headers, data, cookie)
    host = url.host or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    tls = sslcontext if url.scheme == "https" else None
    exchange = _Exchange(request, method == "HEAD", stop_at_redirect, limit, progress)
    transport = await connect(lambda: exchange, host, port, tls, resolver)
    try:
        await exchange.done
    except BaseException:
        transport.abort()  # cancelled, timed out or broken: drop it now, leave nothing open
        raise
    transport.close()
    return exchange


def _request_bytes(
    url: URL, method: str, headers: dict[str, str], data: bytes | None, cookie: str | None
) -> bytes:
    fields = {
        "host": ("Host", url.host_port_subcomponent or ""),
        "accept": ("Accept", "*/*"),
        "accept-encoding": ("Accept-Encoding", "gzip, deflate"),
    }
    for name, value in headers.items():
        fields[name.lower()] = (name, value)
    if cookie is not None:
        given = fields.get("cookie")
        fields["cookie"] = ("Cookie", f"{given[1]}; {cookie}" if given else cookie)
    if data is not None:
        fields["content-length"] = ("Content-Length", str(len(data)))
        fields.setdefault("content-type", ("Content-Type", "application/octet-stream"))
    elif method in ("POST", "PUT", "PATCH"):
        fields["content-length"] = ("Content-Length", "0")
    fields["connection"] = ("Connection", "close")
    head = request_head(method, url.raw_path_qs or "/", fields.values())
    return head + data if data else head


class _Exchange(AnswerProtocol):
    """Writes one request, parses its answer and resolves `done` when the answer is read."""

    def __init__(
        self,
        request: bytes,
        head_only: bool,
        stop_at_redirect: bool,
        limit: int,
        progress: Progress,
    ) -> None:
        super().__init__()
        self._request = request
        self._head_only = head_only
        self._stop_at_redirect = stop_at_redirect
        self._limit = limit
        self._progress = progress
        self._received = 0  # bytes received while the head has not ended
        # A body with neither Content-Length nor chunked ends with the connection.
        self._ends_at_close = False
        self._chunks: list[bytes] = []
        self._size = 0
        self._decoder: Any = None  # a zlib decompressobj for gzip/deflate bodies
        self.status = 0
        self.truncated = False
        self.peer_cert: bytes | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sslobject = transport.get_extra_info("ssl_object")  # the handshake is done here
        if sslobject is not None:
            self.peer_cert = sslobject.getpeercert(binary_form=True)
        cast(asyncio.Transport, transport).write(self._request)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        self._feed(data)
        if not self._progress.answered:  # a head line that does not end (on_header waits)
            self._received += len(data)
            if self._received > MAX_HEAD:
                self._fail(WireError(f"invalid HTTP response: a head over {MAX_HEAD} bytes"))

    # the answer (AnswerProtocol)

    def _head(self, status: int) -> None:
        if self.done.done():
            return
        self.status = status
        self._progress.answered = True
        length = self.header(b"content-length")
        chunked = "chunked" in (self.header(b"transfer-encoding") or "").lower()
        self._ends_at_close = not chunked and length is None
        stop = self._stop_at_redirect and status in _REDIRECTS and self.header(b"location")
        if self._head_only or status in (204, 304) or stop:
            self._finish()  # no body follows, or none is needed
            return
        encoding = (self.header(b"content-encoding") or "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = _Deflate()

    def on_body(self, body: bytes) -> None:
        if self.done.done():
            return
        if self._decoder is not None:
            try:
                body = self._decoder.decompress(body, self._limit - self._size + 1)
            except zlib.error as exc:
                self._fail(WireError(f"the response body is broken: cannot decompress: {exc}"))
                return
        self._keep(body)

    def header(self, name: bytes) -> str | None:
        """The first value of a header (lower-case name), or None."""
        for key, value in self._headers:
            if key == name:
                return value.decode("utf-8", "surrogateescape")  # as aiohttp's parser
        return None

    def headers_named(self, name: bytes) -> list[str]:
        return [
            value.decode("utf-8", "surrogateescape") for key, value in self._headers if key == name
        ]

    def answer(self, url: URL) -> Answer:
        return Answer(
            self.status,
            url,
            charset(self.header(b"content-type")),
            b"".join(self._chunks),
            self.truncated,
            self.peer_cert,
        )

    def _keep(self, body: bytes) -> None:
        room = self._limit - self._size
        if len(body) > room:
            body = body[:room]
            self.truncated = True
        if body:
            self._chunks.append(body)
            self._size += len(body)
        if self.truncated:
            self._finish()

    def _complete(self) -> None:
        if self.done.done():
            return
        if self._decoder is not None:
            try:
                self._keep(self._decoder.flush())
            except zlib.error as exc:
                self._fail(WireError(f"the response body is broken: cannot decompress: {exc}"))
                return
        self._finish()

    def _ended(self, exc: Exception | None) -> None:
        if self.done.done():
            return
        if not self._progress.answered:
            self._fail(WireError("the server closed the connection without a complete answer"))
        elif self._ends_at_close and exc is None:
            self._complete()
        else:
            self._fail(
                WireError("the response body is broken: the connection closed before its end")
            )

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


class _Deflate:
    """A "deflate" body: zlib-wrapped as the RFC says, or raw deflate as some servers send."""

    def __init__(self) -> None:
        self._inner: Any = None

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._inner is None:
            raw = bool(data) and (data[0] & 0x0F) != 8  # a zlib stream starts with CM = 8
            self._inner = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        out: bytes = self._inner.decompress(data, max_length)
        return out

    def flush(self) -> bytes:
        return b"" if self._inner is None else bytes(self._inner.flush())
