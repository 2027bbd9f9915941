"""Listening addresses as config holds them: "HOST:PORT" (IPv6 hosts in brackets)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def _host_port(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT such as 127.0.0.1:9797 or [::1]:162, got {value!r}")
    return value


ListenAddress = Annotated[str, AfterValidator(_host_port)]


def listen_host(value: str) -> str:
    """The host part of a validated HOST:PORT, without IPv6 brackets."""
    return value.rpartition(":")[0].strip("[]")


def listen_port(value: str) -> int:
    """The port of a validated HOST:PORT."""
    return int(value.rpartition(":")[2])
