"""MQTT ingestion: alerts and events from broker topics, acknowledged only once stored.

    broker ──► (QoS 1, persistent session) ──► decode (AM v2 list | AM alert | event)
           ◄── PUBACK ◄── sink.submit committed ◄──┘

aiomqtt 2.x acknowledges every message as soon as it is read from the socket, which would
tell the broker a message is safe before it is stored. So the underlying paho client is put
in manual-acknowledgement mode and each PUBACK is sent only after `sink.submit` returned.
A message whose PUBACK never left (crash, broker gone) is delivered again by the broker
when the session resumes: delivery is at least once, and a repeat only updates the alert
with the same fingerprint.

A payload that is not JSON or not in a known shape is logged (at most one line a minute),
counted, and acknowledged: it can never become valid, and holding it would block the
session. In a list, each alert is judged alone: the valid ones are stored, the bad ones
named in that log line. A store that cannot commit is retried with backoff while the messages stay
unacknowledged, so nothing received is lost.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from watchd.clock import Clock
from watchd.durations import format_duration
from watchd.failures import FailureLog
from watchd.ingest.config import MqttIngestConfig
from watchd.ingest.payloads import PayloadError, json_body, split_any
from watchd.logging import get_logger
from watchd.model import Alert, AlertSink
from watchd.mqtt_internals import disconnect_error, paho_client
from watchd.pipeline.isolate import submit_isolating
from watchd.secrets import SecretError
from watchd.store import StoreError

log = get_logger("watchd.ingest.mqtt")

MAX_BATCH = 100  # messages submitted (and committed) together when they arrive together
BAD_PAYLOAD_LOG_INTERVAL = 60.0
SUBSCRIBE_REFUSED = 0x80


class MqttIngest:
    """Receives alerts from the configured MQTT topics until cancelled.

    `resolve_timeout` is how long an Alertmanager alert without endsAt stays firing unless
    it is sent again (the same as the HTTP endpoint's).

    Counters for metrics and tests: `messages` handled, `alerts` stored, `rejected` payloads.
    """

    def __init__(
        self,
        config: MqttIngestConfig,
        *,
        sink: AlertSink,
        clock: Clock,
        resolve_timeout: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._resolve_timeout = resolve_timeout
        self._sink = sink
        self._clock = clock
        self._rng = rng or random.Random()
        self._bad = _RateLimited(clock, BAD_PAYLOAD_LOG_INTERVAL)
        self.messages = 0
        self.alerts = 0
        self.rejected = 0
        self.connected = asyncio.Event()

    @property
    def broker(self) -> str:
        return f"{self._config.host}:{self._config.port}"

    async def run(self) -> None:
        """Connect, subscribe and store what arrives; reconnect with jittered backoff."""
        backoff = _Backoff(self._config.max_backoff, self._rng)
        lost_at: float | None = None
        while True:
            try:
                async with self._session() as client:
                    await self._subscribe(client)
                    self.connected.set()
                    if lost_at is None:
                        log.info("mqtt_connected", broker=self.broker, topics=self._topics())
                    else:
                        outage = format_duration(self._clock.monotonic() - lost_at)
                        log.info("mqtt_broker_back", broker=self.broker, outage=outage)
                        lost_at = None
                    backoff.reset()
                    await self._consume(client)
            except (aiomqtt.MqttError, SecretError, ssl.SSLError) as exc:
                self.connected.clear()
                if lost_at is None:
                    lost_at = self._clock.monotonic()
                    log.warning(
                        "mqtt_broker_unreachable",
                        broker=self.broker,
                        error=str(exc),
                        note="reconnecting with backoff; unacknowledged messages are redelivered",
                    )
            await self._clock.sleep(backoff.next())

    def _topics(self) -> list[str]:
        return self._config.subscriptions()

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[aiomqtt.Client]:
        cfg = self._config
        v5 = cfg.protocol == "5"
        properties = None
        if v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = int(cfg.session_expiry)
        client = aiomqtt.Client(
            cfg.host,
            cfg.port,
            identifier=cfg.client_id,
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            clean_session=None if v5 else False,
            # MQTT 5 resumes the session on every connect; 3.1.1 uses clean_session instead.
            clean_start=False if v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
            keepalive=cfg.keepalive,
            username=cfg.username,
            password=cfg.password.reveal() if cfg.password is not None else None,
            tls_context=self._tls_context(),
        )
        # aiomqtt has no manual acknowledgement; its paho client does (see the module doc).
        paho_client(client).manual_ack_set(True)
        async with client:
            try:
                yield client
            finally:
                # Gone while no message was awaited (a batch being stored, a subscription),
                # the connection keeps its error unread: read it, or asyncio logs it as never
                # retrieved; what ended the session is the error raised here.
                disconnect_error(client)

    def _tls_context(self) -> ssl.SSLContext | None:
        cfg = self._config
        if not cfg.tls:
            return None
        context = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
        if cfg.cert_file is not None and cfg.key_file is not None:
            context.load_cert_chain(cfg.cert_file, cfg.key_file)
        return context

    async def _subscribe(self, client: aiomqtt.Client) -> None:
        for topic in self._topics():
            granted = await client.subscribe(topic, qos=1)
            codes = [code.value if isinstance(code, ReasonCode) else code for code in granted]
            if any(code >= SUBSCRIBE_REFUSED for code in codes):
                raise aiomqtt.MqttError(f"The broker refused the subscription to {topic!r}.")

    async def _consume(self, client: aiomqtt.Client) -> None:
        messages = client.messages
        async for first in messages:
            batch = [first]
            while len(messages) and len(batch) < MAX_BATCH:
                batch.append(await anext(messages))
            await self._handle(client, batch)

    async def _handle(self, client: aiomqtt.Client, batch: list[aiomqtt.Message]) -> None:
        alerts: list[Alert] = []
        for message in batch:
            alerts.extend(self._decode(message))
        await self._store(tuple(alerts))
        for message in batch:
            if message.qos > 0:
                paho_client(client).ack(message.mid, message.qos)
        self.messages += len(batch)

    def _decode(self, message: aiomqtt.Message) -> tuple[Alert, ...]:
        """The message's valid alerts; the bad ones (or a bad message) are counted and logged."""
        try:
            payload = message.payload
            data = json_body(payload if isinstance(payload, bytes | str) else b"")
            parsed = split_any(data, now=self._clock.now(), resolve_timeout=self._resolve_timeout)
        except PayloadError as exc:
            self._reject(message, str(exc))
            return ()
        if parsed.problems:
            self._reject(message, parsed.message())
        return parsed.alerts

    def _reject(self, message: aiomqtt.Message, problem: str) -> None:
        self.rejected += 1
        suppressed = self._bad.allow()
        if suppressed is not None:
            log.warning(
                "mqtt_payload_rejected",
                topic=str(message.topic),
                problem=problem,
                suppressed_since_last=suppressed,
                note="acknowledged and dropped; at most one such line a minute",
            )

    async def _store(self, alerts: tuple[Alert, ...]) -> None:
        """Submit until the sink has committed; messages stay unacknowledged meanwhile."""
        if not alerts:
            return
        backoff = _Backoff(self._config.max_backoff, self._rng)
        failures = FailureLog(
            log, failing="mqtt_store_refused", recovered="mqtt_store_accepting_again"
        )
        while True:
            try:
                refused = await submit_isolating(self._sink, alerts)
            except StoreError as exc:  # an outage: submit_isolating raises nothing else
                failures.failed(
                    reason=exc.reason,
                    alerts=len(alerts),
                    note="retrying; the messages are not acknowledged until stored",
                )
                await self._clock.sleep(backoff.next())
                continue
            failures.recovered()
            for r in refused:
                # It fails alone (the store refused it, or the pipeline failed on it): retrying
                # would block the session on it forever, so it is dropped, counted and logged.
                self.rejected += 1
                suppressed = self._bad.allow()
                if suppressed is not None:
                    log.error(
                        "mqtt_alert_dropped",
                        alertname=alerts[r.position].name,
                        reason=r.reason,
                        suppressed_since_last=suppressed,
                        note="acknowledged and dropped; at most one such line a minute",
                    )
            self.alerts += len(alerts) - len(refused)
            return


class _Backoff:
    """Exponential backoff from 0.5 s to `cap`, each delay jittered to 50–100 % of itself."""

    def __init__(self, cap: float, rng: random.Random) -> None:
        self._cap = float(cap)
        self._rng = rng
        self._attempt = 0

    def next(self) -> float:
        delay: float = min(self._cap, 0.5 * 2.0**self._attempt)
        self._attempt = min(self._attempt + 1, 30)
        return delay * self._rng.uniform(0.5, 1.0)

    def reset(self) -> None:
        self._attempt = 0


class _RateLimited:
    """Lets one event through per `interval`; says how many were held back since the last."""

    def __init__(self, clock: Clock, interval: float) -> None:
        self._clock = clock
        self._interval = interval
        self._last: float | None = None
        self._held = 0

    def allow(self) -> int | None:
        now = self._clock.monotonic()
        if self._last is not None and now - self._last < self._interval:
            self._held += 1
            return None
        held, self._held, self._last = self._held, 0, now
        return held
