"""A private Mosquitto broker for tests: a free loopback port, its own session store and log."""

from __future__ import annotations

import asyncio
import gc
import getpass
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiomqtt

TOPIC = "site/alerts"


class Broker:
    """A mosquitto process on a fixed loopback port, with its session store in `directory`."""

    def __init__(self, directory: Path, extra: str = "", pub_args: tuple[str, ...] = ()) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            # Started as root, mosquitto would drop to its own user and could not write here.
            f"user {getpass.getuser()}\n"
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'false' if 'password_file' in extra else 'true'}\n"
            "persistence true\n"
            f"persistence_location {directory}/\n"
            f"log_dest file {directory}/mosquitto.log\n" + extra
        )
        self.pub_args = pub_args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(self.config)])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"mosquitto did not listen on port {self.port} within 10 s")

    def stop(self) -> None:
        """Stop the broker as an operator would (SIGTERM: it saves its sessions)."""
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    async def publish(self, payload: str | bytes, topic: str = TOPIC) -> None:
        """Publish with mosquitto_pub at QoS 1 and wait until the broker has it."""
        proc = await asyncio.create_subprocess_exec(
            "mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1",
            "-t", topic, "-s", *self.pub_args,
            stdin=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await asyncio.wait_for(
            proc.communicate(payload.encode() if isinstance(payload, str) else payload), 10
        )
        assert proc.returncode == 0


@asynccontextmanager
async def unretrieved_errors() -> AsyncIterator[list[str]]:
    """What asyncio reports (as "Future exception was never retrieved", say) while the block
    runs and once every MQTT client it dropped is collected: aiomqtt's background task keeps
    its client a while after the connection ended."""
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context["message"]))
    try:
        yield reported
        async with asyncio.timeout(10):
            while True:
                gc.collect()
                if not any(isinstance(o, aiomqtt.Client) for o in gc.get_objects()):
                    break
                await asyncio.sleep(0.05)
    finally:
        loop.set_exception_handler(None)
