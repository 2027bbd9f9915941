"""Issue 19, finding 4: the API's accept loop stops at its limit and logs exhaustion once."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from structlog.testing import capture_logs

from watchd.api import create_app, start_api
from watchd.metrics import Metrics

pytestmark = pytest.mark.integration


@pytest.fixture
async def runner() -> AsyncIterator[web.AppRunner]:
    app = create_app(tokens={}, metrics=Metrics(), items=list, ready=lambda: True)
    running = await start_api(app, "127.0.0.1", 0, max_connections=5, header_timeout=30.0)
    yield running
    await running.cleanup()


async def _open(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port)


async def test_connections_past_max_connections_wait_in_the_backlog(
    runner: web.AppRunner,
) -> None:
    """With max_connections = 5, ten idle clients hold five connections; the rest are served as those close."""
    port = runner.addresses[0][1]
    server = runner.server
    assert server is not None
    idle = [await _open(port) for _ in range(10)]  # the kernel completes every handshake
    await asyncio.sleep(0.3)
    assert len(server.connections) == 5
    for _, writer in idle[:5]:
        writer.close()
    reader, writer = idle[9]
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    for _ in range(10):
        await asyncio.sleep(0.05)
        assert len(server.connections) <= 5
    answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.startswith(b"HTTP/1.1 200 ")
    for _, w in idle[5:]:
        w.close()


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
