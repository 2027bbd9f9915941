"""The tcp collector against real asyncio servers on loopback: banners, answers, refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from collectors.tcp import TcpCollector, TcpConfig
from watchd.model import CheckContext, CheckResult, Status

pytestmark = pytest.mark.integration

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 mail.test ESMTP ready\r\n")
    await writer.drain()
    await reader.read(100)  # until the client hangs up
    writer.close()


async def _banner_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 mail.test ESMTP ready\r\n")
    await writer.drain()
    writer.close()


async def _pong(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    if await reader.readline() == b"PING\n":
        writer.write(b"PONG\n")
        await writer.drain()
    writer.close()


class _Silent:
    """A server that accepts and says nothing; it records when each client hangs up."""

    def __init__(self) -> None:
        self.hung_up = asyncio.Event()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # b"" once the client closes
        self.hung_up.set()
        writer.close()


@pytest.fixture
async def start() -> AsyncIterator[Callable[[Handler], Awaitable[int]]]:
    """Start asyncio TCP servers on free loopback ports; returns the port; all stop at teardown."""
    servers: list[asyncio.Server] = []

    async def run(handler: Handler) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield run
    for server in servers:
        server.close()
        await server.wait_closed()


async def _check(ctx: CheckContext, **settings: object) -> CheckResult:
    collector = TcpCollector(TcpConfig.model_validate(settings))
    try:
        return await collector.collect(ctx)
    finally:
        await collector.aclose()


async def test_banner_matching_expect_is_ok(start: Callable[[Handler], Awaitable[int]]) -> None:
    """A banner matching `expect` is OK and the connect time is a sample labelled by target."""
    port = await start(_banner)
    ctx = CheckContext(item="mail", check="smtp", address="127.0.0.1", timeout=5)
    result = await _check(ctx, port=port, expect="^220 ")
    assert result.status is Status.OK, result.message
    assert result.message.startswith(f"127.0.0.1:{port} connected in ")
    (sample,) = result.samples
    assert sample.metric == "tcp_connect_seconds"
    assert sample.labels == {"target": f"127.0.0.1:{port}"}
    assert 0 <= sample.value < 5


async def test_banner_not_matching_is_critical(
    start: Callable[[Handler], Awaitable[int]], ctx: CheckContext
) -> None:
    """A banner that does not match `expect` is CRITICAL and shows what was answered."""
    port = await start(_banner_then_close)
    result = await _check(ctx, host="127.0.0.1", port=port, expect="^SSH-2.0")
    assert result.status is Status.CRITICAL
    assert result.message == (
        f"127.0.0.1:{port} answered '220 mail.test ESMTP ready', expected /^SSH-2.0/"
    )
    assert [sample.metric for sample in result.samples] == ["tcp_connect_seconds"]


async def test_banner_not_matching_from_open_connection_is_critical(
    start: Callable[[Handler], Awaitable[int]],
) -> None:
    """A non-matching banner from a server that keeps the line open is CRITICAL before the timeout."""
    port = await start(_banner)
    ctx = CheckContext(item="mail", check="smtp", timeout=1.0)
    collector = TcpCollector(TcpConfig(host="127.0.0.1", port=port, expect="^SSH-2.0"))
    try:
        async with asyncio.timeout(ctx.timeout):
            result = await collector.collect(ctx)
    except TimeoutError:
        pytest.fail("no result before the check's timeout: the scheduler would cancel it")
    assert result.status is Status.CRITICAL


async def test_sent_line_gets_expected_answer(
    start: Callable[[Handler], Awaitable[int]], ctx: CheckContext
) -> None:
    """`send` goes to the server before the answer is matched against `expect`."""
    port = await start(_pong)
    assert (await _check(ctx, port=port, send="PING\n", expect="PONG")).status is Status.OK
    wrong = await _check(ctx, port=port, send="HELLO\n", expect="PONG")
    assert wrong.status is Status.CRITICAL


async def test_closed_port_is_critical(closed_port: int, ctx: CheckContext) -> None:
    """A port nobody listens on is CRITICAL, naming the target."""
    result = await _check(ctx, host="127.0.0.1", port=closed_port)
    assert result.status is Status.CRITICAL
    assert result.message.startswith(f"cannot connect to 127.0.0.1:{closed_port}: ")
    assert result.samples == ()


async def test_slow_connect_thresholds(
    start: Callable[[Handler], Awaitable[int]], ctx: CheckContext
) -> None:
    """A connect time at or above warn_connect is WARNING, above crit_connect CRITICAL."""
    port = await start(_banner)
    assert (await _check(ctx, port=port, warn_connect=1e-9)).status is Status.WARNING
    assert (await _check(ctx, port=port, crit_connect=1e-9)).status is Status.CRITICAL
    assert (await _check(ctx, port=port, warn_connect=5, crit_connect=10)).status is Status.OK


async def test_cancelled_check_closes_its_connection(
    start: Callable[[Handler], Awaitable[int]], ctx: CheckContext
) -> None:
    """When the scheduler cancels a check waiting for a banner, the connection is closed."""
    silent = _Silent()
    port = await start(silent)
    collector = TcpCollector(TcpConfig(port=port, expect="never"))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(collector.collect(ctx), timeout=0.2)
    async with asyncio.timeout(2):
        await silent.hung_up.wait()
