"""The collector registry: one line per collector kind, nothing discovered at import time.

A collector is a class with `kind`, a pydantic `Config` model (its own keys, extra keys
forbidden), `async def collect(ctx) -> CheckResult` (see watchd.model.Collector) and the
classmethod `metric_names(config)` declaring the metric names it emits (collectors.contract).
"""

from __future__ import annotations

from collectors import dns, heartbeat, http, local, nagios, ping, snmp, tcp
from collectors.contract import CollectorKind

REGISTRY: dict[str, CollectorKind] = {
    dns.DnsCollector.kind: dns.DnsCollector,
    heartbeat.HeartbeatCollector.kind: heartbeat.HeartbeatCollector,
    http.HttpCollector.kind: http.HttpCollector,
    local.LocalCollector.kind: local.LocalCollector,
    nagios.NagiosCollector.kind: nagios.NagiosCollector,
    ping.PingCollector.kind: ping.PingCollector,
    snmp.SnmpCollector.kind: snmp.SnmpCollector,
    tcp.TcpCollector.kind: tcp.TcpCollector,
}
