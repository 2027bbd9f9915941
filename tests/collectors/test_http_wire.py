"""The lean HTTP/1.1 client of fresh-connection checks, against real loopback servers.

A raw asyncio server answers with exact bytes (chunked, compressed, cut short, garbage), so
the framing and failures a real server may send are met as they come over the wire; an
aiohttp server answers the redirect cases.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from collectors.http import HttpCollector, HttpConfig
from watchd.model import CheckContext, CheckResult, Status

pytestmark = pytest.mark.integration

Serve = Callable[..., Awaitable[str]]  # the `serve` fixture of conftest.py
BODY = b"hello world, all systems go"


def _head(status: str = "200 OK", *fields: str) -> bytes:
    return ("\r\n".join((f"HTTP/1.1 {status}", *fields)) + "\r\n\r\n").encode()


def _chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


_DEFLATE_RAW = zlib.compressobj(wbits=-zlib.MAX_WBITS)
RAW_DEFLATED = _DEFLATE_RAW.compress(BODY) + _DEFLATE_RAW.flush()

# path -> (bytes sent back, then close the connection?)
ANSWERS: dict[str, tuple[bytes, bool]] = {
    "/length": (_head("200 OK", f"Content-Length: {len(BODY)}") + BODY, False),
    "/chunked": (
        _head("200 OK", "Transfer-Encoding: chunked") + _chunked(BODY[:5], BODY[5:]),
        False,
    ),
    "/to-close": (_head("200 OK", "Connection: close") + BODY, True),
    "/gzip": (
        _head("200 OK", "Content-Encoding: gzip", "Transfer-Encoding: chunked")
        + _chunked(gzip.compress(BODY)),
        False,
    ),
    "/deflate": (
        _head("200 OK", "Content-Encoding: deflate", f"Content-Length: {len(zlib.compress(BODY))}")
        + zlib.compress(BODY),
        False,
    ),
    "/raw-deflate": (
        _head("200 OK", "Content-Encoding: deflate", f"Content-Length: {len(RAW_DEFLATED)}")
        + RAW_DEFLATED,
        False,
    ),
    "/big-gzip": (
        _head("200 OK", "Content-Encoding: gzip", "Connection: close")
        + gzip.compress(b"x" * 5_000_000 + b"TAIL"),
        True,
    ),
    "/continue": (
        _head("100 Continue") + _head("200 OK", f"Content-Length: {len(BODY)}") + BODY,
        False,
    ),
    "/head": (_head("200 OK", "Content-Length: 1234"), False),
    "/latin": (
        _head("200 OK", "Content-Type: text/plain; charset=ISO-8859-1", "Content-Length: 5")
        + "caf\xe9!".encode("latin-1"),
        False,
    ),
    "/cut": (_head("200 OK", "Content-Length: 100") + BODY, True),
    "/cut-chunked": (_head("200 OK", "Transfer-Encoding: chunked") + b"1b\r\nhello", True),
    "/nothing": (b"", True),
    "/garbage": (b"SSH-2.0-OpenSSH_9.2p1\r\n\r\n", True),
    "/stalled-body": (_head("200 OK", "Content-Length: 100") + b"partial", False),
    "/to-ftp": (_head("302 Found", "Location: ftp://files.example/", "Content-Length: 0"), False),
    "/endless-line": (b"HTTP/1.1 200 OK\r\nX-Fill: " + b"a" * 100_000, False),
    "/huge-head": (_head("200 OK", *(f"X-Fill-{n}: {'a' * 1000}" for n in range(100))), False),
}


class RawServer:
    """Answers each request with the bytes ANSWERS holds for its path, and records requests."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.base = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head)
            path = head.split(b" ", 2)[1].decode().partition("?")[0]
            answer, close = ANSWERS[path]
            writer.write(answer)
            await writer.drain()
            if not close:
                await reader.read()  # the client closes when it has what it needs
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    server = RawServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.base = f"http://127.0.0.1:{port}"
    async with listener:
        yield server


@pytest.fixture
async def raw_tls(ca: trustme.CA) -> AsyncIterator[RawServer]:
    """The raw server behind TLS, with a certificate from the test CA for 127.0.0.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = RawServer()
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, ssl=context)
    port = listener.sockets[0].getsockname()[1]
    server.base = f"https://127.0.0.1:{port}"
    async with listener:
        yield server


async def _check(ctx: CheckContext, **settings: Any) -> CheckResult:
    collector = HttpCollector(HttpConfig(**settings))
    try:
        return await collector.collect(ctx)
    finally:
        await collector.aclose()


def _bytes(result: CheckResult) -> float:
    (size,) = (s.value for s in result.samples if s.metric == "http_content_bytes")
    return size


@pytest.mark.parametrize(
    "path", ["/length", "/chunked", "/to-close", "/gzip", "/deflate", "/raw-deflate", "/continue"]
)
async def test_every_body_framing_is_read(raw: RawServer, ctx: CheckContext, path: str) -> None:
    """Content-Length, chunked, read-to-close, gzip and deflate bodies (and a 100 Continue
    before the answer) all give the same decoded body."""
    result = await _check(ctx, url=raw.base + path, body_regex="systems go$")
    assert result.status is Status.OK, result.message
    assert _bytes(result) == len(BODY)


@pytest.mark.parametrize("path", ["/to-close", "/chunked", "/gzip"])
async def test_bodies_over_tls(
    raw_tls: RawServer, ctx: CheckContext, ca_file: Path, path: str
) -> None:
    """Over TLS too, a body that ends with the connection (TLS's end of stream) or in chunks is
    read whole, and the certificate's days are reported."""
    result = await _check(ctx, url=raw_tls.base + path, ca_file=ca_file, body_regex="systems go$")
    assert result.status is Status.OK, result.message
    assert _bytes(result) == len(BODY)
    assert "tls_cert_expiry_days" in {sample.metric for sample in result.samples}


async def test_compressed_body_is_read_no_further_than_the_limit(
    raw: RawServer, ctx: CheckContext
) -> None:
    """max_body_bytes counts decoded bytes: a 5 MB gzip body is not inflated past the limit."""
    url = raw.base + "/big-gzip"
    result = await _check(ctx, url=url, max_body_bytes=1000, body_regex="^x{1000}$")
    assert result.status is Status.OK, result.message
    assert _bytes(result) == 1000
    assert result.message.endswith("1000 bytes (read no further than 1000)")
    whole = await _check(ctx, url=url, max_body_bytes=10_000_000, body_regex="TAIL")
    assert whole.status is Status.OK, whole.message
    assert _bytes(whole) == 5_000_004


async def test_head_answer_has_no_body(raw: RawServer, ctx: CheckContext) -> None:
    """A HEAD answer ends with its head, whatever Content-Length says."""
    result = await _check(ctx, url=raw.base + "/head", method="HEAD")
    assert result.status is Status.OK, result.message
    assert _bytes(result) == 0


async def test_charset_of_the_answer_decodes_the_body(raw: RawServer, ctx: CheckContext) -> None:
    """body_regex sees the body decoded with the charset the answer names."""
    result = await _check(ctx, url=raw.base + "/latin", body_regex="café!")
    assert result.status is Status.OK, result.message


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/cut", "the response body is broken: the connection closed before its end"),
        ("/cut-chunked", "the response body is broken: the connection closed before its end"),
        ("/nothing", "the server closed the connection without a complete answer"),
        ("/to-ftp", "redirected to an unusable URL: ftp://files.example/"),
    ],
)
async def test_broken_answers_are_critical(
    raw: RawServer, ctx: CheckContext, path: str, reason: str
) -> None:
    """An answer cut short, no answer at all, or a redirect off HTTP is CRITICAL, saying which."""
    url = raw.base + path
    result = await _check(ctx, url=url)
    assert result.status is Status.CRITICAL
    assert result.message == f"GET {url}: {reason}"


async def test_garbage_answer_is_invalid(raw: RawServer, ctx: CheckContext) -> None:
    """Something other than HTTP on the port is CRITICAL "invalid HTTP response"."""
    url = raw.base + "/garbage"
    result = await _check(ctx, url=url)
    assert result.status is Status.CRITICAL
    assert result.message.startswith(f"GET {url}: invalid HTTP response: ")


@pytest.mark.parametrize("path", ["/huge-head", "/endless-line"])
async def test_endless_head_is_refused(raw: RawServer, ctx: CheckContext, path: str) -> None:
    """A head of 100 kB (many fields, or one line) is not buffered to its end: past 64 KiB
    the answer is invalid."""
    url = raw.base + path
    result = await _check(ctx, url=url)
    assert result.message == f"GET {url}: invalid HTTP response: a head over 65536 bytes"


async def test_stalled_body_is_named(raw: RawServer) -> None:
    """A head that came in time and a body that did not: the message says the body was late."""
    url = raw.base + "/stalled-body"
    ctx = CheckContext(item="web", check="probe", timeout=0.5)
    result = await _check(ctx, url=url)
    assert result.message == f"GET {url}: body not complete within 0.45 s"


async def test_request_head_is_well_formed(raw: RawServer, ctx: CheckContext) -> None:
    """One request line, Host with the port, configured headers replacing the defaults without
    regard to case, a body with its length, and Connection: close."""
    result = await _check(
        ctx,
        url=raw.base + "/length?q=1",
        method="POST",
        body="ping",
        headers={"accept": "text/plain", "X-Team": "ops"},
    )
    assert result.status is Status.OK, result.message
    (request,) = raw.requests
    lines = request.decode().split("\r\n")
    assert lines[0] == "POST /length?q=1 HTTP/1.1"
    fields = [line.split(": ", 1) for line in lines[1:] if line]
    names = [name.lower() for name, _ in fields]
    assert len(names) == len(set(names))
    values = {name.lower(): value for name, value in fields}
    assert values["host"] == raw.base.removeprefix("http://")
    assert values["accept"] == "text/plain"
    assert values["x-team"] == "ops"
    assert values["user-agent"] == "watchd"
    assert values["content-length"] == "4"
    assert values["connection"] == "close"


def _redirecting_app(target: str = "") -> web.Application:
    """/see-other answers 303, /temporary 307, /away 302 to `target`; /echo echoes."""

    async def see_other(request: web.Request) -> web.Response:
        raise web.HTTPSeeOther("/echo")

    async def temporary(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/echo")

    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(target + "/echo")

    async def echo(request: web.Request) -> web.Response:
        reply = {
            "method": request.method,
            "body": await request.text(),
            "auth": request.headers.get("Authorization", ""),
        }
        return web.json_response(reply)

    app = web.Application()
    app.router.add_route("*", "/see-other", see_other)
    app.router.add_route("*", "/temporary", temporary)
    app.router.add_route("*", "/away", away)
    app.router.add_route("*", "/echo", echo)
    return app


async def test_redirect_methods_follow_the_status(serve: Serve, ctx: CheckContext) -> None:
    """A POST redirected by 303 becomes a GET without body; by 307 it stays a POST with it."""
    base = await serve(_redirecting_app())
    settings = {"method": "POST", "body": "ping"}
    seen = await _check(
        ctx, url=f"{base}/see-other", body_regex='"method": "GET", "body": ""', **settings
    )
    assert seen.status is Status.OK, seen.message
    kept = await _check(
        ctx, url=f"{base}/temporary", body_regex='"method": "POST", "body": "ping"', **settings
    )
    assert kept.status is Status.OK, kept.message


async def test_credentials_stay_with_their_origin(
    serve: Serve, ctx: CheckContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bearer goes along a redirect on the same origin and is dropped on another origin."""
    monkeypatch.setenv("WATCHD_TEST_TOKEN", "s3cret-token")
    other = await serve(_redirecting_app())
    here = await serve(_redirecting_app(other))
    bearer = {"env": "WATCHD_TEST_TOKEN"}
    same = await _check(
        ctx, url=f"{here}/see-other", bearer=bearer, body_regex='"auth": "Bearer s3cret-token"'
    )
    assert same.status is Status.OK, same.message
    moved = await _check(ctx, url=f"{here}/away", bearer=bearer, body_regex='"auth": ""')
    assert moved.status is Status.OK, moved.message


async def test_host_name_is_resolved(raw: RawServer, ctx: CheckContext) -> None:
    """A host name is looked up and each of its addresses tried: localhost may give ::1 first,
    where nothing listens, and 127.0.0.1 then answers."""
    url = raw.base.replace("127.0.0.1", "localhost") + "/length"
    collector = HttpCollector(HttpConfig(url=url))
    try:
        for _ in range(2):  # the second run takes the address from the lookup cache
            result = await collector.collect(ctx)
            assert result.status is Status.OK, result.message
    finally:
        await collector.aclose()
