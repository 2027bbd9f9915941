"""TCP connect check: connect time, and optionally a line sent and a banner expected."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import ClassVar

from pydantic import Field

from collectors.contract import FixedMetrics, MetricNames
from collectors.fields import Regex
from watchd.configbase import Strict
from watchd.matchers import CompiledRegex, compile_regex
from watchd.model import CheckContext, CheckResult, Sample, Status

QUIET_SECONDS = 0.5


class TcpConfig(Strict):
    host: str = ""  # empty: the item's address
    port: int = Field(ge=1, le=65535)
    send: str = ""
    expect: Regex = ""  # a regular expression the answer must match
    read_bytes: int = Field(default=4096, ge=1, le=1_048_576)
    warn_connect: float | None = None  # seconds
    crit_connect: float | None = None


class TcpCollector(FixedMetrics):
    kind: ClassVar[str] = "tcp"
    Config: ClassVar[type[TcpConfig]] = TcpConfig
    metrics: ClassVar[MetricNames] = MetricNames.of("tcp_connect_seconds")

    def __init__(self, config: TcpConfig) -> None:
        self.config = config
        self._expect = compile_regex(config.expect) if config.expect else None

    async def collect(self, ctx: CheckContext) -> CheckResult:
        cfg = self.config
        host = cfg.host or ctx.address or "127.0.0.1"
        where = f"{host}:{cfg.port}"
        started = time.perf_counter()
        try:
            reader, writer = await asyncio.open_connection(host, cfg.port)
        except OSError as exc:
            return CheckResult(Status.CRITICAL, f"cannot connect to {where}: {_reason(exc)}")
        connect_time = time.perf_counter() - started
        samples = [Sample("tcp_connect_seconds", connect_time, {"target": where})]
        try:
            if cfg.send:
                writer.write(cfg.send.encode())
                await writer.drain()
            if self._expect is not None:
                answer = await _read_until_match(reader, self._expect, cfg.read_bytes)
                if self._expect.search(answer) is None:
                    shown = answer[:80].strip()
                    return CheckResult(
                        Status.CRITICAL,
                        f"{where} answered {shown!r}, expected /{cfg.expect}/",
                        tuple(samples),
                    )
        except OSError as exc:
            return CheckResult(Status.CRITICAL, f"{where}: {_reason(exc)}", tuple(samples))
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        status = Status.OK
        if cfg.crit_connect is not None and connect_time >= cfg.crit_connect:
            status = Status.CRITICAL
        elif cfg.warn_connect is not None and connect_time >= cfg.warn_connect:
            status = Status.WARNING
        return CheckResult(
            status, f"{where} connected in {connect_time * 1000:.1f} ms", tuple(samples)
        )

    async def aclose(self) -> None:
        return None


async def _read_until_match(
    reader: asyncio.StreamReader, pattern: CompiledRegex, limit: int
) -> str:
    """Read until the pattern matches, `limit` bytes came, or the server falls quiet.

    Servers that greet and then wait for the client (SMTP, SSH) never close the connection:
    once an answer has started, a pause of QUIET_SECONDS ends it.
    """
    data = b""
    while len(data) < limit:
        try:
            if data:
                chunk = await asyncio.wait_for(reader.read(limit - len(data)), QUIET_SECONDS)
            else:
                chunk = await reader.read(limit - len(data))
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
        if pattern.search(data.decode(errors="replace")):
            break
    return data.decode(errors="replace")


def _reason(exc: OSError) -> str:
    # asyncio's "Connect call failed (...)" hides the plain reason that errno names.
    if exc.errno:
        return os.strerror(exc.errno)
    return exc.strerror or exc.__class__.__name__
