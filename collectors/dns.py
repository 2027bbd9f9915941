"""DNS check with dnspython: one query, its answers compared with what is expected, its latency.

The answers are compared as text normalised per record type: addresses as addresses (so
`::1` matches `0::1`), names without case or the final dot, TXT as its strings joined. An
NXDOMAIN, a SERVFAIL (or any other error code) and a resolver that does not answer in time
are each CRITICAL with a message saying which, and which server said it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from typing import ClassVar, Literal

import dns.asyncresolver
import dns.exception
import dns.message
import dns.rcode
import dns.rdata
import dns.resolver
import dns.reversename
from pydantic import Field, field_validator

from collectors.contract import FixedMetrics, MetricNames
from watchd.configbase import Strict
from watchd.model import CheckContext, CheckResult, Sample, Status

RecordType = Literal["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "PTR", "SOA"]

# The share of the check's `timeout` dnspython may spend: it gives up first, so the message
# says which server did not answer instead of the scheduler's bare "timed out".
LIFETIME_SHARE = 0.9


class DnsConfig(Strict):
    query: str = ""  # empty: the item's address (for PTR, an address is turned into its name)
    record_type: RecordType = "A"
    # any: at least one expected answer is among the answers; all: every one of them is.
    # Answers beyond the expected ones are allowed either way.
    expected: list[str] = []
    match: Literal["any", "all"] = "any"
    resolver: str = ""  # address[:port]; empty: the system's (/etc/resolv.conf)
    warn_latency: float | None = Field(default=None, gt=0)  # seconds
    crit_latency: float | None = Field(default=None, gt=0)

    @field_validator("resolver")
    @classmethod
    def _address_port(cls, value: str) -> str:
        if value:
            parse_resolver(value)
        return value


def parse_resolver(value: str) -> tuple[str, int]:
    """`address[:port]` (`[v6]:port` for IPv6 with a port) as (address, port); ValueError if not."""
    host, port = value, 53
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"expected [IPv6]:port, got {value!r}")
        if rest:
            port = _port(rest[1:], value)
    elif value.count(":") == 1:
        host, _, text = value.partition(":")
        port = _port(text, value)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"expected an IP address[:port], got {value!r}") from None
    return host, port


def _port(text: str, value: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"expected a port 1-65535 after the address, got {value!r}")
    return int(text)


def normalise(record_type: str, text: str) -> str:
    """An answer's or an expected value's text in the form both are compared in."""
    text = text.strip()
    if record_type in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(text))
        except ValueError:
            return text
    if record_type == "TXT":
        return text
    return " ".join(part.rstrip(".") if part != "." else part for part in text.lower().split())


def _answer_text(record_type: str, rdata: dns.rdata.Rdata) -> str:
    if record_type == "TXT":
        return b"".join(rdata.strings).decode(errors="replace")  # type: ignore[attr-defined]
    return normalise(record_type, rdata.to_text())


class DnsCollector(FixedMetrics):
    kind: ClassVar[str] = "dns"
    Config: ClassVar[type[DnsConfig]] = DnsConfig
    metrics: ClassVar[MetricNames] = MetricNames.of("dns_lookup_seconds")

    def __init__(self, config: DnsConfig) -> None:
        self.config = config
        self._expected = [normalise(config.record_type, value) for value in config.expected]
        self._resolver: dns.asyncresolver.Resolver | None = None

    def _get_resolver(self) -> dns.asyncresolver.Resolver:
        # Built on first use: the system's reads /etc/resolv.conf, which a check-config run
        # on another machine need not have.
        if self._resolver is None:
            if self.config.resolver:
                host, port = parse_resolver(self.config.resolver)
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = [host]
                resolver.port = port
            else:
                resolver = dns.asyncresolver.Resolver()
            self._resolver = resolver
        return self._resolver

    async def collect(self, ctx: CheckContext) -> CheckResult:
        cfg = self.config
        name = cfg.query or ctx.address or "localhost"
        if cfg.record_type == "PTR":
            # A name already (…in-addr.arpa) is asked as it is.
            with contextlib.suppress(ValueError, dns.exception.SyntaxError):
                name = dns.reversename.from_address(name).to_text()
        what = f"{name} {cfg.record_type}"
        try:
            resolver = self._get_resolver()
        except dns.resolver.NoResolverConfiguration:
            return CheckResult(Status.UNKNOWN, "no system resolver (/etc/resolv.conf)")
        server = cfg.resolver or "the system resolver"
        lifetime = ctx.timeout * LIFETIME_SHARE
        started = time.perf_counter()
        try:
            # dnspython's lifetime alone overshoots by its retry backoff (0.1 s and more).
            async with asyncio.timeout(lifetime):
                answer = await resolver.resolve(
                    name, cfg.record_type, lifetime=lifetime, raise_on_no_answer=False
                )
        except dns.resolver.NXDOMAIN:
            return CheckResult(Status.CRITICAL, f"{what}: NXDOMAIN (no such name) from {server}")
        except (TimeoutError, dns.resolver.LifetimeTimeout):
            return CheckResult(
                Status.CRITICAL, f"{what}: no answer from {server} within {lifetime:.1f} s"
            )
        except dns.resolver.NoNameservers as exc:
            return CheckResult(Status.CRITICAL, f"{what}: {_failures(exc)}")
        except dns.exception.DNSException as exc:
            return CheckResult(Status.CRITICAL, f"{what}: {exc}")
        latency = time.perf_counter() - started
        samples = (
            Sample(
                "dns_lookup_seconds",
                latency,
                {"query": name, "record_type": cfg.record_type, "resolver": server},
            ),
        )
        took = f"in {latency * 1000:.1f} ms"
        if answer.rrset is None:
            return CheckResult(
                Status.CRITICAL, f"{what}: the name exists but has no such record", samples
            )
        answers = sorted({_answer_text(cfg.record_type, rdata) for rdata in answer.rrset})
        shown = ", ".join(answers)
        if self._expected:
            found = [value for value in self._expected if value in answers]
            if cfg.match == "all" and len(found) < len(self._expected):
                missing = ", ".join(value for value in self._expected if value not in answers)
                return CheckResult(
                    Status.CRITICAL, f"{what}: answered {shown}, missing {missing}", samples
                )
            if cfg.match == "any" and not found:
                wanted = " or ".join(self._expected)
                return CheckResult(
                    Status.CRITICAL, f"{what}: answered {shown}, expected {wanted}", samples
                )
        status = Status.OK
        if cfg.crit_latency is not None and latency >= cfg.crit_latency:
            status = Status.CRITICAL
        elif cfg.warn_latency is not None and latency >= cfg.warn_latency:
            status = Status.WARNING
        return CheckResult(status, f"{what}: {shown} {took}", samples)

    async def aclose(self) -> None:
        return None


def _failures(exc: dns.resolver.NoNameservers) -> str:
    """Each server's failure in words: its error code (SERVFAIL, REFUSED...) or its error."""
    parts: list[str] = []
    for server, _tcp, port, error, response in exc.kwargs.get("errors", []):
        # dnspython names a server "Do53:127.0.0.1@5353": the address is shown as configured.
        address = server.removeprefix("Do53:").rsplit("@", 1)[0]
        where = address if port == 53 else f"{address}:{port}"
        if isinstance(response, dns.message.Message):
            parts.append(f"{where} answered {dns.rcode.to_text(response.rcode())}")
        else:
            parts.append(f"{where} failed: {error}")
    return "; ".join(parts) or "no server could answer"
