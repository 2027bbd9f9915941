"""Fixtures shared by several test packages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mqtt_broker import Broker


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A running private Mosquitto (tests/mqtt_broker.py), stopped after the test."""
    running = Broker(tmp_path)
    running.start()
    yield running
    running.stop()
