"""The dns collector against a real dnsmasq on a loopback port: records, expectations, failures."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import dns.exception
import dns.resolver
import pytest
from pydantic import ValidationError

from collectors.dns import DnsCollector, DnsConfig
from tests.peers import require_installed
from watchd.model import CheckContext, CheckResult, Status

pytestmark = pytest.mark.integration

# What dnsmasq serves: www has both addresses; watchd.test is an authoritative zone (NS, SOA,
# and PTR for its two networks) whose unknown names are NXDOMAIN; broken.test is forwarded to
# a port nobody listens on, so dnsmasq answers REFUSED.
RECORDS = [
    "--local=/watchd.test/",
    "--auth-zone=watchd.test,192.0.2.0/24,2001:db8::/64",
    "--auth-server=ns.watchd.test,127.0.0.1",
    "--host-record=www.watchd.test,192.0.2.10,2001:db8::10",
    "--host-record=www2.watchd.test,192.0.2.11",
    "--cname=alias.watchd.test,www.watchd.test",
    "--mx-host=watchd.test,mail.watchd.test,10",
    "--txt-record=watchd.test,v=spf1 -all",
    "--srv-host=_http._tcp.watchd.test,www.watchd.test,80,0,5",
    "--ptr-record=10.2.0.192.in-addr.arpa,www.watchd.test",
    "--server=/broken.test/127.0.0.1#9",
]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dnsmasq() -> Iterator[str]:
    """A dnsmasq serving RECORDS on a free loopback port; yields its `address:port`."""
    binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    require_installed(shutil.which(binary) is not None, "dnsmasq-base")
    # dnsmasq listens on TCP too: a port free for UDP may be taken for TCP, so a start that
    # fails to bind is tried again on another port.
    for _attempt in range(5):
        port = _free_udp_port()
        proc = _start_dnsmasq(binary, port)
        if _answers(proc, port):
            break
        proc.kill()
        errors = proc.communicate()[1]
    else:
        pytest.fail(f"dnsmasq did not start: {errors}")
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def _start_dnsmasq(binary: str, port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            binary,
            "--keep-in-foreground",
            f"--port={port}",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--pid-file=",
            f"--user={_user()}",
            *RECORDS,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _answers(proc: subprocess.Popen[str], port: int) -> bool:
    """Whether the dnsmasq answers a query within 10 s (False as soon as it has exited)."""
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    deadline = time.monotonic() + 10
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            resolver.resolve("www.watchd.test", "A", lifetime=0.5)
            return True
        except dns.exception.DNSException:
            time.sleep(0.05)
    return False


def _user() -> str:
    # dnsmasq started as root drops to "nobody" unless told to stay the user it runs as.
    return pwd.getpwuid(os.getuid()).pw_name


async def _check(ctx_address: str = "", seconds: float = 3.0, **config: object) -> CheckResult:
    collector = DnsCollector(DnsConfig.model_validate(config))
    return await collector.collect(
        CheckContext(item="web", check="dns", address=ctx_address, timeout=seconds)
    )


@pytest.mark.parametrize(
    ("query", "record_type", "expected", "shown"),
    [
        ("www.watchd.test", "A", "192.0.2.10", "192.0.2.10"),
        ("www.watchd.test", "AAAA", "2001:db8:0::10", "2001:db8::10"),
        ("alias.watchd.test", "CNAME", "WWW.watchd.test.", "www.watchd.test"),
        ("watchd.test", "MX", "10 mail.watchd.test", "10 mail.watchd.test"),
        ("watchd.test", "TXT", "v=spf1 -all", "v=spf1 -all"),
        ("_http._tcp.watchd.test", "SRV", "0 5 80 www.watchd.test", "0 5 80 www.watchd.test"),
        ("192.0.2.10", "PTR", "www.watchd.test", "www.watchd.test"),
        ("watchd.test", "NS", "ns.watchd.test", "ns.watchd.test"),
    ],
)
async def test_each_record_type_matches_its_expected_answer(
    dnsmasq: str, query: str, record_type: str, expected: str, shown: str
) -> None:
    """Every record type is asked and its answer compared in its own form (addresses as
    addresses, names without case or final dot, an address turned into its PTR name)."""
    result = await _check(
        query=query, record_type=record_type, expected=[expected], resolver=dnsmasq
    )
    assert result.status is Status.OK, result.message
    assert shown in result.message
    (sample,) = result.samples
    assert sample.metric == "dns_lookup_seconds"
    assert 0 < sample.value < 3
    assert sample.labels["record_type"] == record_type


async def test_a_soa_answer_is_ok_without_expectations(dnsmasq: str) -> None:
    """A record type asked without `expected` is OK when the name has such a record."""
    result = await _check(query="watchd.test", record_type="SOA", resolver=dnsmasq)
    assert result.status is Status.OK, result.message
    assert "ns.watchd.test hostmaster.ns.watchd.test" in result.message


async def test_the_query_defaults_to_the_items_address(dnsmasq: str) -> None:
    """Without `query`, the item's address is asked."""
    result = await _check(ctx_address="www2.watchd.test", resolver=dnsmasq)
    assert result.status is Status.OK
    assert "192.0.2.11" in result.message


async def test_any_needs_one_expected_answer_and_all_needs_every_one(dnsmasq: str) -> None:
    """`match = "any"` is OK when one expected answer is there; "all" names the missing ones."""
    expected = ["192.0.2.10", "192.0.2.99"]
    ok = await _check(query="www.watchd.test", expected=expected, resolver=dnsmasq)
    assert ok.status is Status.OK
    missing = await _check(
        query="www.watchd.test", expected=expected, match="all", resolver=dnsmasq
    )
    assert missing.status is Status.CRITICAL
    assert missing.message == "www.watchd.test A: answered 192.0.2.10, missing 192.0.2.99"
    wrong = await _check(query="www.watchd.test", expected=["192.0.2.99"], resolver=dnsmasq)
    assert wrong.message == "www.watchd.test A: answered 192.0.2.10, expected 192.0.2.99"


async def test_an_unknown_name_is_critical_nxdomain(dnsmasq: str) -> None:
    """An unknown name says NXDOMAIN and which server said it."""
    result = await _check(query="nope.watchd.test", resolver=dnsmasq)
    assert result.status is Status.CRITICAL
    assert result.message == f"nope.watchd.test A: NXDOMAIN (no such name) from {dnsmasq}"


async def test_a_name_without_the_record_type_is_critical(dnsmasq: str) -> None:
    """A name that exists without the asked type is CRITICAL, not NXDOMAIN, and is timed."""
    result = await _check(query="www2.watchd.test", record_type="AAAA", resolver=dnsmasq)
    assert result.status is Status.CRITICAL
    assert result.message == "www2.watchd.test AAAA: the name exists but has no such record"
    assert len(result.samples) == 1


async def test_an_error_code_from_the_server_is_named(dnsmasq: str) -> None:
    """A server answering with an error code (here REFUSED; SERVFAIL the same way) says so."""
    result = await _check(query="x.broken.test", resolver=dnsmasq)
    assert result.status is Status.CRITICAL
    assert result.message == f"x.broken.test A: {dnsmasq} answered REFUSED"


async def test_a_server_that_does_not_answer_times_out_with_its_name() -> None:
    """A resolver that never answers is CRITICAL within the check's timeout, naming it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as black_hole:
        black_hole.bind(("127.0.0.1", 0))
        where = f"127.0.0.1:{black_hole.getsockname()[1]}"
        started = time.monotonic()
        result = await _check(query="www.watchd.test", resolver=where, seconds=1.0)
    assert time.monotonic() - started < 1.0
    assert result.status is Status.CRITICAL
    assert result.message == f"www.watchd.test A: no answer from {where} within 0.9 s"


async def test_a_slow_answer_is_warning_by_latency(dnsmasq: str) -> None:
    """`warn_latency` turns an answer slower than it into WARNING."""
    result = await _check(query="www.watchd.test", resolver=dnsmasq, warn_latency=1e-9)
    assert result.status is Status.WARNING


@pytest.mark.parametrize(
    ("config", "where", "said"),
    [
        ({"resolver": "dns.example.com"}, ("resolver",), "expected an IP address[:port]"),
        ({"resolver": "127.0.0.1:99999"}, ("resolver",), "expected a port 1-65535"),
        ({"resolver": "[::1]53"}, ("resolver",), "expected [IPv6]:port"),
        ({"record_type": "AXFR"}, ("record_type",), "'A', 'AAAA'"),
        ({"match": "some"}, ("match",), "'any' or 'all'"),
        ({"expect": ["x"]}, ("expect",), "Extra inputs are not permitted"),
    ],
)
def test_bad_options_are_refused_naming_the_key(
    config: dict[str, object], where: tuple[str, ...], said: str
) -> None:
    """A wrong resolver, record type, match or unknown key is a load error at its key."""
    with pytest.raises(ValidationError) as caught:
        DnsConfig.model_validate(config)
    (error,) = caught.value.errors()
    assert error["loc"] == where
    assert said in error["msg"]


def test_resolver_addresses_with_and_without_port_are_accepted() -> None:
    """IPv4 and IPv6 resolvers load with and without a port."""
    for value in ("192.0.2.1", "192.0.2.1:5353", "::1", "[::1]:5353", "[2001:db8::1]"):
        assert DnsConfig(resolver=value).resolver == value
