"""Signed, expiring acknowledge links: `<base_url>/ack/<token>`, the token being the incident
id and an expiry, HMAC-SHA256-signed with a key from a file or the environment.

The link opens a small page with one button; the POST behind the button acknowledges. A GET
never changes anything, because chat apps unfurl links and mail scanners open them: a link
that acknowledged on GET would acknowledge every incident the moment it was posted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


class AckLinkError(ValueError):
    """A token that cannot be honoured; `reason` is "malformed", "bad signature" or "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The acknowledge link is not valid: {reason}.")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AckClaim:
    incident_id: int
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> bytes:
    return hmac.new(key, b"watchd-ack." + body.encode(), hashlib.sha256).digest()


def make_token(key: bytes, incident_id: int, expires_at: float) -> str:
    """A token acknowledging `incident_id` until `expires_at` (epoch seconds)."""
    body = f"{incident_id}.{int(expires_at)}"
    return f"{body}.{_b64(_mac(key, body))}"


def verify_token(key: bytes, token: str, now: float) -> AckClaim:
    """The claim of a genuine, unexpired token; AckLinkError otherwise (constant-time compare)."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise AckLinkError("malformed")
    body = f"{parts[0]}.{parts[1]}"
    try:
        presented = _unb64(parts[2])
    except ValueError as exc:
        raise AckLinkError("malformed") from exc
    if not hmac.compare_digest(presented, _mac(key, body)):
        raise AckLinkError("bad signature")
    claim = AckClaim(int(parts[0]), int(parts[1]))
    if now > claim.expires_at:
        raise AckLinkError("expired")
    return claim


@dataclass(frozen=True, slots=True)
class LinkMaker:
    """Builds the URLs a notification carries for one incident."""

    base_url: str
    key: bytes
    ttl: float

    def links(self, incident_id: int, now: float) -> dict[str, str]:
        base = self.base_url.rstrip("/")
        token = make_token(self.key, incident_id, now + self.ttl)
        return {
            "ack_url": f"{base}/ack/{token}",
            "incident_url": f"{base}/incidents/{incident_id}",
            "external_url": base,
        }
