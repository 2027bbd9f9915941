"""The [mqtt_ingest] table: consistent settings only, shared topics spelled for MQTT 5."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from watchd.config import Config
from watchd.ingest.config import MqttIngestConfig


def test_mqtt_ingest_is_off_by_default() -> None:
    """A config without [mqtt_ingest] connects to no broker."""
    assert Config().mqtt_ingest.enabled is False


def test_a_shared_group_prefixes_every_topic() -> None:
    """With shared_group, each topic is subscribed as $share/<group>/<topic>."""
    cfg = MqttIngestConfig(protocol="5", shared_group="watchd", topics=["a/#", "b"])
    assert cfg.subscriptions() == ["$share/watchd/a/#", "$share/watchd/b"]


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"shared_group": "g"}, 'shared_group needs protocol = "5"'),
        ({"password": {"env": "MQTT_PASSWORD"}}, "password is set but username is not"),
        ({"ca_file": "/etc/ssl/ca.pem"}, "need tls = true"),
        ({"tls": True, "cert_file": "/c.pem"}, "cert_file and key_file go together"),
        ({"topics": []}, "at least 1 item"),
        ({"unknown": 1}, "Extra inputs are not permitted"),
    ],
)
def test_inconsistent_settings_are_refused(settings: dict[str, object], problem: str) -> None:
    """Settings that cannot work together are a config error saying why."""
    with pytest.raises(ValidationError, match=problem):
        MqttIngestConfig.model_validate(settings)
