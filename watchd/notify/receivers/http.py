"""What the HTTP receivers (webhook, ticket, chat, robots) share: kept connections with TLS
options, authentication from secrets, and one call that turns any answer or failure into an
Outcome."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from watchd.clock import Clock
from watchd.notify.backoff import parse_retry_after
from watchd.notify.config import HttpReceiverBase, TlsOptions
from watchd.notify.model import Outcome, excerpt, http_outcome
from watchd.wire.connect import WireError
from watchd.wire.pool import KeepAlivePool

USER_AGENT = "watchd-notify/1"


def ssl_context(tls: TlsOptions, base: Path) -> ssl.SSLContext | bool:
    """The TLS settings of a receiver; True (system defaults) when nothing is set."""
    if tls.ca_file is None and tls.cert_file is None and not tls.insecure_skip_verify:
        return True
    ctx = ssl.create_default_context(cafile=str(base / tls.ca_file) if tls.ca_file else None)
    if tls.cert_file is not None:
        key = str(base / tls.key_file) if tls.key_file else None
        ctx.load_cert_chain(str(base / tls.cert_file), key)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def auth_headers(config: HttpReceiverBase) -> dict[str, str]:
    """Configured headers, secret ones read now, plus Authorization from bearer or basic."""
    headers = {"User-Agent": USER_AGENT, **config.headers}
    headers |= {name: ref.reveal() for name, ref in config.secret_headers.items()}
    if config.bearer_token is not None:
        headers["Authorization"] = f"Bearer {config.bearer_token.reveal()}"
    elif config.basic_password is not None:
        pair = f"{config.basic_user}:{config.basic_password.reveal()}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    return headers


class HttpClient:
    """The kept connections of one receiver (watchd.wire.pool); requests never raise, they
    return an Outcome. Redirects are not followed (a 3xx is a retried failure), no proxy is
    used (as with the aiohttp session before), at most `concurrency` requests run at once."""

    def __init__(self, config: HttpReceiverBase, *, clock: Clock, base: Path) -> None:
        self._config = config
        self._clock = clock
        tls = ssl_context(config.tls, base)
        self._pool = KeepAlivePool(
            tls=tls if isinstance(tls, ssl.SSLContext) else _system_tls(),
            timeout=config.timeout,
            max_idle=config.concurrency,
        )
        self._slots = asyncio.Semaphore(config.concurrency)

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: Mapping[str, str],
    ) -> tuple[Outcome, Any]:
        """Send one request; the outcome and the decoded JSON answer (None if not JSON)."""
        try:
            all_headers = {**auth_headers(self._config), **headers}
        except Exception as exc:  # a secret file that went away: retried, it may come back
            return Outcome(False, error=f"credentials: {exc}"), None
        started = time.monotonic()
        try:
            async with self._slots:
                reply = await self._pool.request(
                    method, url, headers=all_headers.items(), body=body
                )
        except TimeoutError:
            elapsed = time.monotonic() - started
            return Outcome(False, error=f"no answer within {elapsed:.1f}s (timeout)"), None
        except (WireError, OSError, ValueError) as exc:
            return Outcome(False, error=excerpt(f"{type(exc).__name__}: {exc}")), None
        text = reply.text()
        retry_after = parse_retry_after(reply.header("retry-after"), self._clock.now())
        outcome = http_outcome(reply.status, text, retry_after)
        try:
            decoded = _json(text)
        except ValueError:
            decoded = None
        return outcome, decoded

    async def aclose(self) -> None:
        self._pool.close()


@cache
def _system_tls() -> ssl.SSLContext:
    """The system's CAs, verified as browsers do; loaded once (it reads the CA bundle)."""
    return ssl.create_default_context()


def _json(text: str) -> Any:
    """The answer's JSON object or array, None for anything else: what callers read from an
    answer is a field or an item. Text that cannot start either ("ok", HTML) is not parsed: a
    webhook's plain answer raised (and caught) a JSONDecodeError per delivery in a storm."""
    return json.loads(text) if text.lstrip()[:1] in ("{", "[") else None
