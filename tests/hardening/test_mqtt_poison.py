"""Issue 19, finding 1: a bad alert in an MQTT message is dropped alone, never redelivered."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.ingest.test_mqtt_ingest import config, run_ingest
from tests.mqtt_broker import Broker
from tests.pipeline.conftest import Harness

__all__ = ["run_ingest"]  # the fixture, used by name

pytestmark = pytest.mark.integration


async def test_a_bad_alert_in_an_mqtt_message_is_dropped_alone(
    broker: Broker, harness: Harness, run_ingest: Any
) -> None:
    """Of a message holding a good alert and one with a NUL, the good one is stored, the bad
    one counted and dropped (acknowledged), and the messages after it still arrive."""
    ingest, task = await run_ingest(config(broker), harness.pipeline)
    bad = {"labels": {"alertname": "Bad", "item": "db\u0000"}}
    await broker.publish(json.dumps([{"labels": {"alertname": "First", "item": "web1"}}, bad]))
    await broker.publish(json.dumps({"labels": {"alertname": "Later", "item": "web2"}}))
    async with asyncio.timeout(10):
        while len(await harness.store.alerts()) < 2:  # noqa: ASYNC110  (a database query)
            await asyncio.sleep(0.05)
    assert sorted(a.name for a in await harness.store.alerts()) == ["First", "Later"]
    assert ingest.rejected == 1
    assert not task.done()
