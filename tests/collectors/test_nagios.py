"""The nagios collector running real Debian monitoring-plugins and test plugins."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from collectors.nagios import NagiosCollector, NagiosConfig
from tests.peers import require_installed
from watchd.model import CheckContext, CheckResult, Status

PLUGINS = Path("/usr/lib/nagios/plugins")
DATA = Path(__file__).parent.parent / "data" / "nagios"

needs_plugins = pytest.mark.usefixtures("plugins_installed")


@pytest.fixture
def plugins_installed() -> None:
    require_installed(
        (PLUGINS / "check_load").exists(), "apt packages monitoring-plugins-basic/-standard"
    )


async def _run(*command: str, deadline: float = 10.0, **options: object) -> CheckResult:
    collector = NagiosCollector(NagiosConfig(command=list(command), **options))  # type: ignore[arg-type]
    ctx = CheckContext(item="web1", check="plugin", address="127.0.0.1", timeout=deadline)
    return await collector.collect(ctx)


def _sample(result: CheckResult, metric: str) -> float:
    [value] = [s.value for s in result.samples if s.metric == metric]
    return value


@pytest.fixture
async def http_port() -> AsyncIterator[int]:
    """A tiny HTTP server on loopback answering 200 to everything."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:  # check_tcp connects and closes
            writer.close()
            return
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


@needs_plugins
async def test_check_load_maps_status_and_perfdata() -> None:
    """check_load's exit code becomes the status and its load1/5/15 become samples."""
    result = await _run("check_load", "-w", "1000,1000,1000", "-c", "2000,2000,2000")
    assert result.status is Status.OK and result.message.startswith("LOAD OK")
    assert _sample(result, "nagios_load1") >= 0
    assert {s.metric for s in result.samples} >= {"nagios_load5", "nagios_load15"}


@needs_plugins
async def test_check_load_critical() -> None:
    """A plugin exiting 2 is CRITICAL."""
    result = await _run("check_load", "-w", "0,0,0", "-c", "0,0,0")
    assert result.status is Status.CRITICAL


@needs_plugins
async def test_check_disk_bytes() -> None:
    """check_disk's usage of / comes in bytes, labelled with the plugin's own label."""
    result = await _run("check_disk", "-w", "1%", "-c", "0%", "-p", "/")
    assert result.status is Status.OK, result.message
    [used] = [s for s in result.samples if s.labels.get("label") == "/"]
    assert used.metric == "nagios_root" and used.labels["uom"] == "bytes" and used.value > 1e6


@needs_plugins
async def test_check_procs() -> None:
    """check_procs counts processes."""
    result = await _run("check_procs", "-w", "100000")
    assert result.status is Status.OK and _sample(result, "nagios_procs") >= 1


@needs_plugins
async def test_check_tcp_and_http_against_local_server(http_port: int) -> None:
    """check_tcp and check_http reach a loopback server through the {address} argument."""
    tcp = await _run("check_tcp", "-H", "{address}", "-p", str(http_port))
    assert tcp.status is Status.OK, tcp.message
    assert _sample(tcp, "nagios_time") < 5
    http = await _run("check_http", "-H", "{address}", "-p", str(http_port), "-u", "/health")
    assert http.status is Status.OK, http.message
    assert _sample(http, "nagios_size") == 66  # the whole response, headers included


@needs_plugins
async def test_check_tcp_refused_is_critical() -> None:
    """A refused connection reported by check_tcp is CRITICAL with the plugin's message."""
    result = await _run("check_tcp", "-H", "127.0.0.1", "-p", "1")
    assert result.status is Status.CRITICAL and "refused" in result.message


async def test_hanging_plugin_is_killed_with_its_children() -> None:
    """A plugin that hangs is killed, with its children, at the timeout: UNKNOWN."""
    # A duration no other process on the machine uses (another test run may hang its own).
    duration = f"300.{secrets.randbelow(10**9):09d}"
    started = time.monotonic()
    result = await _run(str(DATA / "hang.sh"), duration, deadline=1.0)
    assert result.status is Status.UNKNOWN
    assert "timed out after 0.95s" in result.message
    assert time.monotonic() - started < 3
    ps = await asyncio.create_subprocess_exec(
        "pgrep", "-f", f"sleep {duration}", stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await ps.communicate()
    assert stdout == b""


async def test_garbage_perfdata_is_noted_not_fatal() -> None:
    """Garbage perfdata is skipped with a note; the good items and the status survive."""
    result = await _run(str(DATA / "garbage_perf.sh"))
    assert result.status is Status.WARNING
    assert result.message.startswith("WARNING - half good")
    assert "malformed perfdata" in result.message
    assert _sample(result, "nagios_good") == 1.5
    assert _sample(result, "nagios_time") == pytest.approx(0.25)


async def test_unknown_exit_code_is_unknown() -> None:
    """An exit code outside 0-3 is UNKNOWN and says the code."""
    result = await _run(str(DATA / "exit7.sh"))
    assert result.status is Status.UNKNOWN
    assert "exited with code 7" in result.message and "something odd" in result.message


async def test_environment_is_restricted() -> None:
    """A plugin sees only PATH, LANG, LC_ALL and the configured variables."""
    result = await _run(str(DATA / "env.sh"), env={"PLUGIN_MODE": "x"})
    names = {pair.split("=", 1)[0] for pair in result.message.removeprefix("ENV ").split()}
    assert names - {"PWD", "SHLVL", "_"} == {"PATH", "LANG", "LC_ALL", "PLUGIN_MODE"}


async def test_missing_plugin_is_unknown() -> None:
    """A plugin name not found in the plugin directories is UNKNOWN and says where it looked."""
    result = await _run("check_nonexistent", plugin_dirs=[DATA])
    assert result.status is Status.UNKNOWN and str(DATA) in result.message


async def test_no_shell_is_involved(tmp_path: Path) -> None:
    """Arguments reach the plugin as they are: shell syntax is not interpreted."""
    marker = tmp_path / "pwned"
    result = await _run(str(DATA / "exit7.sh"), f"; touch {marker}")
    assert result.status is Status.UNKNOWN and not marker.exists()
