"""The webhook receiver: POST the notification as JSON, a superset of Alertmanager's webhook
version 4 plus the incident, with an Idempotency-Key header (incident id : event seq) and an
optional signature `X-Watchd-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from watchd.notify.config import HttpReceiverBase
from watchd.notify.model import Notification, Outcome, ReceiverEnv
from watchd.notify.receivers.http import HttpClient
from watchd.secrets import SecretRef
from watchd.store.json_text import encoded

SIGNATURE_HEADER = "X-Watchd-Signature"


class WebhookReceiver(HttpReceiverBase):
    """POST the Alertmanager-v4-compatible JSON document plus the incident to `url`."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://")
    hmac_key: SecretRef | None = None


def signature(key: bytes, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    mac = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def document(note: Notification) -> dict[str, Any]:
    """The JSON body: the stored payload, with the incident's links added at send time."""
    payload = dict(note.payload)
    links = {k: v for k, v in note.context.items() if k.endswith("_url") and v}
    if links:
        incident = dict(payload.get("incident") or {})
        incident["links"] = {k.removesuffix("_url"): v for k, v in links.items()}
        payload["incident"] = incident
        payload["externalURL"] = note.context.get("external_url", payload.get("externalURL", ""))
    return payload


class Webhook:
    kind = "webhook"
    Config = WebhookReceiver
    batch = False

    def __init__(self, config: WebhookReceiver, env: ReceiverEnv) -> None:
        self.name = config.name
        self._config = config
        self._clock = env.clock
        self._http = HttpClient(config, clock=env.clock, base=env.base)

    async def deliver(self, notes: Sequence[Notification]) -> Outcome:
        (note,) = notes
        body = encoded(document(note))  # pydantic-core: a storm sends thousands
        headers = {"Content-Type": "application/json", "Idempotency-Key": note.idempotency_key}
        if self._config.hmac_key is not None:
            try:
                key = self._config.hmac_key.reveal().encode()
            except Exception as exc:
                return Outcome(False, error=f"signing key: {exc}")
            headers[SIGNATURE_HEADER] = signature(key, int(self._clock.now()), body)
        outcome, _ = await self._http.request("POST", self._config.url, body=body, headers=headers)
        return outcome

    async def aclose(self) -> None:
        await self._http.aclose()
