"""Configuration of ingestion: the `[ingest]` and `[mqtt_ingest]` tables of config.toml."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from watchd.configbase import Strict
from watchd.durations import Duration
from watchd.secrets import SecretRef


class IngestConfig(Strict):
    """How HTTP ingestion keeps up with a storm (watchd.ingest.journal).

    While the pipeline is busy, requests are answered once their alerts are journaled; while
    requests keep coming, journaled alerts wait up to `max_lag` before the pipeline takes them
    in, so senders are answered first. More than `max_backlog` alerts waiting makes requests
    wait for room.
    """

    max_lag: Duration = Field(default=1.0, ge=0.0, le=60.0)
    max_backlog: int = Field(default=50_000, ge=100)


class MqttIngestConfig(Strict):
    """Where to receive alerts by MQTT: broker, identity, topics, TLS and credentials.

    The session is persistent (a fixed `client_id`, no clean session), so QoS 1 messages
    published while watchd is away are delivered when it comes back. `shared_group`
    subscribes as `$share/<group>/<topic>` (MQTT 5) so several watchd nodes split a topic.
    """

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    client_id: str = Field(default="watchd", min_length=1)
    topics: list[str] = Field(default=["watchd/alerts"], min_length=1)
    shared_group: str | None = Field(default=None, pattern=r"^[^/+#]+$")
    username: str | None = None
    password: SecretRef | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive: int = Field(default=60, ge=5)
    session_expiry: Duration = 7 * 86400.0  # MQTT 5: how long the broker keeps our session
    max_backoff: Duration = 60.0

    @model_validator(mode="after")
    def _consistent(self) -> MqttIngestConfig:
        if self.shared_group is not None and self.protocol != "5":
            raise ValueError('shared_group needs protocol = "5" (shared subscriptions are MQTT 5)')
        if self.password is not None and self.username is None:
            raise ValueError("password is set but username is not")
        if not self.tls and (self.ca_file or self.cert_file or self.key_file):
            raise ValueError("ca_file, cert_file and key_file need tls = true")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (a client certificate)")
        return self

    def subscriptions(self) -> list[str]:
        """The topic filters to subscribe to, shared when a group is set."""
        if self.shared_group is None:
            return list(self.topics)
        return [f"$share/{self.shared_group}/{topic}" for topic in self.topics]
