"""HTTP(S) check: status, latency, body match and the server certificate's remaining days.

Every outcome a person can act on is a CheckResult: refused, DNS failure, TLS failure, a
transport timeout, an unexpected status or body, a slow answer, a certificate close to expiry.
The certificate is read from the very connection that served the answer.

A check on a fresh connection (the default) goes through collectors/http_wire.py, a lean
HTTP/1.1 client on an asyncio Protocol; a check with `fresh_connection = false` keeps an
aiohttp session whose pooled connections are reused, and there the certificate is recorded by
an `ssl.SSLObject` subclass when a handshake completes.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import ssl
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import aiohttp
from cryptography import x509
from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)
from yarl import URL

from collectors.contract import FixedMetrics, MetricNames
from collectors.fields import Regex
from collectors.http_wire import Answer, Progress, fetch
from watchd.configbase import Strict
from watchd.matchers import compile_regex
from watchd.model import CheckContext, CheckResult, Sample, Status
from watchd.secrets import SecretError, SecretRef
from watchd.wire.connect import Resolver, WireError

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
StatusCode = Annotated[int, Field(ge=100, le=599)]

# aiohttp's own deadline is a little shorter than the scheduler's: the check then reports what
# it was waiting for (connection, answer, body) instead of being cancelled without a word.
_TIMEOUT_SHARE = 0.9


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


class BasicAuthConfig(Strict):
    username: str
    password: SecretRef


class HttpConfig(Strict):
    """What to request and what answer counts as healthy.

    `expect_status` defaults to every 2xx code: with redirects followed, the final answer of
    a healthy site is a 2xx. Set it (e.g. [301]) to check a redirect itself with
    `follow_redirects = false`. `http_response_seconds` runs until the body is read (up to
    `max_body_bytes`), so it includes the transfer a user waits for.
    """

    url: str
    method: Annotated[Method, BeforeValidator(_upper)] = "GET"
    headers: dict[str, str] = {}
    body: str = ""
    expect_status: list[StatusCode] = Field(default=list(range(200, 300)), min_length=1)
    follow_redirects: bool = True
    max_redirects: int = Field(default=10, ge=0, le=100)
    body_regex: Regex = ""
    body_regex_invert: bool = False  # the body must NOT match body_regex
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    fresh_connection: bool = True  # False: one kept session, connections reused when possible
    verify_tls: bool = True
    ca_file: Path | None = None  # trust this CA bundle instead of the system's
    warn_latency: float | None = Field(default=None, gt=0)  # seconds
    crit_latency: float | None = Field(default=None, gt=0)
    cert_warn_days: float = Field(default=21, ge=0)
    cert_crit_days: float = Field(default=7, ge=0)
    basic_auth: BasicAuthConfig | None = None
    bearer: SecretRef | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        url = URL(value)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"expected an absolute http:// or https:// URL, got {value!r}")
        if url.user is not None or url.password is not None:
            raise ValueError("the URL must not carry credentials; use basic_auth with a secret")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HttpConfig:
        if self.body_regex_invert and not self.body_regex:
            raise ValueError("body_regex_invert needs body_regex")
        if self.basic_auth is not None and self.bearer is not None:
            raise ValueError("use either basic_auth or bearer, not both")
        for key, value in self.headers.items():
            if any(char in key + value for char in "\r\n"):
                raise ValueError(f"the header {key!r} must be one line")
        has_auth_header = any(key.lower() == "authorization" for key in self.headers)
        if has_auth_header and (self.basic_auth is not None or self.bearer is not None):
            raise ValueError("an Authorization header cannot be combined with basic_auth/bearer")
        if self.ca_file is not None and not self.verify_tls:
            raise ValueError("ca_file has no use with verify_tls = false")
        _ordered("warn_latency", self.warn_latency, "crit_latency", self.crit_latency)
        _ordered("cert_crit_days", self.cert_crit_days, "cert_warn_days", self.cert_warn_days)
        return self


def _ordered(low_name: str, low: float | None, high_name: str, high: float | None) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError(f"{low_name} ({low:g}) must not be above {high_name} ({high:g})")


class HttpCollector(FixedMetrics):
    """Requests one URL per run and grades the answer."""

    kind: ClassVar[str] = "http"
    Config: ClassVar[type[HttpConfig]] = HttpConfig
    metrics: ClassVar[MetricNames] = MetricNames.of(
        "http_response_seconds", "http_status_code", "http_content_bytes", "tls_cert_expiry_days"
    )

    def __init__(self, config: HttpConfig) -> None:
        self.config = config
        self._what = f"{config.method} {config.url}"
        self._regex = compile_regex(config.body_regex) if config.body_regex else None
        # Built once: parsing the URL, encoding the body and building the headers per run
        # showed in profiles of 500 checks/s. Headers with a secret are built per run.
        self._url = URL(config.url)
        self._data = config.body.encode() if config.body else None
        self._plain_headers = {"User-Agent": "watchd", **config.headers}
        self._has_secret = config.basic_auth is not None or config.bearer is not None
        self._timeout: aiohttp.ClientTimeout | None = None
        self._sslcontext: ssl.SSLContext | None = None
        self._session: aiohttp.ClientSession | None = None
        self._resolver = Resolver()

    async def collect(self, ctx: CheckContext) -> CheckResult:
        try:
            headers = self._headers()
        except SecretError as exc:
            return CheckResult(Status.UNKNOWN, f"{self._what}: {exc}")
        sslcontext = self._sslcontext
        if sslcontext is None:
            try:
                sslcontext = self._sslcontext = await self._ssl_context()
            except (OSError, ssl.SSLError) as exc:
                return CheckResult(
                    Status.UNKNOWN,
                    f"{self._what}: cannot load CA file {self.config.ca_file}: {_os_reason(exc)}",
                )
        deadline = ctx.timeout * _TIMEOUT_SHARE
        if self.config.fresh_connection:
            return await self._fetch(headers, sslcontext, deadline)
        session = self._session
        if session is None or session.closed:
            session = self._session = self._new_session(sslcontext)
        else:
            session.cookie_jar.clear()  # each run starts like a new visitor
        timeout = self._timeout
        if timeout is None or timeout.total != deadline:
            timeout = self._timeout = aiohttp.ClientTimeout(total=deadline)
        return await self._request(session, headers, timeout, deadline)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _headers(self) -> dict[str, str]:
        """Configured headers plus authorization; secrets are read per run, never kept."""
        if not self._has_secret:
            return self._plain_headers
        headers = dict(self._plain_headers)
        auth = self.config.basic_auth
        if auth is not None:
            pair = f"{auth.username}:{auth.password.reveal()}".encode()
            headers["Authorization"] = f"Basic {base64.b64encode(pair).decode('ascii')}"
        elif self.config.bearer is not None:
            headers["Authorization"] = f"Bearer {self.config.bearer.reveal()}"
        return headers

    async def _ssl_context(self) -> ssl.SSLContext:
        key = (self.config.verify_tls, self.config.ca_file)
        context = _CONTEXTS.get(key)
        if context is None:
            # Loading CA files reads the disk: keep it off the event loop. One context per
            # trust setting serves every check: a context holds the whole CA store (~0.2 MB,
            # milliseconds to load), so one per check would not scale to thousands of checks.
            context = await asyncio.to_thread(_make_ssl_context, self.config)
            context = _CONTEXTS.setdefault(key, context)
        return context

    async def _fetch(
        self, headers: dict[str, str], sslcontext: ssl.SSLContext, deadline: float
    ) -> CheckResult:
        """One run on fresh connections, through the lean client."""
        cfg = self.config
        progress = Progress()
        started = time.perf_counter()
        try:
            async with asyncio.timeout(deadline):
                answer = await fetch(
                    self._url,
                    cfg.method,
                    headers,
                    self._data,
                    sslcontext=sslcontext,
                    follow_redirects=cfg.follow_redirects,
                    max_redirects=cfg.max_redirects,
                    limit=cfg.max_body_bytes,
                    resolver=self._resolver,
                    progress=progress,
                )
        except WireError as exc:
            return self._critical(str(exc))
        except TimeoutError:
            if progress.answered:
                return self._critical(f"body not complete within {deadline:.3g} s")
            return self._critical(f"no answer within {deadline:.3g} s")
        return self._grade(answer, time.perf_counter() - started)

    def _new_session(self, sslcontext: ssl.SSLContext) -> aiohttp.ClientSession:
        """The kept session of a check with fresh_connection = false; its cookie jar is
        emptied before each run."""
        connector = aiohttp.TCPConnector(ssl=sslcontext)
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def _request(
        self,
        session: aiohttp.ClientSession,
        headers: dict[str, str],
        client_timeout: aiohttp.ClientTimeout,
        deadline: float,
    ) -> CheckResult:
        cfg = self.config
        waited = f"{deadline:.3g} s"
        answered = False
        started = time.perf_counter()
        try:
            async with session.request(
                cfg.method,
                self._url,
                headers=headers,
                data=self._data,
                allow_redirects=cfg.follow_redirects,
                max_redirects=cfg.max_redirects,
                timeout=client_timeout,
            ) as resp:
                answered = True
                body, truncated = await _read_limited(resp, cfg.max_body_bytes)
                elapsed = time.perf_counter() - started
                host = resp.url.host or ""
                der = _PEER_CERTS.get(_host_key(host)) if resp.url.scheme == "https" else None
                answer = Answer(resp.status, resp.url, _charset(resp), body, truncated, der)
                return self._grade(answer, elapsed)
        except aiohttp.ClientConnectorDNSError as exc:
            reason = _os_reason(exc.os_error)
            return self._critical(f"DNS lookup of {exc.host} failed: {reason}")
        except aiohttp.ClientConnectorCertificateError as exc:
            return self._critical(f"TLS certificate verify failed: {_cert_reason(exc)}")
        except aiohttp.ClientConnectorSSLError as exc:
            return self._critical(f"TLS handshake failed: {_os_reason(exc.os_error)}")
        except aiohttp.ClientConnectorError as exc:
            where = f"{exc.host}:{exc.port}"
            return self._critical(f"cannot connect to {where}: {_os_reason(exc.os_error)}")
        except aiohttp.ConnectionTimeoutError:
            return self._critical(f"no connection within {waited}")
        except aiohttp.TooManyRedirects:
            return self._critical(f"more than {cfg.max_redirects} redirects")
        except aiohttp.RedirectClientError as exc:
            return self._critical(f"redirected to an unusable URL: {exc}")
        except aiohttp.ServerDisconnectedError:
            return self._critical("the server closed the connection without a complete answer")
        except aiohttp.ClientPayloadError as exc:
            return self._critical(f"the response body is broken: {exc}")
        except aiohttp.ClientResponseError as exc:
            return self._critical(f"invalid HTTP response: {exc.message}")
        except TimeoutError:
            if answered:
                return self._critical(f"body not complete within {waited}")
            return self._critical(f"no answer within {waited}")
        except aiohttp.ClientError as exc:
            return self._critical(f"{exc.__class__.__name__}: {exc}")

    def _critical(self, reason: str) -> CheckResult:
        return CheckResult(Status.CRITICAL, f"{self._what}: {reason}")

    def _grade(self, resp: Answer, elapsed: float) -> CheckResult:
        cfg = self.config
        body = resp.body
        labels = {"url": cfg.url}
        samples = [  # content bytes are as read: after decompression, capped at max_body_bytes
            Sample("http_response_seconds", elapsed, labels),
            Sample("http_status_code", resp.status, labels),
            Sample("http_content_bytes", len(body), labels),
        ]
        problems: list[tuple[Status, str]] = []
        if resp.status not in cfg.expect_status:
            problems.append(
                (Status.CRITICAL, f"got {resp.status}, expected {_codes(cfg.expect_status)}")
            )
        if self._regex is not None:
            text = body.decode(resp.charset, errors="replace")
            found = self._regex.search(text) is not None
            if found and cfg.body_regex_invert:
                problems.append((Status.CRITICAL, f"body matches /{cfg.body_regex}/"))
            elif not found and not cfg.body_regex_invert:
                problems.append((Status.CRITICAL, f"body does not match /{cfg.body_regex}/"))
        latency = _over(elapsed, cfg.warn_latency, cfg.crit_latency)
        if latency is not Status.OK:
            problems.append((latency, f"answer took {elapsed * 1000:.0f} ms"))
        summary = f"{resp.status} in {elapsed * 1000:.1f} ms, {len(body)} bytes"
        if resp.truncated:
            summary += f" (read no further than {cfg.max_body_bytes})"
        der = resp.peer_cert
        if der is not None:
            days = _days_left(der)
            samples.append(Sample("tls_cert_expiry_days", days, labels))
            expiry = _under(days, cfg.cert_warn_days, cfg.cert_crit_days)
            when = f"expires in {days:.1f} days" if days >= 0 else f"expired {-days:.1f} days ago"
            if expiry is not Status.OK:
                problems.append((expiry, f"certificate of {resp.url.host} {when}"))
            summary += f", certificate {when}"
        if not problems:
            return CheckResult(Status.OK, f"{self._what}: {summary}", tuple(samples))
        problems.sort(key=lambda problem: problem[0], reverse=True)
        reasons = "; ".join(text for _, text in problems)
        return CheckResult(problems[0][0], f"{self._what}: {reasons}", tuple(samples))


# Shared by every http check: contexts by (verify_tls, ca_file), and the DER certificate each
# TLS server name showed in its latest completed handshake (one server name, one certificate,
# whichever check's connection saw it).
_CONTEXTS: dict[tuple[bool, Path | None], ssl.SSLContext] = {}
_PEER_CERTS: dict[str, bytes] = {}


def _make_ssl_context(config: HttpConfig) -> ssl.SSLContext:
    if config.verify_tls:
        context = ssl.create_default_context(
            cafile=str(config.ca_file) if config.ca_file is not None else None
        )
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE

    class _RecordingSSLObject(ssl.SSLObject):
        # asyncio drives every TLS handshake through SSLObject.do_handshake; the binary
        # certificate is there even when verification is off (getpeercert() is then empty).
        def do_handshake(self) -> None:
            super().do_handshake()
            der = self.getpeercert(binary_form=True)
            if der and self.server_hostname:
                _PEER_CERTS[_host_key(self.server_hostname)] = der

    context.sslobject_class = _RecordingSSLObject
    return context


async def _read_limited(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body, and whether more was left unread."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await resp.content.read(limit - size)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks), bool(await resp.content.read(1))


def _host_key(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _days_left(der: bytes) -> float:
    not_after = x509.load_der_x509_certificate(der).not_valid_after_utc
    return (not_after - datetime.now(UTC)).total_seconds() / 86400


def _over(value: float, warn: float | None, crit: float | None) -> Status:
    if crit is not None and value >= crit:
        return Status.CRITICAL
    if warn is not None and value >= warn:
        return Status.WARNING
    return Status.OK


def _under(value: float, warn: float, crit: float) -> Status:
    if value < crit:
        return Status.CRITICAL
    if value < warn:
        return Status.WARNING
    return Status.OK


def _codes(codes: list[int]) -> str:
    """Status codes as runs: [200, 201, ..., 299] -> "200-299"."""
    runs: list[list[int]] = []
    for code in sorted(set(codes)):
        if runs and code == runs[-1][-1] + 1:
            runs[-1].append(code)
        else:
            runs.append([code])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)


def _charset(resp: aiohttp.ClientResponse) -> str:
    charset = resp.charset or "utf-8"
    try:
        "".encode(charset)
    except LookupError:
        return "utf-8"
    return charset


def _cert_reason(exc: aiohttp.ClientConnectorCertificateError) -> str:
    error: Any = exc.certificate_error
    return str(getattr(error, "verify_message", "") or getattr(error, "reason", "") or error)


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc)
    if isinstance(exc, socket.gaierror):
        return exc.strerror or str(exc)
    if isinstance(exc, OSError) and exc.errno:
        # asyncio words a refused connect "Connect call failed (...)": errno says it plainly.
        return os.strerror(exc.errno)
    return str(exc) or exc.__class__.__name__
