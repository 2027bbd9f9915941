"""Real loopback peers for collector tests: aiohttp servers (plain and TLS) and a test CA.

Every collector run in these tests also checks its samples against the metric names its kind
declares for its config (`metric_names`): the rules' "unknown metric" check reads those
declarations, so a sample name missing from them would draw false warnings.

The http collector's tests run on asyncio's loop and on uvloop (the daemon's default when
installed): the lean client's transports, TLS and end-of-stream handling differ between them.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from collectors import REGISTRY
from watchd.model import CheckContext, CheckResult

Serve = Callable[..., Awaitable[str]]
_BOTH_LOOPS = ("test_http.py", "test_http_wire.py")


# Newer pytest-asyncio releases have this hook; with an older one (CI's lowest-versions venv
# resolves 1.1) the tests run on asyncio's loop alone instead of failing to collect.
@pytest.hookimpl(optionalhook=True)
def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The loops a test runs on: both for the http collector's modules, else asyncio's."""
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    if item.path.name in _BOTH_LOOPS:
        try:
            import uvloop
        except ImportError:
            return factories
        factories["uvloop"] = uvloop.new_event_loop
    return factories


@pytest.fixture(autouse=True)
def _samples_are_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrap every registered collector's `collect`: its samples must all be declared."""
    for cls in REGISTRY.values():
        collect = cls.collect  # type: ignore[attr-defined]

        async def checked(self: Any, ctx: CheckContext, collect: Any = collect) -> CheckResult:
            result: CheckResult = await collect(self, ctx)
            declared = type(self).metric_names(self.config)
            undeclared = sorted({s.metric for s in result.samples if s.metric not in declared})
            assert not undeclared, f"{type(self).__name__} emits undeclared {undeclared}"
            return result

        monkeypatch.setattr(cls, "collect", checked)


@pytest.fixture
def ctx() -> CheckContext:
    """A check context as the scheduler passes it, with a timeout short enough for tests."""
    return CheckContext(item="web", check="probe", address="127.0.0.1", timeout=5.0)


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (bound once for a free number, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start aiohttp apps on 127.0.0.1 free ports; returns the base URL; all stop at teardown."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application, tls: ssl.SSLContext | None = None) -> str:
        runner = web.AppRunner(app, shutdown_timeout=0.5)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        port = runner.addresses[-1][1]
        return f"{'https' if tls else 'http'}://127.0.0.1:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A private test CA: certificates it issues are trusted only through `ca_file`."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test CA's certificate as a PEM file, as an operator would point ca_file at it."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path
