"""The Host allow-list and trusted-proxy rules of watchd.api.origin, without a server."""

from __future__ import annotations

from unittest import mock

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from watchd.api.origin import WebPolicy, machine_names

POLICY = WebPolicy.build(["watchd.example.com", "*.ops.example.com"], ["10.0.0.0/8"])


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:9797",
        "[::1]:9797",
        "[::1]",
        "192.0.2.7",  # any IP literal: a page served from an IP cannot be rebound
        "localhost",
        "LOCALHOST:80",
        "web.localhost:9797",
        "watchd.example.com.",
        "WATCHD.EXAMPLE.COM:443",
        "a.ops.example.com",
        *machine_names(),
    ],
)
def test_local_names_ips_and_configured_names_are_allowed(host: str) -> None:
    """IP addresses, localhost names, this machine's names and allowed_hosts pass."""
    assert POLICY.allows(host)


@pytest.mark.parametrize(
    "host",
    ["evil.example", "ops.example.com", "watchd.example.com.evil.example", "localhost.evil", ""],
)
def test_other_names_are_refused(host: str) -> None:
    """A name that is not this server's (a rebound DNS name) is refused; *.x matches below x only."""
    assert not POLICY.allows(host)


def test_a_star_allows_any_name() -> None:
    """allowed_hosts = ["*"] turns the check off."""
    assert WebPolicy.build(["*"]).allows("anything.example")


def _request_from(peer: str, headers: dict[str, str]) -> web.Request:
    transport = mock.Mock()
    transport.get_extra_info.return_value = (peer, 40000)
    return make_mocked_request("GET", "/", headers=headers, transport=transport)


def test_forwarded_headers_count_from_trusted_proxies_only() -> None:
    """X-Forwarded-Proto/-Host are believed from a trusted proxy (its own last value), else ignored."""
    headers = {
        "Host": "127.0.0.1:9797",
        "X-Forwarded-Proto": "http, https",
        "X-Forwarded-Host": "spoofed.example, watchd.example.com",
    }
    trusted = _request_from("10.1.2.3", headers)
    assert POLICY.secure(trusted) and POLICY.host(trusted) == "watchd.example.com"
    stranger = _request_from("192.0.2.9", headers)
    assert not POLICY.secure(stranger) and POLICY.host(stranger) == "127.0.0.1:9797"
