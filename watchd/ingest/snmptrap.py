"""SNMP trap receiver: v1, v2c and v3 traps (and informs) on UDP, turned into alerts.

pysnmp's NotificationReceiver does the protocol work (community and USM checks, v1 to v2
translation, inform responses). Each datagram is handed to pysnmp synchronously, so the
receiver knows right away whether it produced a trap; one that did not is counted as
garbled (not SNMP at all) or rejected (unknown community, bad v3 credentials), and logged
once per source and reason every ten minutes, never once per packet.

Traps go through a bounded queue to one task that submits their alerts in arrival order,
so a linkUp is never submitted before the linkDown it resolves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pysnmp.entity import config as snmp_config
from pysnmp.entity import engine as snmp_engine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto import error as snmp_error
from pysnmp.proto.api import verdec
from pysnmp.proto.rfc1902 import OctetString

from watchd.clock import Clock, SystemClock
from watchd.ingest.snmp_transport import HookedTransport, listen, parse_error_count
from watchd.ingest.snmptrap_rules import SnmpTrapConfig, Trap, TrapMapper, TrapUser
from watchd.model import AlertSink
from watchd.secrets import SecretRef
from watchd.snmp_usm import AUTH_PROTOCOLS, PRIV_PROTOCOLS

log = logging.getLogger("watchd.ingest.snmptrap")

SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
SNMP_TRAP_ENTERPRISE = "1.3.6.1.6.3.1.1.4.3.0"
SNMP_TRAP_COMMUNITY = "1.3.6.1.6.3.18.1.4.0"  # the v1 community: a secret, never kept
LOG_EVERY = 600.0
QUEUE_SIZE = 10_000

_VERSIONS = {0: "1", 1: "2c", 3: "3"}


@dataclass
class TrapStats:
    """Counters of what the receiver saw since it started."""

    traps: int = 0
    garbled: int = 0
    rejected: int = 0
    dropped: int = 0  # the queue to the alert pipeline was full


class SnmpTrapReceiver:
    """Receives traps on `config.listen` and submits one alert per trap to `sink`.

    `items_by_address` maps a sender's IP address to its configuration item name, so trap
    alerts carry the `item` label the rest of the pipeline groups by.
    """

    def __init__(
        self,
        config: SnmpTrapConfig,
        sink: AlertSink,
        *,
        items_by_address: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.stats = TrapStats()
        self.address: tuple[str, int] | None = None  # where it listens, once bound
        self._sink = sink
        self._clock = clock or SystemClock()
        self._mapper = TrapMapper(config, items_by_address or {})
        self._queue: asyncio.Queue[Trap] = asyncio.Queue(QUEUE_SIZE)
        self._logged: dict[tuple[str, str], float] = {}
        self._current: tuple[str, str] | None = None  # (source, version) of the datagram
        self._produced = False
        self._engine: Any = None
        self._ready = asyncio.Event()

    async def wait_ready(self) -> None:
        """Return once the socket is bound (tests and the app's readiness use this)."""
        await self._ready.wait()

    async def run(self) -> None:
        """Receive until cancelled; an unusable listen address raises OSError at once."""
        engine = snmp_engine.SnmpEngine()
        self._engine = engine
        transport = listen(engine, self, self.config.host, self.config.port)
        for index, community in enumerate(self.config.communities):
            secret = community.reveal() if isinstance(community, SecretRef) else community
            snmp_config.add_v1_system(engine, f"watchd-trap-{index}", secret)
        for user in self.config.users:
            _add_user(engine, user)
        receiver = ntfrcv.NotificationReceiver(engine, self._on_notification)
        try:
            await transport.bound()
            self.address = transport.local_address()
            self._ready.set()
            log.info("SNMP trap receiver listening on %s:%s", *self.address)
            while True:
                trap = await self._queue.get()
                await self._submit(trap)
        finally:
            receiver.close(engine)
            engine.close_dispatcher()

    async def _submit(self, trap: Trap) -> None:
        try:
            alerts = self._mapper.alerts(trap)
        except Exception:  # a bug in one rule must not stop the receiver
            log.exception("SNMP trap %s from %s could not be mapped", trap.trap_oid, trap.source)
            return
        await self._sink.submit(alerts)

    # pysnmp calls these synchronously while it processes one datagram.

    def handle_datagram(self, transport: HookedTransport, address: Any, datagram: bytes) -> None:
        source = str(address[0])
        try:
            version = _VERSIONS.get(int(verdec.decode_message_version(datagram)), "?")
        except Exception:
            self._garbled(source, "not an SNMP message")
            return
        before = self._garbled_count()
        self._current, self._produced = (source, version), False
        try:
            transport.process(address, datagram)
        except Exception as exc:  # pysnmp raising on junk must not take the receiver down
            self._garbled(source, f"undecodable SNMP message ({exc.__class__.__name__})")
            return
        finally:
            self._current = None
        if self._produced:
            return
        if self._garbled_count() > before:
            self._garbled(source, "undecodable SNMP message")
        else:
            self.stats.rejected += 1
            self._log_once(
                source,
                "rejected",
                f"SNMP message from {source} (v{version}) was not accepted as a trap: "
                "unknown community, unknown v3 user or engine ID, bad keys, or not a trap",
            )

    def _on_notification(
        self,
        engine: Any,
        state_reference: Any,
        context_engine_id: Any,
        context_name: Any,
        varbinds: Any,
        cb_ctx: Any,
    ) -> None:
        self._produced = True
        source, version = self._current or ("?", "?")
        trap_oid, enterprise = "", ""
        kept: list[tuple[str, str]] = []
        for name, value in varbinds:
            oid = str(name)
            if oid == SNMP_TRAP_OID:
                trap_oid = str(value)
            elif oid == SNMP_TRAP_COMMUNITY:
                continue
            elif oid == SNMP_TRAP_ENTERPRISE:
                enterprise = str(value)
            else:
                kept.append((oid, _text(value)))
        trap = Trap(
            source=source,
            version=version,
            trap_oid=trap_oid,
            varbinds=tuple(kept),
            received_at=self._clock.now(),
            enterprise=enterprise if version == "1" else "",
        )
        self.stats.traps += 1
        try:
            self._queue.put_nowait(trap)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            self._log_once(source, "dropped", "SNMP trap queue is full; traps are being dropped")

    def _garbled(self, source: str, reason: str) -> None:
        self.stats.garbled += 1
        self._log_once(
            source, "garbled", f"garbled packet from {source} on the trap port: {reason}"
        )

    def _garbled_count(self) -> int:
        return parse_error_count(self._engine)

    def _log_once(self, source: str, reason: str, message: str) -> None:
        now = self._clock.monotonic()
        key = (source, reason)
        last = self._logged.get(key)
        if last is not None and now - last < LOG_EVERY:
            return
        if len(self._logged) > 10_000:  # a flood from many sources must not grow this forever
            self._logged.clear()
        self._logged[key] = now
        log.warning("%s (further ones from this source are counted, not logged)", message)


def _add_user(engine: Any, user: TrapUser) -> None:
    auth_key = user.auth_key.reveal() if user.auth_key else None
    priv_key = user.priv_key.reveal() if user.priv_key else None
    kwargs: dict[str, Any] = {}
    if auth_key:
        kwargs.update(authProtocol=AUTH_PROTOCOLS[user.auth_protocol], authKey=auth_key)
    if priv_key:
        kwargs.update(privProtocol=PRIV_PROTOCOLS[user.priv_protocol], privKey=priv_key)
    snmp_config.add_v3_user(engine, user.user, **kwargs)  # informs: our own engine ID
    for engine_id in user.engine_ids:
        snmp_config.add_v3_user(
            engine, user.user, securityEngineId=OctetString(hexValue=engine_id), **kwargs
        )


def _text(value: Any) -> str:
    if isinstance(value, OctetString):
        raw = bytes(value)
        try:
            text = raw.decode("utf-8")
            if text.isprintable():
                return text
        except UnicodeDecodeError:
            pass
        return ":".join(f"{byte:02x}" for byte in raw)
    try:
        return str(value.prettyPrint())
    except (snmp_error.PySnmpError, AttributeError):
        return str(value)
