"""Real cluster nodes for the tests and the bench: `watchd run` daemons as subprocesses on one
PostgreSQL, polling TCP checks against a handful of loopback servers, and what the store says
about who polled what (samples.node)."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.test_daemon import RunningDaemon, free_port, start_daemon
from tests.pg_server import PrivatePostgres

CheckKey = tuple[str, str]  # (item, check)

CHECKS = 5


def pg_config(tmp: Path, port: int, url: str, *, extra: str = "") -> Path:
    """A daemon on PostgreSQL `url` with CHECKS one-second TCP checks of its own API port."""
    checks = "".join(
        f'\n  [[items.checks]]\n  name = "tcp{n}"\n  kind = "tcp"\n  port = {port}\n'
        for n in range(CHECKS)
    )
    path = tmp / "config.toml"
    path.write_text(
        f"""
[daemon]
log_format = "json"
[store]
url = "{url}"
flush_interval = "0.2s"
[api]
listen = "127.0.0.1:{port}"
[check_defaults]
interval = "1s"
jitter = "0s"
timeout = "1s"
[[items]]
name = "self"
address = "127.0.0.1"
{checks}
{extra}
"""
    )
    return path


class LoopbackServers:
    """`count` TCP servers on loopback that accept a connection and close it, each in a thread
    of its own blocked in accept() (no event loop: thousands of connections a second must not
    wait behind the test's own work), and one port that refuses connections (a check of it
    is CRITICAL)."""

    def __init__(self, count: int) -> None:
        self.closed_port = free_port()
        self._sockets: list[socket.socket] = []
        for _ in range(count):
            listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
            self._sockets.append(listener)
            threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        self.ports = [int(s.getsockname()[1]) for s in self._sockets]

    @staticmethod
    def _accept(listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed
                return
            conn.close()

    def close(self) -> None:
        for listener in self._sockets:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()


def check_items(
    items: int, per_item: int, ports: Sequence[int], *, failing: Sequence[CheckKey] = (),
    closed_port: int = 0,
) -> str:  # fmt: skip
    """`items` [[items]] tables of `per_item` TCP checks each (item{i}/c{j}), spread over
    `ports`; the checks in `failing` connect to `closed_port` instead and go HARD CRITICAL at
    their first failure."""
    lines: list[str] = []
    for i in range(items):
        lines += ["[[items]]", f'name = "item{i}"', 'address = "127.0.0.1"']
        for j in range(per_item):
            lines += ["  [[items.checks]]", f'  name = "c{j}"', '  kind = "tcp"']
            if (f"item{i}", f"c{j}") in failing:
                lines += [f"  port = {closed_port}", "  max_attempts = 1"]
            else:
                lines += [f"  port = {ports[(i * per_item + j) % len(ports)]}"]
        lines.append("")
    return "\n".join(lines)


def node_config(
    directory: Path, *, name: str, port: int, database: str, items: str, interval: float,
    dead_after: float | None, receivers: Sequence[str] = (), jitter: float = 0.0,
) -> Path:  # fmt: skip
    """The config.toml of cluster node `name`: `database`, checks every `interval` (with
    `jitter`), `dead_after` (None: the default) with heartbeats at a fifth of it, the
    webhook receivers at `receivers` (URLs) and `items`."""
    cluster = [f'node_name = "{name}"']
    if dead_after is not None:
        cluster += [
            f'dead_after = "{dead_after:g}s"',
            f'heartbeat_interval = "{dead_after / 5:g}s"',
        ]
    hooks = [
        f'[[receivers]]\nname = "hook{n}"\nkind = "webhook"\nurl = "{url}"\n'
        'backoff_initial = "200ms"\nbackoff_max = "1s"\ntimeout = "2s"\n'
        for n, url in enumerate(receivers)
    ]
    path = directory / "config.toml"
    path.write_text(
        "\n".join(
            [
                "[daemon]",
                'log_format = "json"',
                "max_concurrent_checks = 2000",
                "[store]",
                f'url = "{database}"',
                'flush_interval = "0.5s"',
                "[api]",
                f'listen = "127.0.0.1:{port}"',
                "[rules]",
                "files = []",
                "[cluster]",
                *cluster,
                "[check_defaults]",
                f'interval = "{interval:g}s"',
                f'jitter = "{jitter:g}s"',
                'timeout = "1s"',
                *hooks,
                items,
            ]
        )
    )
    return path


@dataclass
class Node:
    """One cluster node: its directory (config.toml, daemon.log) and API port, running or not."""

    name: str
    directory: Path
    port: int
    running: RunningDaemon | None = None

    @property
    def config(self) -> Path:
        return self.directory / "config.toml"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self, preexec_fn: Callable[[], None] | None = None) -> None:
        """`watchd run` on this node's config, once it answers /healthz."""
        self.running = start_daemon(self.directory, self.config, self.port, preexec_fn=preexec_fn)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no lease released; the others must notice by themselves."""
        assert self.running is not None
        self.running.proc.send_signal(signal.SIGKILL)
        self.running.proc.wait(10)
        self.running.discard()
        self.running = None

    def stop(self) -> None:
        """End the daemon if it runs (the end of a test, not a stop under test)."""
        if self.running is not None:
            self.running.discard()
            self.running = None


def cluster_status(config: Path) -> dict[str, Any]:
    """`watchd cluster status --json` on `config`, parsed."""
    done = subprocess.run(
        [sys.executable, "-m", "watchd.cli", "cluster", "status", "--json", "-c", str(config)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout))


async def runs_since(pg: PrivatePostgres, since: float) -> dict[CheckKey, list[tuple[float, str]]]:
    """Every check's runs from `since` on, from the store: (time, node) in time order."""
    rows = await pg.fetch(
        'SELECT r.item, r."check", s.time, s.node FROM samples s '
        "JOIN rollup_series r ON r.id = s.series_id WHERE s.time >= $1 ORDER BY s.time",
        since,
    )
    runs: dict[CheckKey, list[tuple[float, str]]] = defaultdict(list)
    for row in rows:
        runs[(row["item"], row["check"])].append((row["time"], row["node"]))
    return runs


def start_pg_nodes(tmp_path: Path, database: str, extra: str) -> dict[str, RunningDaemon]:
    """Nodes "a" then "b" on PostgreSQL `database` (tests.integration.test_pg_restart's
    config, heartbeats every second, plus `extra`), each once it logged `started`."""
    daemons: dict[str, RunningDaemon] = {}
    try:
        for name in ("a", "b"):
            home = tmp_path / name
            home.mkdir()
            port = free_port()
            cluster = f'[cluster]\nnode_name = "{name}"\nheartbeat_interval = "1s"\n'
            config = pg_config(home, port, database, extra=cluster + extra)
            daemons[name] = start_daemon(home, config, port)
            daemons[name].wait_for_log("started")
    except BaseException:
        for daemon in daemons.values():
            daemon.discard()
        raise
    return daemons
