"""Issue 19, finding 3: `[api] allowed_hosts` and `trusted_proxies`, the warning for an API open
to the network without tokens, and the running daemon applying both web checks."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_daemon import (
    RunningDaemon,
    free_port,
    shipped_config_for,
    start_daemon,
)
from watchd.config import parse_config
from watchd.configbase import ConfigError
from watchd.loading import build_setup

OPEN = "is reachable from other machines and no [[api.tokens]] are configured"


def _warnings(tmp_path: Path, api: dict[str, Any]) -> list[str]:
    path = tmp_path / "config.toml"
    return build_setup(parse_config({"api": api}, path), path).warnings


@pytest.mark.parametrize("listen", ["0.0.0.0:9797", "[::]:9797", "192.0.2.10:9797"])
def test_an_api_open_to_the_network_without_tokens_is_warned_about(
    tmp_path: Path, listen: str
) -> None:
    """check-config and every start warn when the tokenless API listens beyond loopback."""
    (warning,) = [w for w in _warnings(tmp_path, {"listen": listen}) if OPEN in w]
    assert warning.startswith(f"api.listen: {listen} ")


@pytest.mark.parametrize("listen", ["127.0.0.1:9797", "[::1]:9797", "localhost:9797"])
def test_a_loopback_api_is_not_warned_about(tmp_path: Path, listen: str) -> None:
    """The shipped loopback listener gives no warning."""
    assert [w for w in _warnings(tmp_path, {"listen": listen}) if OPEN in w] == []


def test_allowed_hosts_and_trusted_proxies_are_checked_at_load(tmp_path: Path) -> None:
    """A URL in allowed_hosts or a bad proxy network is a config problem naming its key path."""
    path = tmp_path / "config.toml"
    good = {"allowed_hosts": ["watchd.example.com", "*.ops.example.com", "*", "::1"]}
    config = parse_config({"api": {**good, "trusted_proxies": ["10.0.0.0/8", "::1"]}}, path)
    assert [str(n) for n in config.api.trusted_proxies] == ["10.0.0.0/8", "::1/128"]
    with pytest.raises(ConfigError) as bad:
        parse_config({"api": {"allowed_hosts": ["https://watchd.example.com:443"]}}, path)
    assert "api.allowed_hosts[0]" in str(bad.value) and "without scheme, port" in str(bad.value)
    with pytest.raises(ConfigError) as bad:
        parse_config({"api": {"trusted_proxies": ["proxy.example.com"]}}, path)
    assert "api.trusted_proxies[0]" in str(bad.value)


@pytest.fixture
def open_daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    """The daemon on the shipped config, listening on 0.0.0.0 with one extra allowed host."""
    port = free_port()
    config = shipped_config_for(tmp_path, port)
    text = config.read_text().replace(f'"127.0.0.1:{port}"', f'"0.0.0.0:{port}"')
    config.write_text(text.replace("[api]\n", '[api]\nallowed_hosts = ["watchd.example.test"]\n'))
    running = start_daemon(tmp_path, config, port)
    yield running
    running.discard()


def _request(
    daemon: RunningDaemon, path: str, headers: dict[str, str], data: bytes | None = None
) -> int:
    request = urllib.request.Request(daemon.url(path), data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.integration
def test_the_daemon_warns_refuses_foreign_hosts_and_cross_site_writes(
    open_daemon: RunningDaemon,
) -> None:
    """The real daemon on 0.0.0.0 without tokens warns at start, answers 421 to a rebound name and 403 to a cross-site silence."""
    open_daemon.wait_for_log("started")  # after every config_warning
    warned = [
        str(e["warning"]) for e in open_daemon.log_lines() if e.get("event") == "config_warning"
    ]
    assert any(OPEN in w for w in warned), warned
    assert _request(open_daemon, "/api/v1/incidents", {"Host": "rebound.example:80"}) == 421
    assert _request(open_daemon, "/api/v1/incidents", {"Host": "watchd.example.test"}) == 200
    refused = open_daemon.wait_for_log("api_host_refused")
    assert refused["host"] == "rebound.example"
    silence = b'{"matchers": ["alertname=~\\".+\\""], "duration": "30d"}'
    cross = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    assert _request(open_daemon, "/api/v1/silences", cross, silence) == 403
    assert _request(open_daemon, "/api/v1/silences", {}, silence) == 201  # curl-like: no Origin
    other = {"Origin": "http://other.example", "Content-Type": "application/x-www-form-urlencoded"}
    assert _request(open_daemon, "/ack/secret-ack-link-token", other, b"name=x") == 403
    logged = open_daemon.wait_for_log("api_cross_origin_refused", after=0)
    assert logged["route"] == "/api/v1/silences"
    ack = [e for e in open_daemon.log_lines() if e.get("origin") == "http://other.example"]
    assert ack and ack[0]["route"] == "/ack/{token}"
    assert "secret-ack-link-token" not in open_daemon.log.read_text()
