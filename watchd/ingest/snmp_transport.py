"""pysnmp's asyncio UDP transport, with each datagram handed to the trap receiver first.

The trap receiver must know, per datagram, whether pysnmp turned it into a trap, and count
the ones it did not (garbled or rejected). pysnmp has no public hook for that, so this is
the one module that reaches into pysnmp's internals:

- the transport's `_callback_function` (set by the dispatcher it is registered with) is
  how a received datagram enters pysnmp's message processing; `HookedTransport.process`
  calls it synchronously, where pysnmp's own `datagram_received` would have;
- the transport's `_lport` is the future of its socket being bound;
- the engine keeps its own counters (snmpInASNParseErrs, snmpInBadVersions) in the
  internal `__SNMPv2-MIB` module.

Checked against pysnmp 7.1.6 (the first release with these snake_case names) to 7.1.30;
pyproject keeps pysnmp within 7.1.x since its internals have been renamed between minor
releases before. tests/ingest's trap receiver tests exercise every line here.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from pysnmp.carrier.asyncio.dgram import udp, udp6
from pysnmp.entity import config as snmp_config

_PARSE_ERROR_COUNTERS = (
    ("__SNMPv2-MIB", "snmpInASNParseErrs"),
    ("__SNMPv2-MIB", "snmpInBadVersions"),
)


class DatagramHandler(Protocol):
    """Who receives each datagram before pysnmp does (the trap receiver)."""

    def handle_datagram(self, transport: HookedTransport, address: Any, datagram: bytes) -> None:
        """Called synchronously for each datagram; may call `transport.process`."""


class HookedTransport:
    """Mixin for pysnmp's asyncio UDP transports: datagrams go to a handler synchronously."""

    transport: asyncio.DatagramTransport | None
    _lport: Any
    _callback_function: Any
    ADDRESS_TYPE: Any

    def __init__(self, handler: DatagramHandler) -> None:
        super().__init__()
        self._handler = handler

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:
        self._handler.handle_datagram(self, self.ADDRESS_TYPE(transportAddress), datagram)

    def process(self, address: Any, datagram: bytes) -> None:
        """Let pysnmp process `datagram` as it would have (it may raise on junk)."""
        self._callback_function(self, address, datagram)

    def open_server_mode(self, iface: tuple[str, int]) -> Any:
        return super().open_server_mode(iface)  # type: ignore[misc]

    async def bound(self) -> None:
        """Return once the socket is bound; raise OSError (address in use, permission denied)."""
        await self._lport

    def local_address(self) -> tuple[str, int]:
        """The address and port the socket is bound to."""
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)


class _Transport4(HookedTransport, udp.UdpAsyncioTransport):  # type: ignore[misc]
    pass


class _Transport6(HookedTransport, udp6.Udp6AsyncioTransport):  # type: ignore[misc]
    pass


def listen(engine: Any, handler: DatagramHandler, host: str, port: int) -> HookedTransport:
    """Open a UDP server socket on `host`:`port` for `engine`, its datagrams going to `handler`."""
    six = ":" in host
    transport = (_Transport6 if six else _Transport4)(handler)
    transport.open_server_mode((host, port))
    snmp_config.add_transport(engine, udp6.DOMAIN_NAME if six else udp.DOMAIN_NAME, transport)
    return transport


def parse_error_count(engine: Any) -> int:
    """How many messages `engine` could not parse or had an unknown SNMP version, so far."""
    builder = engine.get_mib_builder()
    return sum(int(builder.import_symbols(m, s)[0].syntax) for m, s in _PARSE_ERROR_COUNTERS)
