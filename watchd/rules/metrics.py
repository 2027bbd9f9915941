"""Metric names the shipped collectors and the scheduler emit; others draw a warning."""

from __future__ import annotations

KNOWN_METRICS: frozenset[str] = frozenset(
    {
        # scheduler, for every check run
        "check_status",
        "check_up",
        # local
        "cpu_usage_percent",
        "memory_used_percent",
        "memory_available_bytes",
        "memory_total_bytes",
        "swap_used_percent",
        "load1",
        "load5",
        "load15",
        "load1_per_core",
        "load5_per_core",
        "load15_per_core",
        "cpu_count",
        "disk_used_percent",
        "disk_used_bytes",
        "disk_free_bytes",
        "disk_total_bytes",
        "inode_used_percent",
        "process_count",
        # http, tcp
        "http_response_seconds",
        "http_status_code",
        "http_content_bytes",
        "tls_cert_expiry_days",
        "tcp_connect_seconds",
        # snmp
        "if_oper_status",
        "if_admin_status",
        "if_hc_in_octets_total",
        "if_hc_out_octets_total",
        "if_in_octets_total",
        "if_out_octets_total",
        "if_in_errors_total",
        "if_out_errors_total",
        "if_in_discards_total",
        "if_out_discards_total",
        "if_high_speed_mbps",
        "if_speed_bps",
        "sys_uptime_seconds",
    }
)
