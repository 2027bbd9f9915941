"""What parsing a storm of alerts leaves behind once its alerts are gone (issue 19)."""

from __future__ import annotations

import json
import sys

from watchd.ingest.payloads import parse_alertmanager


def test_parsed_label_values_are_not_kept_by_the_parser() -> None:
    """A label value posted once is freed with its alert: a parser cache keeping values from
    every request pinned the memory of a whole storm after its alerts resolved."""
    body = json.dumps(
        [
            {"labels": {"alertname": "Down", "instance": f"host{i}.example.net:9100"}}
            for i in range(100)
        ]
    ).encode()
    alerts = parse_alertmanager(body, now=1_800_000_000.0, resolve_timeout=300).alerts
    value = alerts[42].labels["instance"]
    assert value == "host42.example.net:9100"
    del alerts
    assert sys.getrefcount(value) == 2  # `value` and getrefcount's own argument
