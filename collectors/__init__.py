"""The collector registry: one line per collector kind, nothing discovered at import time.

A collector is a class with `kind`, a pydantic `Config` model (its own keys, extra keys
forbidden) and `async def collect(ctx) -> CheckResult` (see watchd.model.Collector).
"""

from __future__ import annotations

from collectors import http, local, nagios, ping, snmp, tcp
from watchd.model import CollectorClass

REGISTRY: dict[str, CollectorClass] = {
    http.HttpCollector.kind: http.HttpCollector,
    local.LocalCollector.kind: local.LocalCollector,
    nagios.NagiosCollector.kind: nagios.NagiosCollector,
    ping.PingCollector.kind: ping.PingCollector,
    snmp.SnmpCollector.kind: snmp.SnmpCollector,
    tcp.TcpCollector.kind: tcp.TcpCollector,
}
