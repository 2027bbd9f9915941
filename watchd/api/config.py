"""The `[api]` table of config.toml: where the HTTP API listens, the bearer tokens it takes and
what browsers may reach it as (watchd.api.origin)."""

from __future__ import annotations

import ipaddress
import re
import socket
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, IPvAnyNetwork

from watchd.configbase import Strict
from watchd.durations import Duration
from watchd.listen import ListenAddress, listen_host, listen_port
from watchd.secrets import SecretRef

Scope = Literal["read", "write", "ingest"]
_NAME = re.compile(r"(\*\.)?[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?\.?", re.IGNORECASE)
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback"})


def _host_pattern(value: str) -> str:
    if value == "*" or _NAME.fullmatch(value):
        return value
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        raise ValueError(
            "expected a host name such as watchd.example.com, *.example.com or *, without "
            "scheme, port or path"
        ) from None
    return value


HostPattern = Annotated[str, AfterValidator(_host_pattern)]


class TokenConfig(Strict):
    name: str
    scopes: list[Scope] = Field(min_length=1)
    file: Path | None = None
    env: str | None = None

    def secret(self) -> SecretRef:
        return SecretRef(file=self.file, env=self.env)


class ApiConfig(Strict):
    enabled: bool = True
    listen: ListenAddress = "127.0.0.1:9797"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Connections held at once (never more than half the process's descriptor limit: the rest
    # is for the store, checks, receivers); at the limit a new one replaces the oldest idle one.
    max_connections: int = Field(default=1000, ge=1)
    # A client must send a request's headers within header_timeout of connecting or of its
    # previous answer (an idle keep-alive connection is closed then too), and its body within
    # body_timeout of its headers (else 408): slow clients cannot hold connections.
    header_timeout: Annotated[Duration, Field(gt=0)] = 15.0
    body_timeout: Annotated[Duration, Field(gt=0)] = 30.0
    tokens: list[TokenConfig] = []
    # The key that signs password sign-in sessions (`{file = ...}` or `{env = ...}`, read at
    # start). Without it each start makes a random one: a restart signs everyone out, and
    # behind a load balancer a session works only on the node that made it. Nodes of one
    # cluster share it.
    session_key: SecretRef | None = None
    # Host names browsers may reach the API as, besides IP addresses, localhost, this
    # machine's names and the listen address (DNS rebinding protection).
    allowed_hosts: list[HostPattern] = []
    # Reverse proxies whose X-Forwarded-Proto and X-Forwarded-Host are believed.
    trusted_proxies: list[IPvAnyNetwork] = []

    @property
    def host(self) -> str:
        return listen_host(self.listen)

    @property
    def port(self) -> int:
        return listen_port(self.listen)

    @property
    def dashboard_url(self) -> str:
        """The dashboard's address as the startup line shows it: the listen address, with a
        wildcard host (0.0.0.0, ::) replaced by this machine's name, since a browser cannot
        open a wildcard address."""
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = socket.gethostname()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/"

    @property
    def open_without_tokens(self) -> bool:
        """Whether the API answers everyone: enabled and no [[api.tokens]]."""
        return self.enabled and not self.tokens

    @property
    def loopback_only(self) -> bool:
        """Whether `listen` is a loopback address or name (reachable from this machine only)."""
        host = self.host.lower()
        if host in LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
