"""The receivers' keep-alive HTTP/1.1 client against real loopback servers: an aiohttp server
for reuse and TLS, a raw asyncio server for the exact bytes and closes a real server may send.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import trustme
from aiohttp import web

from watchd.wire.connect import WireError
from watchd.wire.pool import KeepAlivePool

JSON = (("Content-Type", "application/json"),)


def _pool(timeout: float = 5.0, tls: ssl.SSLContext | None = None, **kw: int) -> KeepAlivePool:
    return KeepAlivePool(tls=tls or ssl.create_default_context(), timeout=timeout, max_idle=4, **kw)


@dataclass
class Peers:
    """What an aiohttp server saw: the client port of each request, the bodies."""

    ports: list[int] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


async def _aiohttp_server(
    tls: ssl.SSLContext | None = None,
) -> tuple[str, Peers, web.AppRunner]:
    peers = Peers()

    async def hook(request: web.Request) -> web.Response:
        peers.ports.append(request.transport.get_extra_info("peername")[1])  # type: ignore[union-attr]
        peers.bodies.append(await request.read())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = runner.addresses[-1][1]
    return f"{'https' if tls else 'http'}://127.0.0.1:{port}/hook", peers, runner


@pytest.fixture
async def hook() -> AsyncIterator[tuple[str, Peers]]:
    url, peers, runner = await _aiohttp_server()
    yield url, peers
    await runner.cleanup()


# A raw server: `answer(n, connection, request bytes)` gives the bytes to send for the n-th
# request (None: close the connection without an answer) and whether to close after it.
Answer = Callable[[int, int, bytes], Awaitable[tuple[bytes | None, bool]]]


@dataclass
class Raw:
    url: str
    requests: list[tuple[int, bytes]] = field(default_factory=list)  # (connection, request)
    connections: int = 0


@pytest.fixture
async def raw() -> AsyncIterator[Callable[[Answer], Awaitable[Raw]]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> Raw:
        state = Raw("")

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            state.connections += 1
            conn = state.connections
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    request = head + await reader.readexactly(length)
                    state.requests.append((conn, request))
                    data, close = await answer(len(state.requests) - 1, conn, request)
                    if data is None:
                        break
                    writer.write(data)
                    await writer.drain()
                    if close:
                        break
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        state.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/x"
        return state

    yield start
    for server in servers:
        server.close()


def _ok(body: bytes = b'{"ok":true}', *fields: str) -> bytes:
    head = "\r\n".join(("HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *fields))
    return (head + "\r\n\r\n").encode() + body


async def test_requests_to_one_endpoint_reuse_one_connection(hook: tuple[str, Peers]) -> None:
    """Five POSTs one after another go over one kept connection, each body arriving whole."""
    url, peers = hook
    pool = _pool()
    for n in range(5):
        reply = await pool.request("POST", url, headers=JSON, body=b'{"n":%d}' % n)
        assert reply.status == 200 and reply.text() == '{"ok": true}'
    pool.close()
    assert len(set(peers.ports)) == 1
    assert peers.bodies == [b'{"n":%d}' % n for n in range(5)]


async def test_concurrent_requests_open_a_connection_each_and_keep_them(
    hook: tuple[str, Peers],
) -> None:
    """Four requests at once take four connections; the next four reuse those."""
    url, peers = hook
    pool = _pool()
    for _ in range(2):
        await asyncio.gather(
            *(pool.request("POST", url, headers=JSON, body=b"{}") for _ in range(4))
        )
    pool.close()
    assert len(peers.ports) == 8 and len(set(peers.ports)) == 4


async def test_a_connection_the_server_closed_while_idle_is_not_used_again(
    raw: Callable[[Answer], Awaitable[Raw]],
) -> None:
    """A server that closes its connection after answering (idle timeout) gets the next
    request on a new connection, once."""

    async def answer(n: int, conn: int, request: bytes) -> tuple[bytes | None, bool]:
        return _ok(), True  # no "Connection: close": the client learns it from the close

    server = await raw(answer)
    pool = _pool()
    await pool.request("POST", server.url, headers=JSON, body=b"{}")
    await asyncio.sleep(0.1)  # the close arrives while the connection is idle
    await pool.request("POST", server.url, headers=JSON, body=b"{}")
    pool.close()
    assert [conn for conn, _ in server.requests] == [1, 2]


async def test_a_request_dropped_unanswered_by_a_closing_server_is_sent_once_more(
    raw: Callable[[Answer], Awaitable[Raw]],
) -> None:
    """When the server closes a kept connection just as the next request is written on it
    (it read the request but never acted on it), that request goes again on a new
    connection, and is answered there."""
    acted: list[bytes] = []

    async def answer(n: int, conn: int, request: bytes) -> tuple[bytes | None, bool]:
        if n == 1:
            return None, True  # the idle close racing the request: unread, unanswered
        acted.append(request.rpartition(b"\r\n\r\n")[2])
        return _ok(), False

    server = await raw(answer)
    pool = _pool()
    await pool.request("POST", server.url, headers=JSON, body=b"first")
    reply = await pool.request("POST", server.url, headers=JSON, body=b"second")
    pool.close()
    assert reply.status == 200
    assert acted == [b"first", b"second"]
    assert [conn for conn, _ in server.requests] == [1, 1, 2]


async def test_a_new_connection_closed_without_an_answer_is_not_retried(
    raw: Callable[[Answer], Awaitable[Raw]],
) -> None:
    """On a connection of its own, a request the server drops is an error, sent once: the
    server may have acted on it; the caller (the outbox) decides about retrying."""

    async def answer(n: int, conn: int, request: bytes) -> tuple[bytes | None, bool]:
        return None, True

    server = await raw(answer)
    pool = _pool()
    with pytest.raises(WireError, match="closed the connection without an answer"):
        await pool.request("POST", server.url, headers=JSON, body=b"{}")
    assert len(server.requests) == 1


async def test_an_answer_cut_short_is_an_error_and_not_sent_again(
    raw: Callable[[Answer], Awaitable[Raw]],
) -> None:
    """An answer that stops before its Content-Length is an error; the request, which the
    server acted on, is not repeated even on a reused connection."""

    async def answer(n: int, conn: int, request: bytes) -> tuple[bytes | None, bool]:
        return (_ok() if n == 0 else _ok(b"0123456789")[:-4]), n > 0

    server = await raw(answer)
    pool = _pool()
    await pool.request("POST", server.url, headers=JSON, body=b"{}")
    with pytest.raises(WireError, match="before the answer's end"):
        await pool.request("POST", server.url, headers=JSON, body=b"{}")
    assert len(server.requests) == 2


async def test_connection_close_and_unframed_answers_are_read_and_not_reused(
    raw: Callable[[Answer], Awaitable[Raw]],
) -> None:
    """An answer saying "Connection: close" and one framed by the connection's end (no
    length, not chunked) are read whole; the next request opens a new connection."""

    async def answer(n: int, conn: int, request: bytes) -> tuple[bytes | None, bool]:
        if n == 0:
            return _ok(b"bye", "Connection: close"), True
        return b"HTTP/1.1 200 OK\r\n\r\nuntil the end", True

    server = await raw(answer)
    pool = _pool()
    first = await pool.request("POST", server.url, headers=JSON, body=b"{}")
    second = await pool.request("POST", server.url, headers=JSON, body=b"{}")
    third = await pool.request("POST", server.url, headers=JSON, body=b"{}")
    assert (first.body, second.body, third.body) == (b"bye", b"until the end", b"until the end")
    assert [conn for conn, _ in server.requests] == [1, 2, 3]


async def test_chunked_answers_interim_answers_and_redirects_come_back_as_sent(
    raw: Callable[[Answer], Awaitable[Raw]],
) -> None:
    """A chunked body is joined, a 100 Continue skipped, a redirect returned (not followed),
    all on one kept connection."""

    async def answer(n: int, conn: int, request: bytes) -> tuple[bytes | None, bool]:
        return [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n" + _ok(b"after"),
            b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
        ][n], False

    server = await raw(answer)
    pool = _pool()
    replies = [await pool.request("POST", server.url, headers=JSON, body=b"{}") for _ in range(3)]
    assert [(r.status, r.body) for r in replies] == [(200, b"abcde"), (200, b"after"), (302, b"")]
    assert replies[2].header("location") == "/elsewhere"
    assert {conn for conn, _ in server.requests} == {1}


async def test_an_answer_over_the_body_limit_is_refused(
    raw: Callable[[Answer], Awaitable[Raw]],
) -> None:
    """A body longer than max_body is an error, not read to its end nor kept."""

    async def answer(n: int, conn: int, request: bytes) -> tuple[bytes | None, bool]:
        return _ok(b"x" * 2000), False

    server = await raw(answer)
    pool = _pool(max_body=1000)
    with pytest.raises(WireError, match="over 1000 bytes"):
        await pool.request("POST", server.url, headers=JSON, body=b"{}")


async def test_a_server_that_never_answers_times_out_and_its_connection_is_dropped(
    raw: Callable[[Answer], Awaitable[Raw]],
) -> None:
    """A request without an answer ends after the timeout; the next one opens a new
    connection (the late answer of the first could not be told from the second's)."""

    async def answer(n: int, conn: int, request: bytes) -> tuple[bytes | None, bool]:
        if n == 0:
            await asyncio.sleep(3)
        return _ok(), False

    server = await raw(answer)
    pool = _pool(timeout=0.3)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await pool.request("POST", server.url, headers=JSON, body=b"{}")
    assert time.monotonic() - started < 1.0
    await pool.request("POST", server.url, headers=JSON, body=b"{}")
    assert [conn for conn, _ in server.requests] == [1, 2]


async def test_a_refused_connection_names_the_address(unused_tcp_port: int) -> None:
    """Nothing listening: the error says where it could not connect."""
    pool = _pool()
    with pytest.raises(WireError, match=f"cannot connect to 127.0.0.1:{unused_tcp_port}"):
        await pool.request("POST", f"http://127.0.0.1:{unused_tcp_port}/", headers=(), body=None)


async def test_a_header_value_with_a_line_break_is_refused() -> None:
    """A header value cannot start a header (or request) of its own."""
    pool = _pool()
    with pytest.raises(WireError, match="line break"):
        await pool.request(
            "POST", "http://127.0.0.1:9/", headers=(("X-A", "1\r\nX-B: 2"),), body=b""
        )


async def test_tls_with_a_self_signed_certificate_is_verified_against_the_given_ca() -> None:
    """A server with a certificate from a private CA is refused by the system's CAs and
    reached, over one kept connection, with a context that trusts that CA."""
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    url, peers, runner = await _aiohttp_server(server_tls)
    try:
        with pytest.raises(WireError, match="TLS certificate verify failed"):
            await _pool().request("POST", url, headers=JSON, body=b"{}")
        trusting = ssl.create_default_context()
        ca.configure_trust(trusting)
        pool = _pool(tls=trusting)
        for _ in range(3):
            assert (await pool.request("POST", url, headers=JSON, body=b"{}")).status == 200
        pool.close()
        assert len(peers.bodies) == 3 and len(set(peers.ports)) == 1
    finally:
        await runner.cleanup()


async def test_an_answer_whose_head_does_not_end_is_refused(
    raw: Callable[[Answer], Awaitable[Raw]],
) -> None:
    """Header fields over 64 KiB are an error, the connection dropped."""

    async def answer(n: int, conn: int, request: bytes) -> tuple[bytes | None, bool]:
        fields = [f"X-Filler-{i}: {'y' * 1000}" for i in range(70)]
        return _ok(b"{}", *fields), False

    server = await raw(answer)
    pool = _pool()
    with pytest.raises(WireError, match="a head over 65536 bytes"):
        await pool.request("POST", server.url, headers=JSON, body=b"{}")


async def test_a_header_given_twice_in_any_case_is_sent_once_the_last_way(
    raw: Callable[[Answer], Awaitable[Raw]],
) -> None:
    """Header names are case-insensitive: a later `accept` replaces the default Accept."""

    async def answer(n: int, conn: int, request: bytes) -> tuple[bytes | None, bool]:
        return _ok(), False

    server = await raw(answer)
    pool = _pool()
    await pool.request("GET", server.url, headers=(("accept", "application/json"),), body=None)
    head = server.requests[0][1].decode().lower()
    assert head.count("accept:") == 1 and "accept: application/json" in head
