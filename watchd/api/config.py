"""The `[api]` table of config.toml: where the HTTP API listens and the bearer tokens it takes."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from watchd.configbase import Strict
from watchd.listen import ListenAddress, listen_host, listen_port
from watchd.secrets import SecretRef

Scope = Literal["read", "write", "ingest"]


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
    tokens: list[TokenConfig] = []

    @property
    def host(self) -> str:
        return listen_host(self.listen)

    @property
    def port(self) -> int:
        return listen_port(self.listen)
