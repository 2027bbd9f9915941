"""Alertmanager alert lists parsed by watchd.ingest.payloads, without a server."""

from __future__ import annotations

import json

from watchd.ingest.payloads import parse_alertmanager

NOW = 1_800_000_000.0


def _batch(size: int) -> list[dict[str, object]]:
    return [{"labels": {"alertname": "Down", "instance": f"web{i}"}} for i in range(size)]


def test_a_nul_in_a_large_batch_is_refused_naming_its_alert_and_field() -> None:
    """A NUL (sent as the escape \\u0000) in one alert of 100 refuses that alert alone."""
    batch = _batch(100)
    batch[57]["annotations"] = {"summary": "disk\u0000full"}
    parsed = parse_alertmanager(json.dumps(batch).encode(), now=NOW, resolve_timeout=300)
    assert parsed.problems == (
        "alert 57: annotations.summary: must not contain the NUL character (\\u0000)",
    )
    assert len(parsed.alerts) == 99


def test_the_text_backslash_u0000_is_kept_as_sent() -> None:
    """A value holding the six characters \\u0000 (an escaped backslash, no NUL) is accepted
    as it is, like any other text."""
    batch = _batch(3)
    batch[1]["labels"] = {"alertname": "Odd", "path": "C:\\u0000"}
    parsed = parse_alertmanager(json.dumps(batch).encode(), now=NOW, resolve_timeout=300)
    assert not parsed.problems
    assert parsed.alerts[1].labels["path"] == "C:\\u0000"
