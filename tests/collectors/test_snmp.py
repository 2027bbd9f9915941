"""The snmp collector against a real net-snmp agent on loopback."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from collectors import snmp_session
from collectors.snmp import SnmpCollector, SnmpConfig
from tests.collectors.snmp_agent import (  # noqa: F401
    UPTIME_OID,
    SnmpAgent,
    free_udp_port,
    require_faketime,
    snmp_agent_fixture,
)
from watchd.model import CheckContext, CheckResult, Sample, Status
from watchd.secrets import SecretRef

COUNTER_PROFILE = Path(__file__).parent.parent / "data" / "snmp" / "test-counter.yaml"
CTX = CheckContext(item="switch", check="snmp", address="127.0.0.1", timeout=10.0)

pytestmark = pytest.mark.integration


def _find(result: CheckResult, metric: str, **labels: str) -> list[Sample]:
    return [
        s
        for s in result.samples
        if s.metric == metric and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def _secret(tmp_path: Path, name: str, value: str) -> SecretRef:
    path = tmp_path / name
    path.write_text(value + "\n")
    return SecretRef(file=path)


async def test_v2c_walks_if_mib_and_reads_system(snmp_agent: SnmpAgent, tmp_path: Path) -> None:
    """A v2c poll returns the loopback interface by name, its status and counters, and sysName."""
    collector = SnmpCollector(
        SnmpConfig(
            port=snmp_agent.port,
            community=_secret(tmp_path, "community", snmp_agent.community),
            profiles=["system", "if-mib"],
        )
    )
    try:
        result = await collector.collect(CTX)
    finally:
        await collector.aclose()
    assert result.status is Status.OK, result.message
    assert "sysName=watchd-test-agent" in result.message
    [oper] = _find(result, "if_oper_status", ifName="lo")
    assert oper.value == 1.0 and oper.labels["ifIndex"] == "1"
    assert _find(result, "if_hc_in_octets_total", ifName="lo")[0].value > 0
    assert _find(result, "sys_uptime_seconds")[0].value >= 0


async def test_second_poll_gives_rates(snmp_agent: SnmpAgent) -> None:
    """From the second poll on, interface counters also come as per-second rates."""
    collector = SnmpCollector(
        SnmpConfig(port=snmp_agent.port, community=snmp_agent.community, profiles=["if-mib"])
    )
    try:
        first = await collector.collect(CTX)
        second = await collector.collect(CTX)
    finally:
        await collector.aclose()
    assert not _find(first, "if_in_octets_per_second")
    [rate] = _find(second, "if_in_octets_per_second", ifName="lo")
    assert rate.value >= 0


async def test_host_resources_and_ucd_profiles(snmp_agent: SnmpAgent) -> None:
    """Storage comes in bytes and percent labelled by description; load averages by name."""
    collector = SnmpCollector(
        SnmpConfig(
            port=snmp_agent.port,
            community=snmp_agent.community,
            profiles=["host-resources", "ucd-snmp"],
        )
    )
    try:
        result = await collector.collect(CTX)
    finally:
        await collector.aclose()
    assert result.status is Status.OK, result.message
    [size] = _find(result, "hr_storage_size_bytes", hrStorageDescr="/")
    [percent] = _find(result, "hr_storage_used_percent", hrStorageDescr="/")
    assert size.value > 1024 and 0 <= percent.value <= 100
    assert _find(result, "ucd_load_average", laNames="Load-1")
    assert _find(result, "ucd_memory_total_bytes")[0].value > 1024 * 1024


async def test_v3_auth_priv(snmp_agent: SnmpAgent, tmp_path: Path) -> None:
    """SNMPv3 authPriv with SHA-256 and AES, keys read from files, polls the agent."""
    collector = SnmpCollector(
        SnmpConfig(
            port=snmp_agent.port,
            version="3",
            user=snmp_agent.user,
            auth_protocol="SHA-256",
            auth_key=_secret(tmp_path, "auth", snmp_agent.auth_key),
            priv_protocol="AES",
            priv_key=_secret(tmp_path, "priv", snmp_agent.priv_key),
            profiles=["system"],
        )
    )
    try:
        result = await collector.collect(CTX)
    finally:
        await collector.aclose()
    assert result.status is Status.OK, result.message
    assert "sysName=watchd-test-agent" in result.message


async def test_wrong_community_is_critical_after_retries(snmp_agent: SnmpAgent) -> None:
    """A wrong community gets no answer: CRITICAL after the retries, without the secret."""
    collector = SnmpCollector(
        SnmpConfig(
            port=snmp_agent.port,
            community="not-" + snmp_agent.community,
            request_timeout=0.3,
            retries=1,
            profiles=["system"],
        )
    )
    started = time.monotonic()
    try:
        result = await collector.collect(CTX)
    finally:
        await collector.aclose()
    assert result.status is Status.CRITICAL
    assert "no answer after 2 tries of 0.3 s each" in result.message
    assert "wrong community" in result.message
    assert snmp_agent.community not in result.message
    assert time.monotonic() - started < 3


async def test_unreachable_status_is_configurable() -> None:
    """A device that never answers can be UNKNOWN instead of CRITICAL when configured so."""
    collector = SnmpCollector(
        SnmpConfig(
            port=free_udp_port(),
            request_timeout=0.2,
            retries=0,
            unreachable_status="UNKNOWN",
            profiles=["system"],
        )
    )
    try:
        result = await collector.collect(CTX)
    finally:
        await collector.aclose()
    assert result.status is Status.UNKNOWN
    assert "no answer after 1 try" in result.message


async def test_wrong_v3_auth_key_is_a_clear_error(snmp_agent: SnmpAgent, tmp_path: Path) -> None:
    """A wrong v3 auth key is reported as refused credentials, and the key is not shown."""
    wrong = "wrong-" + snmp_agent.auth_key
    collector = SnmpCollector(
        SnmpConfig(
            port=snmp_agent.port,
            version="3",
            user=snmp_agent.user,
            auth_protocol="SHA-256",
            auth_key=_secret(tmp_path, "auth", wrong),
            priv_key=_secret(tmp_path, "priv", snmp_agent.priv_key),
            request_timeout=0.5,
            profiles=["system"],
        )
    )
    try:
        result = await collector.collect(CTX)
    finally:
        await collector.aclose()
    assert result.status is Status.CRITICAL
    assert "refused the credentials" in result.message and "digest" in result.message.lower()
    assert wrong not in result.message and snmp_agent.priv_key not in result.message


async def test_unknown_v3_user_is_a_clear_error(snmp_agent: SnmpAgent) -> None:
    """A v3 user the agent does not know is reported as such."""
    collector = SnmpCollector(
        SnmpConfig(port=snmp_agent.port, version="3", user="nobody", profiles=["system"])
    )
    try:
        result = await collector.collect(CTX)
    finally:
        await collector.aclose()
    assert result.status is Status.CRITICAL
    assert "nobody" in result.message and "Unknown USM user" in result.message


async def test_counter_wrap_and_agent_restart_give_correct_rates(snmp_agent: SnmpAgent) -> None:
    """A Counter32 wrap gives the true rate; an agent restart gives no spike and no negative."""
    clock = iter([0.0, 10.0, 20.0, 30.0])
    collector = SnmpCollector(
        SnmpConfig(
            port=snmp_agent.port,
            community=snmp_agent.community,
            profile_files=[COUNTER_PROFILE],
            uptime_oid=UPTIME_OID,
        ),
        monotonic=lambda: next(clock),
    )

    async def poll(counter: int, uptime: int) -> list[Sample]:
        snmp_agent.set_counter(counter)
        snmp_agent.set_uptime(uptime)
        result = await collector.collect(CTX)
        assert result.status is Status.OK, result.message
        return _find(result, "test_octets_per_second")

    try:
        assert await poll(2**32 - 1000, 100_000) == []
        [wrapped] = await poll(1000, 101_000)
        assert wrapped.value == pytest.approx(2000 / 10)
        snmp_agent.restart()
        assert await poll(50, 500) == []  # uptime went back: restarted, no rate this time
        [after] = await poll(250, 1500)
        assert after.value == pytest.approx(200 / 10)
    finally:
        await collector.aclose()


async def test_slow_device_does_not_delay_others(snmp_agent: SnmpAgent) -> None:
    """While one device times out, another device's poll completes at its own pace."""
    dead = SnmpCollector(
        SnmpConfig(port=free_udp_port(), request_timeout=1.0, retries=1, profiles=["system"])
    )
    alive = SnmpCollector(
        SnmpConfig(port=snmp_agent.port, community=snmp_agent.community, profiles=["system"])
    )
    try:
        slow = asyncio.create_task(dead.collect(CTX))
        started = time.monotonic()
        fast = await alive.collect(CTX)
        assert fast.status is Status.OK and time.monotonic() - started < 1.0
        assert not slow.done()
        assert (await slow).status is Status.CRITICAL
    finally:
        await dead.aclose()
        await alive.aclose()


def test_unknown_profile_is_a_config_error() -> None:
    """A misspelt profile name is rejected at load, naming the shipped profiles."""
    with pytest.raises(ValidationError, match="if-mib"):
        SnmpConfig(profiles=["if-mb"])


def test_v3_needs_a_user() -> None:
    """An SNMPv3 check without a user is rejected at load."""
    with pytest.raises(ValidationError, match="needs 'user'"):
        SnmpConfig(version="3", profiles=["system"])


async def test_v1_walks_with_getnext_and_skips_absent_scalars(snmp_agent: SnmpAgent) -> None:
    """SNMPv1 walks columns by GETNEXT to the agent's noSuchName end; an absent scalar does
    not cost the others (v1 fails a whole GET for one unknown OID)."""
    collector = SnmpCollector(
        SnmpConfig(
            port=snmp_agent.port,
            version="1",
            community=snmp_agent.community,
            profiles=["system", "if-mib"],
            oids=[{"oid": "1.3.6.1.2.1.1.99.0", "metric": "absent"}],  # type: ignore[list-item]
        )
    )
    try:
        first = await collector.collect(CTX)
        second = await collector.collect(CTX)
    finally:
        await collector.aclose()
    assert first.status is Status.OK, first.message
    assert "sysName=watchd-test-agent" in first.message
    assert _find(first, "if_oper_status", ifName="lo")[0].value == 1.0
    assert not _find(first, "absent")
    assert _find(second, "if_in_octets_per_second", ifName="lo")[0].value >= 0
    # every row of every column, once each: ifDescr has one row per interface
    assert len(_find(first, "if_admin_status")) == len(_find(first, "if_oper_status")) > 0


async def test_v3_session_survives_an_agent_restart(snmp_agent: SnmpAgent, tmp_path: Path) -> None:
    """After the agent restarts (its engine boots and time start again) the v3 session
    resynchronises and the next poll is OK, not a credentials error."""
    collector = SnmpCollector(
        SnmpConfig(
            port=snmp_agent.port,
            version="3",
            user=snmp_agent.user,
            auth_protocol="SHA-256",
            auth_key=_secret(tmp_path, "auth", snmp_agent.auth_key),
            priv_protocol="AES",
            priv_key=_secret(tmp_path, "priv", snmp_agent.priv_key),
            profiles=["system"],
        )
    )
    try:
        assert (await collector.collect(CTX)).status is Status.OK
        snmp_agent.restart()
        result = await collector.collect(CTX)
    finally:
        await collector.aclose()
    assert result.status is Status.OK, result.message


V3_USERS = (
    ("u-md5-des", "MD5", "DES"),
    ("u-sha-aes192", "SHA", "AES-192"),
    ("u-md5-aes256", "MD5", "AES-256"),
    ("u-sha512-aes256", "SHA-512", "AES-256"),
    ("u-sha224-aes", "SHA-224", "AES"),
    ("u-sha384-noprivacy", "SHA-384", ""),
)


async def test_v3_auth_and_privacy_protocols(snmp_agent: SnmpAgent, tmp_path: Path) -> None:
    """Every auth protocol and every privacy protocol net-snmp has (AES-192/256 with the
    Blumenthal key stretching it uses, also from a short MD5/SHA-1 key) polls the agent."""
    agent = snmp_agent
    agent.extra_users = V3_USERS
    agent.restart()
    failed = []
    for user, auth, priv in V3_USERS:
        collector = SnmpCollector(
            SnmpConfig(
                port=agent.port,
                version="3",
                user=user,
                auth_protocol=auth,  # type: ignore[arg-type]
                auth_key=_secret(tmp_path, "auth", agent.auth_key),
                priv_protocol=priv or "AES",  # type: ignore[arg-type]
                priv_key=_secret(tmp_path, "priv", agent.priv_key) if priv else None,
                request_timeout=0.5,
                profiles=["system"],
            )
        )
        try:
            result = await collector.collect(CTX)
        finally:
            await collector.aclose()
        if result.status is not Status.OK:
            failed.append(f"{auth}/{priv}: {result.message}")
    assert not failed


@pytest.mark.parametrize("version", ["2c", "1"])
async def test_rows_are_walked_again_on_time_and_when_one_goes(
    snmp_agent: SnmpAgent, version: str
) -> None:
    """Between walks a poll GETs the rows it knows: a new row shows at the next walk
    (`rewalk_interval`), a row that went away is gone from that very poll."""
    clock = iter([0.0, 10.0, 400.0, 410.0, 420.0])
    collector = SnmpCollector(
        SnmpConfig(
            port=snmp_agent.port,
            version=version,  # type: ignore[arg-type]
            community=snmp_agent.community,
            profile_files=[COUNTER_PROFILE],
            uptime_oid=UPTIME_OID,
            rewalk_interval=300,
        ),
        monotonic=lambda: next(clock),
    )

    async def rows() -> dict[str, float]:
        result = await collector.collect(CTX)
        assert result.status is Status.OK, result.message
        return {s.labels["index"]: s.value for s in _find(result, "test_octets_total")}

    try:
        snmp_agent.set_counter(100)
        assert await rows() == {"0": 100}  # t=0: walked
        snmp_agent.set_row1(7)
        assert await rows() == {"0": 100}  # t=10: the known row by GET; row 1 not walked yet
        assert await rows() == {"0": 100, "1": 7}  # t=400: walked again
        snmp_agent.set_counter(150)
        assert await rows() == {"0": 150, "1": 7}  # t=410: both by GET
        snmp_agent.set_row1(None)
        assert await rows() == {"0": 150}  # t=420: row 1 gone: walked at once
    finally:
        await collector.aclose()


async def test_ipv6_v2c_and_v3(snmp_agent: SnmpAgent, tmp_path: Path) -> None:
    """A device on an IPv6 address is polled in v2c and v3 alike."""
    profiles = ["system", "if-mib"]
    snmp_agent.ipv6 = True
    snmp_agent.restart()
    configs = [
        SnmpConfig(
            host="::1", port=snmp_agent.port, community=snmp_agent.community, profiles=profiles
        ),
        SnmpConfig(
            host="::1",
            port=snmp_agent.port,
            version="3",
            user=snmp_agent.user,
            auth_protocol="SHA-256",
            auth_key=_secret(tmp_path, "auth", snmp_agent.auth_key),
            priv_key=_secret(tmp_path, "priv", snmp_agent.priv_key),
            profiles=profiles,
        ),
    ]
    for config in configs:
        collector = SnmpCollector(config)
        try:
            result = await collector.collect(CTX)
        finally:
            await collector.aclose()
        assert result.status is Status.OK, result.message
        assert _find(result, "if_oper_status", ifName="lo")


async def test_v3_session_follows_an_agent_clock_gone_ahead(
    snmp_agent: SnmpAgent, tmp_path: Path
) -> None:
    """A v3 session whose engine time fell out of the agent's 150 s window (the agent's clock
    ran 20x for 9 s) resynchronises instead of reporting refused credentials."""
    require_faketime()
    snmp_agent.clock_speed = 20
    snmp_agent.restart()
    collector = SnmpCollector(
        SnmpConfig(
            port=snmp_agent.port,
            version="3",
            user=snmp_agent.user,
            auth_protocol="SHA-256",
            auth_key=_secret(tmp_path, "auth", snmp_agent.auth_key),
            priv_key=_secret(tmp_path, "priv", snmp_agent.priv_key),
            request_timeout=1.0,
            profiles=["system"],
        )
    )
    try:
        assert (await collector.collect(CTX)).status is Status.OK
        await asyncio.sleep(9)
        result = await collector.collect(CTX)
    finally:
        await collector.aclose()
    assert result.status is Status.OK, result.message


async def test_past_the_descriptor_budget_a_poll_closes_its_socket(
    snmp_agent: SnmpAgent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no descriptors left in the SNMP budget (a low RLIMIT_NOFILE and many devices),
    v2c and v3 sessions close their socket after each poll and the next poll opens one."""
    monkeypatch.setattr(snmp_session, "_socket_budget", lambda: 0)
    before = snmp_session._sockets
    configs = [
        SnmpConfig(port=snmp_agent.port, community=snmp_agent.community, profiles=["if-mib"]),
        SnmpConfig(
            port=snmp_agent.port,
            version="3",
            user=snmp_agent.user,
            auth_protocol="SHA-256",
            auth_key=_secret(tmp_path, "auth", snmp_agent.auth_key),
            priv_key=_secret(tmp_path, "priv", snmp_agent.priv_key),
            profiles=["if-mib"],
        ),
    ]
    for config in configs:
        collector = SnmpCollector(config)
        try:
            for _ in range(2):
                result = await collector.collect(CTX)
                assert result.status is Status.OK, result.message
                assert snmp_session._sockets == before
            assert _find(result, "if_in_octets_per_second", ifName="lo")
        finally:
            await collector.aclose()


async def test_an_unreadable_answer_is_unknown_with_a_reason() -> None:
    """A device answering with something that is not SNMP gives UNKNOWN saying so."""

    class Garbage(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.transport.sendto(b"\x30\x03\x02\x01\xff-not-snmp", addr)  # type: ignore[attr-defined]

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Garbage, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    collector = SnmpCollector(SnmpConfig(port=port, request_timeout=0.5, profiles=["system"]))
    try:
        result = await collector.collect(CTX)
    finally:
        await collector.aclose()
        transport.close()
    assert result.status is Status.UNKNOWN
    assert "unreadable answer" in result.message
