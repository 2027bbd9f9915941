"""A private PostgreSQL 15 server for tests that stop, kill or restart it.

The shared local PostgreSQL (127.0.0.1:5432) must never be restarted by a test: other tests
and other people use it. This one lives in a temporary directory on a free loopback port,
made by initdb and run by pg_ctl (as user postgres when the tests run as root: PostgreSQL
refuses to run as root), and is removed by `cleanup`. It starts in about a second.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import asyncpg

BIN = Path("/usr/lib/postgresql/15/bin")
StopMode = Literal["smart", "fast", "immediate"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """A PostgreSQL server of its own: `start`, `stop` (fast or immediate), `restart`, and
    `create_database`; `cleanup` stops it and removes its directory."""

    def __init__(self) -> None:
        # Not under pytest's tmp_path: that is private to root, and the server runs as postgres.
        self.directory = Path(tempfile.mkdtemp(prefix="watchd-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.port = _free_port()
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.directory, user="postgres")
        # -N: no fsync of the new files (a test cluster); the server still writes its WAL, so
        # an immediate stop followed by a start recovers every committed transaction.
        self._run(
            BIN / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "-N", "--no-instructions",
        )  # fmt: skip

    def _run(self, *args: object) -> None:
        command = [str(a) for a in args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def _pg_ctl(self, *args: str) -> None:
        self._run(BIN / "pg_ctl", "-D", self.data, "-w", "-t", "30", *args)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c fsync=off -c max_connections=200"
        )
        self._pg_ctl("-l", str(self.log), "-o", options, "start")

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server: "fast" disconnects clients and shuts down cleanly, "immediate"
        aborts like a crash (it recovers from its WAL at the next start)."""
        self._pg_ctl("-m", mode, "stop")

    def restart(self, mode: StopMode = "fast") -> None:
        """Stop the server (in `mode`) and start it again on the same port."""
        self.stop(mode)
        self.start()

    def running(self) -> bool:
        """Whether the server's postmaster runs."""
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        """The asyncpg URL of `database` on this server."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str = "watchd") -> str:
        """Create `name` and return its URL."""
        asyncio.run(self.execute(f'CREATE DATABASE "{name}"'))
        return self.url(name)

    async def execute(self, sql: str, database: str = "postgres") -> None:
        """Run one statement on `database` in a connection of its own."""
        conn = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user="postgres", database=database, timeout=5
        )
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def fetch(
        self, sql: str, *args: object, database: str = "watchd"
    ) -> Sequence[asyncpg.Record]:
        """The rows of one query (with `args` for its $1, $2...) on `database`, in a
        connection of its own."""
        conn = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user="postgres", database=database, timeout=5
        )
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    def cleanup(self) -> None:
        """Stop the server if it runs (immediately: its data is thrown away) and remove it."""
        if self.running():
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)
