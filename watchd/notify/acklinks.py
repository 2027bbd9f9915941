"""Signed, expiring, per-recipient acknowledge links: `<base_url>/ack/<token>`, the token
carrying the incident id, an expiry and the recipient (the receiver's name and, when known, the
address it was sent to), HMAC-SHA256-signed with a key from a file or the environment. The
recipient is signed with the rest, so a link cannot be altered to name someone else; an
acknowledgement through it is recorded as by that recipient.

The link opens a small page with one button; the POST behind the button acknowledges. A GET
never changes anything, because chat apps unfurl links and mail scanners open them: a link
that acknowledged on GET would acknowledge every incident the moment it was posted.

Links made before recipients were signed (`<incident>.<expiry>.<mac>`) are still honoured
until they expire (at most `ttl` after they were sent), recorded as by an unknown recipient:
a page sent just before an upgrade must still be acknowledgeable from the phone it reached.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

_VERSION = "v2"


class AckLinkError(ValueError):
    """A token that cannot be honoured; `reason` is "malformed", "bad signature" or "expired"."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The acknowledge link is not valid: {reason}.")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Recipient:
    """Whom a link was sent to: a receiver and, when it names one, the person or address."""

    receiver: str
    address: str = ""

    def actor(self) -> str:
        """How an acknowledgement through this recipient's link is recorded."""
        via = f"ack link to {self.receiver}"
        return f"{self.address} via {via}" if self.address else via


OLD_LINK_ACTOR = "ack link (old format, recipient not recorded)"


@dataclass(frozen=True, slots=True)
class AckClaim:
    """What a genuine token says; `recipient` is None for an old-format link."""

    incident_id: int
    expires_at: int
    recipient: Recipient | None

    def actor(self) -> str:
        return self.recipient.actor() if self.recipient is not None else OLD_LINK_ACTOR


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str) -> bytes:
    return hmac.new(key, b"watchd-ack." + body.encode(), hashlib.sha256).digest()


def make_token(key: bytes, incident_id: int, expires_at: float, recipient: Recipient) -> str:
    """A token acknowledging `incident_id` until `expires_at` (epoch seconds) as `recipient`."""
    who = _b64(json.dumps([recipient.receiver, recipient.address]).encode())
    body = f"{_VERSION}.{incident_id}.{int(expires_at)}.{who}"
    return f"{body}.{_b64(_mac(key, body))}"


def verify_token(key: bytes, token: str, now: float) -> AckClaim:
    """The claim of a genuine, unexpired token; AckLinkError otherwise (constant-time compare)."""
    parts = token.split(".")
    if len(parts) == 5 and parts[0] == _VERSION:
        numbers, who = parts[1:3], parts[3]
    elif len(parts) == 3:  # the old format: no recipient
        numbers, who = parts[0:2], None
    else:
        raise AckLinkError("malformed")
    if not all(n.isdigit() for n in numbers):
        raise AckLinkError("malformed")
    body, signature = token.rpartition(".")[::2]
    try:
        presented = _unb64(signature)
    except ValueError as exc:  # binascii.Error is one
        raise AckLinkError("malformed") from exc
    if not hmac.compare_digest(presented, _mac(key, body)):
        raise AckLinkError("bad signature")
    claim = AckClaim(int(numbers[0]), int(numbers[1]), _recipient(who))
    if now > claim.expires_at:
        raise AckLinkError("expired")
    return claim


def _recipient(who: str | None) -> Recipient | None:
    """The recipient of a signed token (signed by us, so its shape is ours)."""
    if who is None:
        return None
    receiver, address = json.loads(_unb64(who))
    return Recipient(str(receiver), str(address))


@dataclass(frozen=True, slots=True)
class LinkMaker:
    """Builds the URLs a notification carries for one incident and one recipient."""

    base_url: str
    key: bytes
    ttl: float

    def links(self, incident_id: int, now: float, recipient: Recipient) -> dict[str, str]:
        base = self.base_url.rstrip("/")
        token = make_token(self.key, incident_id, now + self.ttl, recipient)
        return {
            "ack_url": f"{base}/ack/{token}",
            "incident_url": f"{base}/incidents/{incident_id}",
            "external_url": base,
        }
