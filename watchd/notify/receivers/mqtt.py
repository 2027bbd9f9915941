"""The mqtt receiver: each incident event is published as JSON to `topic` with QoS 1 (the
broker's PUBACK is the delivery), a page to a person to that person's topic (their contact's
address) instead; optionally the incident's current state is published, retained, to
`state_topic` with `{id}` replaced, so late subscribers see every incident's state.

One connection is kept and shared by concurrent deliveries (connecting per message cost a TCP
and MQTT handshake each, and a broker sees a client come and go per page). A publish that fails
drops the connection; the next delivery connects again, and the failed one is retried by the
dispatcher as any delivery is."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import aiomqtt
from pydantic import Field

from watchd.mqtt_internals import disconnect_error
from watchd.notify.config import ReceiverBase
from watchd.notify.model import HANDOFF, Notification, Outcome, ReceiverEnv, excerpt
from watchd.secrets import SecretRef


class MqttReceiver(ReceiverBase):
    kind: Literal["mqtt"]
    host: str = Field(min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    topic: str = Field(default="watchd/incidents/events", min_length=1)
    state_topic: str = ""  # e.g. "watchd/incidents/{id}/state": retained, one per incident
    username: str = ""
    password: SecretRef | None = None
    tls: bool = False
    ca_file: Path | None = None


class Mqtt:
    kind = "mqtt"
    Config = MqttReceiver
    batch = False

    def __init__(self, config: MqttReceiver, env: ReceiverEnv) -> None:
        self.name = config.name
        self._config = config
        self._connected: aiomqtt.Client | None = None
        self._connecting = asyncio.Lock()

    def _client(self) -> aiomqtt.Client:
        cfg = self._config
        tls = None
        if cfg.tls:
            tls = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
        return aiomqtt.Client(
            cfg.host,
            cfg.port,
            username=cfg.username or None,
            password=cfg.password.reveal() if cfg.password is not None else None,
            tls_context=tls,
            timeout=cfg.timeout,
            identifier=None,
        )

    async def deliver(self, notes: Sequence[Notification]) -> Outcome:
        (note,) = notes
        cfg = self._config
        event = json.dumps(note.payload | {"links": note.context}, separators=(",", ":"))
        # A page to a person goes to their own topic (their contact's address).
        topic = (note.recipient or {}).get("address") or cfg.topic
        client: aiomqtt.Client | None = None
        try:
            client = await self._session()
            await client.publish(topic, event, qos=1, timeout=cfg.timeout)
            if cfg.state_topic and note.kind != HANDOFF:  # a notice has no incident state
                topic = cfg.state_topic.replace("{id}", str(note.incident_id))
                state = json.dumps(note.payload.get("incident", {}), separators=(",", ":"))
                await client.publish(topic, state, qos=1, retain=True, timeout=cfg.timeout)
        except aiomqtt.MqttError as exc:
            if client is not None:
                await self._drop(client)
            return Outcome(False, error=excerpt(f"MQTT: {exc}"))
        return Outcome(True, response=f"published to {topic}")

    async def _session(self) -> aiomqtt.Client:
        """The shared connection, made on first use or after one failed."""
        async with self._connecting:
            if self._connected is None:
                client = self._client()
                await client.__aenter__()
                self._connected = client
            return self._connected

    async def _drop(self, client: aiomqtt.Client) -> None:
        if self._connected is client:
            self._connected = None
            with contextlib.suppress(Exception):
                await client.__aexit__(None, None, None)
            # A connection the broker dropped while it was idle keeps its error unread: read
            # it, or asyncio logs it as never retrieved (the failed delivery has reported it).
            disconnect_error(client)

    async def aclose(self) -> None:
        if self._connected is not None:
            await self._drop(self._connected)
