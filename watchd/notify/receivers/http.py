"""What the HTTP receivers (webhook, ticket, chat) share: a session with TLS options and
authentication from secrets, and one call that turns any answer or failure into an Outcome."""

from __future__ import annotations

import base64
import json
import ssl
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from watchd.clock import Clock
from watchd.notify.backoff import parse_retry_after
from watchd.notify.config import HttpReceiverBase, TlsOptions
from watchd.notify.model import Outcome, excerpt, http_outcome

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
    """One aiohttp session per receiver; requests never raise, they return an Outcome."""

    def __init__(self, config: HttpReceiverBase, *, clock: Clock, base: Path) -> None:
        self._config = config
        self._clock = clock
        self._ssl = ssl_context(config.tls, base)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._config.timeout),
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=self._config.concurrency),
            )
        return self._session

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
            async with self._open().request(
                method, url, data=body, headers=all_headers, allow_redirects=False
            ) as response:
                text = await response.text(errors="replace")
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), self._clock.now()
                )
                outcome = http_outcome(response.status, text, retry_after)
        except TimeoutError:
            elapsed = time.monotonic() - started
            return Outcome(False, error=f"no answer within {elapsed:.1f}s (timeout)"), None
        except aiohttp.ClientError as exc:
            return Outcome(False, error=excerpt(f"{type(exc).__name__}: {exc}")), None
        except (OSError, ValueError) as exc:
            return Outcome(False, error=excerpt(f"{type(exc).__name__}: {exc}")), None
        try:
            decoded = _json(text)
        except ValueError:
            decoded = None
        return outcome, decoded

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _json(text: str) -> Any:
    return json.loads(text) if text.strip() else None
