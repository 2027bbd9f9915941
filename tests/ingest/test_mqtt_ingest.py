"""MQTT ingestion against a private Mosquitto, fed by the real mosquitto_pub client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog.testing
import trustme

from tests.mqtt_broker import TOPIC, Broker, unretrieved_errors
from tests.storing_sink import StoringSink
from watchd.clock import SystemClock
from watchd.ingest.config import MqttIngestConfig
from watchd.ingest.mqtt import MqttIngest
from watchd.model import Alert, AlertSink, AlertStatus
from watchd.store import Store

pytestmark = pytest.mark.integration


def config(broker: Broker, **overrides: Any) -> MqttIngestConfig:
    settings: dict[str, Any] = {
        "enabled": True,
        "port": broker.port,
        "client_id": "watchd-test",
        "topics": [TOPIC],
        "max_backoff": 1.0,
    }
    return MqttIngestConfig(**(settings | overrides))


@pytest.fixture
async def run_ingest() -> AsyncIterator[
    Callable[..., Awaitable[tuple[MqttIngest, asyncio.Task[None]]]]
]:
    """Start MqttIngest.run in a task, connected; every task is cancelled at the end."""
    tasks: list[asyncio.Task[None]] = []

    async def start(
        cfg: MqttIngestConfig, sink: AlertSink
    ) -> tuple[MqttIngest, asyncio.Task[None]]:
        ingest = MqttIngest(cfg, sink=sink, clock=SystemClock(), rng=random.Random(1))
        task = asyncio.create_task(ingest.run(), name="watchd.mqtt-test")
        tasks.append(task)
        await asyncio.wait_for(ingest.connected.wait(), 10)
        return ingest, task

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def stored(store: Store, count: int) -> list[Alert]:
    """Wait (at most 10 s) until the store holds `count` alerts, and return them."""
    async with asyncio.timeout(10):
        while len(alerts := await store.alerts()) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return alerts


AM_ALERT = {
    "labels": {"alertname": "InstanceDown", "instance": "web1:9100"},
    "annotations": {"summary": "web1 is down"},
    "startsAt": "2027-01-15T07:58:30.123Z",
    "endsAt": "2100-01-01T00:00:00.000Z",
    "generatorURL": "http://prom:9090/graph",
}
EVENT = {
    "source": "nagios",
    "item": "db1",
    "check": "disk",
    "severity": "warning",
    "status": "firing",
    "summary": "disk 91% full",
}


async def test_every_payload_shape_is_stored(
    broker: Broker, store: Store, sink: StoringSink, run_ingest: Any
) -> None:
    """An Alertmanager list, a single Alertmanager alert and an event are all stored."""
    ingest, _ = await run_ingest(config(broker), sink)
    second = dict(AM_ALERT, labels={"alertname": "DiskFull", "instance": "db1:9100"})
    await broker.publish(json.dumps([AM_ALERT]))
    await broker.publish(json.dumps(second))
    await broker.publish(json.dumps(EVENT))
    alerts = {a.name: a for a in await stored(store, 3)}
    assert set(alerts) == {"InstanceDown", "DiskFull", "disk"}
    assert alerts["InstanceDown"].source == "alertmanager-api"
    assert alerts["disk"].labels["item"] == "db1"
    assert alerts["disk"].status is AlertStatus.FIRING
    assert ingest.rejected == 0


async def test_bad_payloads_are_counted_and_do_not_block_the_topic(
    broker: Broker, store: Store, sink: StoringSink, run_ingest: Any
) -> None:
    """Non-JSON and wrongly shaped payloads are dropped and counted; later alerts still arrive."""
    ingest, task = await run_ingest(config(broker), sink)
    await broker.publish("the disk is on fire")
    await broker.publish(b"\xff\xfe not utf-8")
    await broker.publish(json.dumps({"labels": {}}))
    await broker.publish(json.dumps([AM_ALERT]))
    await stored(store, 1)
    assert ingest.rejected == 3
    assert not task.done()


async def test_a_broker_restart_is_survived(
    broker: Broker, store: Store, sink: StoringSink, run_ingest: Any
) -> None:
    """When the broker goes away and comes back, watchd reconnects and keeps storing.

    The outage is logged once when it starts and once when it ends, however many retries.
    """
    ingest, task = await run_ingest(config(broker), sink)
    with structlog.testing.capture_logs() as logs:
        broker.stop()
        async with asyncio.timeout(10):
            while ingest.connected.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await asyncio.sleep(2.5)  # several reconnect attempts fail meanwhile
        broker.start()
        await asyncio.wait_for(ingest.connected.wait(), 15)
    events = [entry["event"] for entry in logs]
    assert events == ["mqtt_broker_unreachable", "mqtt_broker_back"]
    await broker.publish(json.dumps([AM_ALERT]))
    [alert] = await stored(store, 1)
    assert alert.name == "InstanceDown"
    assert not task.done()


async def test_messages_published_while_away_arrive_on_reconnect(
    broker: Broker, store: Store, sink: StoringSink, run_ingest: Any
) -> None:
    """With the persistent session, QoS 1 alerts sent while watchd was stopped arrive later."""
    _, first = await run_ingest(config(broker), sink)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await broker.publish(json.dumps([AM_ALERT]))
    await broker.publish(json.dumps(EVENT))
    assert await store.alerts() == []
    await run_ingest(config(broker), sink)
    assert {a.name for a in await stored(store, 2)} == {"InstanceDown", "disk"}


async def test_the_mqtt5_session_also_persists(
    broker: Broker, store: Store, sink: StoringSink, run_ingest: Any
) -> None:
    """Over MQTT 5 (clean_start off, a session expiry) alerts sent while away arrive too."""
    cfg = config(broker, protocol="5", session_expiry=600.0)
    _, first = await run_ingest(cfg, sink)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await broker.publish(json.dumps([AM_ALERT]))
    await run_ingest(cfg, sink)
    await stored(store, 1)


class StuckSink:
    """A sink that never commits: the process dies while storing (a fault made on purpose)."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def submit(self, alerts: tuple[Alert, ...]) -> None:
        self.entered.set()
        await asyncio.Event().wait()


async def test_a_message_not_yet_stored_is_not_acknowledged(
    broker: Broker, store: Store, sink: StoringSink, run_ingest: Any
) -> None:
    """If watchd stops while storing a message, the broker delivers it again afterwards."""
    stuck = StuckSink()
    _, first = await run_ingest(config(broker), stuck)
    await broker.publish(json.dumps([AM_ALERT]))
    await asyncio.wait_for(stuck.entered.wait(), 10)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    await run_ingest(config(broker), sink)
    [alert] = await stored(store, 1)
    assert alert.name == "InstanceDown"


async def test_stopping_after_the_broker_went_leaves_no_unread_error(broker: Broker) -> None:
    """Stopped while it stores a message, after the broker went away meanwhile, the ingest
    reads the connection's error: asyncio reports no "Future exception was never retrieved"."""
    async with unretrieved_errors() as reported:
        stuck = StuckSink()
        ingest = MqttIngest(config(broker), sink=stuck, clock=SystemClock())
        task = asyncio.create_task(ingest.run(), name="watchd.mqtt-test")
        await asyncio.wait_for(ingest.connected.wait(), 10)
        await broker.publish(json.dumps([AM_ALERT]))
        await asyncio.wait_for(stuck.entered.wait(), 10)
        broker.stop()
        # Real I/O: the client reads the connection's end meanwhile (no message is awaited).
        await asyncio.sleep(0.5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        del task  # its CancelledError's traceback holds the client
    assert reported == []


async def test_shared_subscriptions_split_a_topic(
    broker: Broker, store: Store, sink: StoringSink, run_ingest: Any
) -> None:
    """Two nodes in one MQTT 5 shared group each get a part of the topic and none is lost."""
    a, _ = await run_ingest(config(broker, protocol="5", shared_group="watchd"), sink)
    other = config(broker, protocol="5", shared_group="watchd", client_id="watchd-test-2")
    b, _ = await run_ingest(other, sink)
    for i in range(20):
        await broker.publish(json.dumps(dict(EVENT, check=f"disk{i}")))
    await stored(store, 20)
    assert a.messages + b.messages == 20
    assert a.messages > 0 and b.messages > 0


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Broker, Path]]:
    """A broker that takes only TLS (a trustme CA) and a username with a password."""
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
    server.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(tmp_path / "passwd"), "watchd", "s3cret-pass"],
        check=True,
        timeout=10,
    )
    (tmp_path / "mqtt-password").write_text("s3cret-pass\n")
    extra = (
        f"cafile {tmp_path}/ca.pem\ncertfile {tmp_path}/server.pem\n"
        f"keyfile {tmp_path}/server.key\npassword_file {tmp_path}/passwd\n"
    )
    pub = ("--cafile", str(tmp_path / "ca.pem"), "-u", "watchd", "-P", "s3cret-pass")
    running = Broker(tmp_path, extra, pub)
    running.start()
    yield running, tmp_path
    running.stop()


async def test_tls_and_a_password_from_a_secret_file(
    tls_broker: tuple[Broker, Path], store: Store, sink: StoringSink, run_ingest: Any
) -> None:
    """Over TLS, verified against the configured CA, with the password read from its file."""
    broker, tmp = tls_broker
    cfg = config(
        broker,
        tls=True,
        ca_file=tmp / "ca.pem",
        username="watchd",
        password={"file": tmp / "mqtt-password"},
    )
    await run_ingest(cfg, sink)
    await broker.publish(json.dumps(EVENT))
    [alert] = await stored(store, 1)
    assert alert.name == "disk"


async def test_a_wrong_password_is_retried_not_fatal(
    tls_broker: tuple[Broker, Path], store: Store, sink: StoringSink
) -> None:
    """A refused login is logged once and retried with backoff; the task keeps running."""
    broker, tmp = tls_broker
    (tmp / "wrong").write_text("not-the-password")
    cfg = config(
        broker,
        tls=True,
        ca_file=tmp / "ca.pem",
        username="watchd",
        password={"file": tmp / "wrong"},
    )
    ingest = MqttIngest(cfg, sink=sink, clock=SystemClock(), rng=random.Random(1))
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(ingest.run())
        await asyncio.sleep(2.0)
        assert not task.done()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [entry["event"] for entry in logs] == ["mqtt_broker_unreachable"]
    assert not ingest.connected.is_set()
