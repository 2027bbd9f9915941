"""A real net-snmp agent for tests: snmpd on a free loopback port with a generated config.

The agent answers v1/v2c with a random community and v3 with an authPriv user (SHA-256 and
AES-128), and serves controllable Counter32s (a table of one or two rows) and a TimeTicks
through a `pass` script under 1.3.6.1.4.1.8072.9999.1 (values read from files the test writes).
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers import require_installed

SNMPD = "/usr/sbin/snmpd"
PASS_SCRIPT = Path(__file__).parent.parent / "data" / "snmp" / "pass_counter.sh"
COUNTER_OID = "1.3.6.1.4.1.8072.9999.1.1.0"
UPTIME_OID = "1.3.6.1.4.1.8072.9999.1.2.0"
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"  # Debian's faketime


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SnmpAgent:
    """A running snmpd: where it listens, its credentials, and knobs for its test values."""

    port: int
    community: str
    user: str
    auth_key: str
    priv_key: str
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    # More v3 users with the same keys: (name, auth protocol, privacy protocol or "").
    extra_users: tuple[tuple[str, str, str], ...] = ()
    ipv6: bool = False  # also listen on [::1] at the same port
    clock_speed: float = 1.0  # >1: the agent's clock runs that much faster (libfaketime)

    def set_counter(self, value: int) -> None:
        (self.workdir / "counter").write_text(f"{value}\n")

    def set_uptime(self, hundredths: int) -> None:
        (self.workdir / "uptime").write_text(f"{hundredths}\n")

    def set_row1(self, value: int | None) -> None:
        """Give the counter table a second row (index 1) with this value, or take it away."""
        path = self.workdir / "row1"
        if value is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(f"{value}\n")

    def write_config(self) -> Path:
        conf = self.workdir / "snmpd.conf"
        conf.write_text(
            f"agentAddress udp:127.0.0.1:{self.port}"
            + (
                f",udp6:[::1]:{self.port}\nrocommunity6 {self.community} ::1\n"
                if self.ipv6
                else "\n"
            )
            + f"rocommunity {self.community} 127.0.0.1\n"
            f"createUser {self.user} SHA-256 {self.auth_key} AES {self.priv_key}\n"
            f"rouser {self.user} priv\n"
            + "".join(
                f"createUser {name} {auth} {self.auth_key}"
                + (
                    f" {priv} {self.priv_key}\nrouser {name} priv\n"
                    if priv
                    else f"\nrouser {name} auth\n"
                )
                for name, auth, priv in self.extra_users
            )
            + f"pass .1.3.6.1.4.1.8072.9999.1 /bin/sh {PASS_SCRIPT} {self.workdir}\n"
            "sysName watchd-test-agent\n"
            "sysDescr watchd test agent\n"
        )
        return conf

    def start(self) -> None:
        conf = self.write_config()
        # -C: only our config; persistent state in the workdir so v3 users never leak out.
        env = {"PATH": "/usr/sbin:/usr/bin:/bin", "SNMP_PERSISTENT_DIR": str(self.workdir)}
        if self.clock_speed != 1:
            # libfaketime preloaded into snmpd itself: the `faketime` command would fork it as
            # its child, and stopping the command would leave snmpd running.
            env["LD_PRELOAD"] = FAKETIME_LIB
            env["FAKETIME"] = f"+0 x{self.clock_speed:g}"
        self.process = subprocess.Popen(
            # No MIB files: every OID here is numeric, and Debian ships the MIBs incomplete.
            [
                SNMPD,
                "-f",
                "-Lo",
                "-C",
                "-m",
                "",
                "-M",
                "/nonexistent",
                "-c",
                str(conf),
                "-p",
                str(self.workdir / "pid"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self._wait_ready()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            result = subprocess.run(
                [
                    "snmpget",
                    "-m",
                    "",
                    "-v2c",
                    "-c",
                    self.community,
                    "-r0",
                    "-t0.3",
                    f"127.0.0.1:{self.port}",
                    "1.3.6.1.2.1.1.3.0",
                ],
                capture_output=True,
                check=False,
            )
            if result.returncode == 0:
                return
        raise RuntimeError(f"snmpd on 127.0.0.1:{self.port} did not answer within 10 s")


def make_agent(workdir: Path) -> SnmpAgent:
    """A configured, not yet started agent with fresh random credentials."""
    workdir.mkdir(parents=True, exist_ok=True)
    agent = SnmpAgent(
        port=free_udp_port(),
        community="c" + secrets.token_hex(8),
        user="watchd",
        auth_key="a" + secrets.token_hex(8),
        priv_key="p" + secrets.token_hex(8),
        workdir=workdir,
    )
    agent.set_counter(0)
    agent.set_uptime(100)
    return agent


def require_faketime() -> None:
    """Skip unless libfaketime is installed (it runs an agent's clock fast)."""
    require_installed(Path(FAKETIME_LIB).exists(), "libfaketime (apt package faketime)")


@pytest.fixture(name="snmp_agent")
def snmp_agent_fixture(tmp_path: Path) -> Iterator[SnmpAgent]:
    """A running snmpd for one test, stopped afterwards."""
    require_installed(
        shutil.which("snmpget") is not None and Path(SNMPD).exists(),
        "net-snmp (apt packages snmpd and snmp)",
    )
    agent = make_agent(tmp_path / "snmpd")
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()
