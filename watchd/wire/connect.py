"""What both HTTP/1.1 clients need below the exchange: address lookups kept a few seconds, a
connection to the first address that takes it (TLS verified there), the request's head, and
the one error type whose message is the reason a person reads."""

from __future__ import annotations

import asyncio
import ipaddress
import math
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterable

_DNS_TTL = 10.0  # seconds a lookup is reused, as aiohttp's connector does by default
MAX_HEAD = 65_536  # bytes before an answer's head ends: a server streaming headers is broken


class WireError(Exception):
    """A request that gave no usable answer; the message is the reason, a full clause."""


class Resolver:
    """Address lookups, each kept `_DNS_TTL` seconds; IP literals need none."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], tuple[float, list[str]]] = {}

    async def addresses(self, host: str, port: int) -> list[str]:
        now = time.monotonic()
        cached = self._cache.get((host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            self._cache[(host, port)] = (math.inf, [host])  # parsing it per run showed in profiles
            return [host]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG
            )
        except socket.gaierror as exc:
            raise WireError(f"DNS lookup of {host} failed: {exc.strerror or exc}") from exc
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not found:
            raise WireError(f"DNS lookup of {host} failed: no address")
        self._cache[(host, port)] = (now + _DNS_TTL, found)
        return found


async def connect(
    protocol: Callable[[], asyncio.Protocol],
    host: str,
    port: int,
    tls: ssl.SSLContext | None,
    resolver: Resolver,
) -> asyncio.Transport:
    """A connection to the first of the host's addresses that takes it, TLS done (verified
    as `tls` says); the protocol `protocol()` makes is its own."""
    loop = asyncio.get_running_loop()
    failure: OSError | None = None
    for address in await resolver.addresses(host, port):
        try:
            transport, _ = await loop.create_connection(
                protocol,
                address,
                port,
                ssl=tls,
                server_hostname=host if tls is not None else None,
            )
        except ssl.SSLCertVerificationError as exc:
            reason = exc.verify_message or exc.reason or str(exc)
            raise WireError(f"TLS certificate verify failed: {reason}") from exc
        except ssl.SSLError as exc:
            raise WireError(f"TLS handshake failed: {exc.reason or exc}") from exc
        except OSError as exc:
            failure = exc
            continue
        return transport
    reason = os.strerror(failure.errno) if failure and failure.errno else str(failure)
    raise WireError(f"cannot connect to {host}:{port}: {reason}")


def request_head(method: str, target: str, fields: Iterable[tuple[str, str]]) -> bytes:
    """The head of a request (`fields` as sent, in order), refusing a line break in a header:
    it would start a header, or a request, of the value's choosing."""
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in fields:
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise WireError(f"the header {name} holds a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def charset(content_type: str | None) -> str:
    """The charset a Content-Type names, if Python knows it; else utf-8."""
    found = "utf-8"
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            found = value.strip().strip('"') or "utf-8"
    try:
        "".encode(found)
    except LookupError:
        return "utf-8"
    return found
