"""Issue 19, finding 4: the API's accept loop stops at its limit and logs exhaustion once."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from watchd.api import create_app, start_api
from watchd.metrics import Metrics

pytestmark = pytest.mark.integration


async def _read_body(request: web.Request) -> web.Response:
    return web.json_response({"bytes": len(await request.read())})


@pytest.fixture
async def runner() -> AsyncIterator[web.AppRunner]:
    app = create_app(tokens={}, metrics=Metrics(), items=list, ready=lambda: True)
    app.router.add_post("/upload", _read_body)
    running = await start_api(app, "127.0.0.1", 0, max_connections=5, header_timeout=30.0)
    yield running
    await running.cleanup()


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def _open_count(runner: web.AppRunner) -> int:
    assert runner.server is not None
    return sum(1 for h in runner.server.connections if h.transport and not h.transport.is_closing())


async def test_a_client_sending_its_request_at_once_takes_the_place_of_the_oldest_idle_one(
    runner: web.AppRunner,
) -> None:
    """With max_connections = 5 held by silent clients, a sixth client's request is answered at once and the oldest silent connection is closed."""
    port = runner.addresses[0][1]
    silent = []
    for _ in range(5):
        silent.append(await _open(port))
        await asyncio.sleep(0.05)  # accepted in this order
    await _eventually(lambda: _open_count(runner) == 5)
    reader, writer = await _open(port)
    writer.write(HEALTHZ)
    answer = await asyncio.wait_for(reader.read(), 2)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert await asyncio.wait_for(silent[0][0].read(), 2) == b""  # the oldest: closed
    assert _open_count(runner) <= 5
    for _, w in [*silent, (reader, writer)]:
        w.close()


async def test_when_every_connection_has_a_request_in_progress_new_ones_wait(
    runner: web.AppRunner,
) -> None:
    """With max_connections = 5 and six uploads in progress (one past the limit is taken, having nothing to replace), a seventh client waits in the backlog and is answered once an upload ends."""
    port = runner.addresses[0][1]
    uploads = []
    for _ in range(6):
        reader, writer = await _open(port)
        writer.write(b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n\r\nab")
        uploads.append((reader, writer))
        await asyncio.sleep(0.05)
    await _eventually(lambda: _open_count(runner) == 6)
    reader, writer = await _open(port)
    writer.write(HEALTHZ)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(), 0.5)
    assert _open_count(runner) == 6
    uploads[0][1].write(b"cd")
    assert b'{"bytes": 4}' in await asyncio.wait_for(uploads[0][0].readuntil(b"}"), 2)
    answer = await asyncio.wait_for(reader.read(), 2)
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert _open_count(runner) <= 6
    for _, w in [*uploads, (reader, writer)]:
        w.close()


async def _eventually(condition: Callable[[], bool]) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0.02)
    assert condition()


async def test_running_out_of_descriptors_is_logged_once_then_a_summary(
    runner: web.AppRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 accepts failing with EMFILE give one error line and one recovery line counting them, not 40 lines."""
    loop = asyncio.get_running_loop()
    real_accept = loop.sock_accept
    failures = 40

    async def exhausted(sock: socket.socket) -> Any:
        nonlocal failures
        if failures:
            failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return await real_accept(sock)

    monkeypatch.setattr("watchd.api.serve._RESOURCE_BACKOFF", 0.001)
    monkeypatch.setattr(loop, "sock_accept", exhausted)
    port = runner.addresses[0][1]
    # The accept loop is already waiting in the real accept; this connection wakes it, and
    # its next 40 tries fail.
    with capture_logs() as logs:
        first = await _open(port)
        second = await _open(port)
        second[1].write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(second[0].read(), 5)
    assert answer.startswith(b"HTTP/1.1 200 ")
    first[1].close()
    second[1].close()
    events = [(e["event"], e.get("failed_accepts")) for e in logs if "accept" in e["event"]]
    assert events == [("api_accept_failing", None), ("api_accept_recovered", 40)]
    assert logs[0]["error"] == "Too many open files"
