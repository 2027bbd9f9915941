"""The SNMP trap receiver with real net-snmp `snmptrap` senders on loopback."""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import socket
from collections.abc import AsyncIterator

import pytest

from tests.peers import require_installed
from watchd.ingest.snmptrap import SnmpTrapReceiver
from watchd.ingest.snmptrap_rules import SnmpTrapConfig, TrapUser
from watchd.model import Alert, AlertStatus
from watchd.secrets import SecretRef

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _snmptrap_installed() -> None:
    require_installed(shutil.which("snmptrap") is not None, "apt package snmp (snmptrap)")


COMMUNITY = "t" + secrets.token_hex(6)
USER, AUTH_KEY, PRIV_KEY = "trapper", "a" + secrets.token_hex(6), "p" + secrets.token_hex(6)
ENGINE_ID = "8000000001020304"
LINK_DOWN, LINK_UP, COLD_START = "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.6.3.1.1.5.1"
IF_INDEX_2 = ["1.3.6.1.2.1.2.2.1.1.2", "i", "2", "1.3.6.1.2.1.31.1.1.1.1.2", "s", "eth1"]


class RecordingSink:
    """The alert pipeline's entry point, recording what it is given."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self._changed = asyncio.Event()

    async def submit(self, alerts: tuple[Alert, ...]) -> None:
        self.alerts.extend(alerts)
        self._changed.set()

    async def wait_for(self, count: int) -> list[Alert]:
        async with asyncio.timeout(5.0):
            while len(self.alerts) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.alerts


def _port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def receiver(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[SnmpTrapReceiver, RecordingSink]]:
    monkeypatch.setenv("TEST_TRAP_AUTH", AUTH_KEY)
    monkeypatch.setenv("TEST_TRAP_PRIV", PRIV_KEY)
    config = SnmpTrapConfig(
        enabled=True,
        listen=f"127.0.0.1:{_port()}",
        communities=[COMMUNITY],
        users=[
            TrapUser(
                user=USER,
                auth_protocol="SHA-256",
                auth_key=SecretRef(env="TEST_TRAP_AUTH"),
                priv_protocol="AES",
                priv_key=SecretRef(env="TEST_TRAP_PRIV"),
                engine_ids=[f"0x{ENGINE_ID}"],
            )
        ],
    )
    sink = RecordingSink()
    trap_receiver = SnmpTrapReceiver(config, sink, items_by_address={"127.0.0.1": "core-sw1"})
    task = asyncio.create_task(trap_receiver.run(), name="test.snmptrap")
    await asyncio.wait_for(trap_receiver.wait_ready(), 5)
    try:
        yield trap_receiver, sink
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def _send(receiver: SnmpTrapReceiver, options: list[str], fields: list[str]) -> None:
    """Run snmptrap: `options` before the receiver's address, the trap `fields` after it."""
    assert receiver.address is not None
    host, port = receiver.address
    process = await asyncio.create_subprocess_exec(
        "snmptrap",
        "-m",
        "",
        *options,
        f"{host}:{port}",
        *fields,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, stderr


async def _v2c(
    receiver: SnmpTrapReceiver, trap_oid: str, *varbinds: str, community: str = COMMUNITY
) -> None:
    await _send(receiver, ["-v", "2c", "-c", community], ["", trap_oid, *varbinds])


async def test_link_down_fires_and_link_up_resolves(
    receiver: tuple[SnmpTrapReceiver, RecordingSink],
) -> None:
    """A v2c linkDown fires an alert keyed by ifIndex; the matching linkUp resolves that alert."""
    trap_receiver, sink = receiver
    await _v2c(trap_receiver, LINK_DOWN, *IF_INDEX_2)
    await _v2c(trap_receiver, LINK_DOWN, "1.3.6.1.2.1.2.2.1.1.3", "i", "3")
    await _v2c(trap_receiver, LINK_UP, *IF_INDEX_2)
    down2, down3, up2 = await sink.wait_for(3)
    assert down2.status is AlertStatus.FIRING and down2.ends_at is None
    assert down2.labels["alertname"] == "SnmpLinkDown"
    assert down2.labels["ifIndex"] == "2" and down2.labels["item"] == "core-sw1"
    assert down2.labels["source"] == "127.0.0.1" and down2.labels["trap_oid"] == LINK_DOWN
    assert down2.annotations["summary"] == "interface eth1 (ifIndex 2) on 127.0.0.1 went down"
    assert up2.status is AlertStatus.RESOLVED
    assert up2.fingerprint == down2.fingerprint != down3.fingerprint


async def test_v1_trap_carries_enterprise_and_hides_community(
    receiver: tuple[SnmpTrapReceiver, RecordingSink],
) -> None:
    """A v1 linkDown is translated, labelled with its enterprise, and never shows the community."""
    trap_receiver, sink = receiver
    enterprise = "1.3.6.1.4.1.8072.3.2.10"
    await _send(
        trap_receiver,
        ["-v", "1", "-c", COMMUNITY],
        [enterprise, "127.0.0.1", "2", "0", "", *IF_INDEX_2],
    )
    [alert] = await sink.wait_for(1)
    assert alert.labels["alertname"] == "SnmpLinkDown" and alert.labels["ifIndex"] == "2"
    assert alert.labels["enterprise"] == enterprise
    assert alert.annotations["snmp_version"] == "1"
    assert COMMUNITY not in repr(alert.as_json())


async def test_v3_auth_priv_trap(receiver: tuple[SnmpTrapReceiver, RecordingSink]) -> None:
    """A v3 authPriv coldStart from a configured user and engine ID is an info alert that expires."""
    trap_receiver, sink = receiver
    options = [
        "-v",
        "3",
        "-e",
        f"0x{ENGINE_ID}",
        "-u",
        USER,
        "-l",
        "authPriv",
        "-a",
        "SHA-256",
        "-A",
        AUTH_KEY,
        "-x",
        "AES",
        "-X",
        PRIV_KEY,
    ]
    await _send(trap_receiver, options, ["", COLD_START])
    [alert] = await sink.wait_for(1)
    assert alert.labels["alertname"] == "SnmpColdStart" and alert.labels["severity"] == "info"
    assert alert.ends_at == pytest.approx(alert.starts_at + 3600)
    assert alert.annotations["snmp_version"] == "3"


async def test_unknown_trap_is_kept_as_info(
    receiver: tuple[SnmpTrapReceiver, RecordingSink],
) -> None:
    """A trap no rule knows becomes an expiring info alert with its varbinds, not nothing."""
    trap_receiver, sink = receiver
    await _v2c(trap_receiver, "1.3.6.1.4.1.9999.0.7", "1.3.6.1.2.1.1.5.0", "s", "ups-1")
    [alert] = await sink.wait_for(1)
    assert alert.labels["alertname"] == "SnmpTrap" and alert.labels["severity"] == "info"
    assert alert.labels["trap_oid"] == "1.3.6.1.4.1.9999.0.7"
    assert alert.annotations["varbind_sysName"] == "ups-1"
    assert alert.ends_at == pytest.approx(alert.starts_at + 300)


async def test_wrong_community_is_rejected_and_counted(
    receiver: tuple[SnmpTrapReceiver, RecordingSink],
) -> None:
    """A trap with an unknown community gives no alert and is counted; a good one still works."""
    trap_receiver, sink = receiver
    await _v2c(trap_receiver, COLD_START, community="nope")
    await _v2c(trap_receiver, COLD_START)
    [alert] = await sink.wait_for(1)
    assert alert.labels["alertname"] == "SnmpColdStart"
    assert trap_receiver.stats.rejected == 1


async def test_garbled_packets_are_counted_and_logged_once(
    receiver: tuple[SnmpTrapReceiver, RecordingSink], caplog: pytest.LogCaptureFixture
) -> None:
    """Garbage on the trap port is counted and logged once per source; traps keep working."""
    trap_receiver, sink = receiver
    assert trap_receiver.address is not None
    caplog.set_level(logging.WARNING, logger="watchd.ingest.snmptrap")
    junk = [
        b"\x00garbage",
        b"\x30\x82\xff\xff\x02\x01",
        b"\x30\x0b\x02\x01\x01\x04\x01x\xa7\x03\x02\x01",
        b"",
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for packet in junk * 3:
            sock.sendto(packet, trap_receiver.address)
    await _v2c(trap_receiver, LINK_DOWN, *IF_INDEX_2)
    [alert] = await sink.wait_for(1)
    assert alert.labels["alertname"] == "SnmpLinkDown"
    assert trap_receiver.stats.garbled + trap_receiver.stats.rejected == len(junk) * 3
    assert trap_receiver.stats.garbled >= 6
    garbled_lines = [r for r in caplog.records if "garbled" in r.getMessage()]
    assert len(garbled_lines) == 1


async def test_port_in_use_fails_at_start() -> None:
    """A listen address already taken makes run() fail at once with OSError."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = SnmpTrapConfig(enabled=True, listen=f"127.0.0.1:{port}")
        with pytest.raises(OSError):
            await asyncio.wait_for(SnmpTrapReceiver(config, RecordingSink()).run(), 5)
