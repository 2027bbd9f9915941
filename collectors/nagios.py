"""Nagios-compatible plugins: run one as a subprocess, map its exit code, parse its perfdata.

    kind = "nagios"
    command = ["check_disk", "-w", "10%", "-c", "5%", "-p", "/"]
    command = ["check_http", "-H", "{address}", "-u", "/health"]

The command is an argument list, never a shell line; "{address}" in an argument is the item's
address. A bare plugin name is looked up in `plugin_dirs`. The plugin runs in its own process
group with a small environment (PATH, LANG=C, plus `env`); when the check's timeout comes,
the whole group is killed and the result is UNKNOWN. Exit codes 0-3 are OK, WARNING,
CRITICAL, UNKNOWN; anything else is UNKNOWN. Each perfdata item becomes a sample
`nagios_<label>` (label lowercased, other characters as "_") in base units, with labels
`label` (as the plugin wrote it) and `uom`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from collectors.contract import FixedMetrics, MetricNames
from collectors.perfdata import parse_output
from watchd.configbase import Strict
from watchd.model import CheckContext, CheckResult, Sample, Status

DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
PERFDATA_PREFIX = "nagios_"
_UNSAFE = re.compile(r"[^a-z0-9_]+")


class NagiosConfig(Strict):
    command: list[str] = Field(min_length=1)
    plugin_dirs: list[Path] = [Path("/usr/lib/nagios/plugins"), Path("/usr/lib/monitoring-plugins")]
    env: dict[str, str] = {}
    max_output_bytes: int = Field(default=16_384, ge=256, le=1_048_576)


class NagiosCollector(FixedMetrics):
    kind: ClassVar[str] = "nagios"
    Config: ClassVar[type[NagiosConfig]] = NagiosConfig
    # Perfdata labels are the plugin's to choose: an open-ended family, not a list.
    metrics: ClassVar[MetricNames] = MetricNames(
        frozenset({"nagios_execution_seconds"}), prefixes=frozenset({PERFDATA_PREFIX})
    )

    def __init__(self, config: NagiosConfig) -> None:
        self.config = config

    def _executable(self) -> Path | None:
        name = self.config.command[0]
        if "/" in name:
            path = Path(name)
            return path if os.access(path, os.X_OK) and path.is_file() else None
        for directory in self.config.plugin_dirs:
            path = directory / name
            if path.is_file() and os.access(path, os.X_OK):
                return path
        return None

    async def collect(self, ctx: CheckContext) -> CheckResult:
        cfg = self.config
        plugin = cfg.command[0]
        executable = self._executable()
        if executable is None:
            where = ", ".join(str(d) for d in cfg.plugin_dirs)
            return CheckResult(
                Status.UNKNOWN, f"plugin {plugin} not found or not executable (looked in {where})"
            )
        args = [arg.replace("{address}", ctx.address) for arg in cfg.command[1:]]
        env = {"PATH": DEFAULT_PATH, "LANG": "C", "LC_ALL": "C", **cfg.env}
        # Kill a little before the scheduler's deadline, so the answer says what happened.
        limit = max(ctx.timeout * 0.95, ctx.timeout - 0.5)
        started = time.perf_counter()
        try:
            process = await asyncio.create_subprocess_exec(
                str(executable),
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,  # its own process group, killed as a whole
            )
        except OSError as exc:
            return CheckResult(Status.UNKNOWN, f"plugin {plugin} could not start: {exc.strerror}")
        try:
            async with asyncio.timeout(limit):
                stdout, stderr = await asyncio.gather(
                    _read_capped(process.stdout, cfg.max_output_bytes),
                    _read_capped(process.stderr, cfg.max_output_bytes),
                )
                code = await process.wait()
        except TimeoutError:
            return CheckResult(Status.UNKNOWN, f"plugin {plugin} timed out after {limit:g}s")
        finally:
            if process.returncode is None:
                _kill_group(process.pid)
                with contextlib.suppress(ProcessLookupError):
                    await asyncio.shield(process.wait())
        elapsed = time.perf_counter() - started
        return _result(plugin, code, stdout, stderr, elapsed)

    async def aclose(self) -> None:
        return None


def _result(plugin: str, code: int, stdout: str, stderr: str, elapsed: float) -> CheckResult:
    output = parse_output(stdout if stdout.strip() else stderr)
    if 0 <= code <= 3:
        status = Status(code)
        message = output.text or f"plugin {plugin} printed nothing"
    else:
        status = Status.UNKNOWN
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        message = f"plugin {plugin} {how}: {output.text or 'no output'}"
    if output.long_text:
        message = f"{message}\n{output.long_text}"
    if output.malformed:
        shown = " ".join(output.malformed)[:80]
        message += f" (ignored {len(output.malformed)} malformed perfdata item(s): {shown})"
    samples = [Sample("nagios_execution_seconds", elapsed)]
    samples.extend(
        Sample(
            f"{PERFDATA_PREFIX}{_metric_part(value.label)}",
            value.value,
            {"label": value.label, "uom": value.uom},
        )
        for value in output.perfdata
    )
    return CheckResult(status, message, tuple(samples))


def _metric_part(label: str) -> str:
    part = _UNSAFE.sub("_", label.lower()).strip("_")
    if not part:
        return "root" if label == "/" else "value"
    return part if not part[0].isdigit() else f"_{part}"


async def _read_capped(stream: asyncio.StreamReader | None, limit: int) -> str:
    """Read a stream to its end, keeping the first `limit` bytes (a chatty plugin cannot
    fill memory, and is not blocked on a full pipe either)."""
    if stream is None:
        return ""
    kept = bytearray()
    while chunk := await stream.read(65536):
        if len(kept) < limit:
            kept += chunk[: limit - len(kept)]
    return kept.decode(errors="replace")


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
