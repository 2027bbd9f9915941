"""Tests for start_api: serving on a port, and a clear error when the port is taken."""

from __future__ import annotations

import socket
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web

from watchd.api import ApiStartError, start_api

pytestmark = pytest.mark.integration


async def test_a_taken_port_is_reported_with_its_address(
    make_app: Callable[..., web.Application],
) -> None:
    """When another process listens on the port, start_api raises naming host:port and why."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(ApiStartError) as caught:
            await start_api(make_app(), "127.0.0.1", port)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "already in use" in str(caught.value)
    assert (caught.value.host, caught.value.port) == ("127.0.0.1", port)


async def test_the_api_serves_on_ipv6_loopback(
    make_app: Callable[..., web.Application],
) -> None:
    """start_api listens on ::1 too, the runner reports the bound port, and requests are served."""
    runner = await start_api(make_app(), "::1", 0)
    try:
        host, port = runner.addresses[0][:2]
        assert host == "::1"
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.get(f"http://[::1]:{port}/healthz") as resp,
        ):
            assert resp.status == 200
    finally:
        await runner.cleanup()
