"""The email receiver: one message per notification group over SMTP (aiosmtplib), with a
templated subject, plain-text and HTML body; STARTTLS or implicit TLS, optional login. A page
to a person goes to the person's address (their contact's), not to `to`."""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Literal

import aiosmtplib
from pydantic import Field

from watchd.notify.config import ReceiverBase, TlsOptions
from watchd.notify.model import HANDOFF, Notification, Outcome, ReceiverEnv, excerpt
from watchd.notify.receivers.http import ssl_context
from watchd.notify.templates import (
    TemplateSlot,
    group_context,
    load_override,
    override_problem,
    plain_environment,
)
from watchd.secrets import SecretRef

# SMTP reply codes that will not get better by retrying (RFC 5321 5yz, bar 552 "try later").
_PERMANENT = range(500, 600)


# The user's template files: config key, and the name their source is compiled under.
_TEMPLATES = (
    ("subject_template", "subject.j2"),
    ("text_template", "text.j2"),
    ("html_template", "body.html.j2"),
)


class EmailReceiver(ReceiverBase):
    kind: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str = ""
    password: SecretRef | None = None
    sender: str = Field(min_length=3)
    to: list[str] = Field(min_length=1)
    subject_template: Path | None = None
    text_template: Path | None = None
    html_template: Path | None = None
    tls: TlsOptions = TlsOptions()

    def address(self) -> str:
        """`recipient`, else the one `to` address (several share one message, so one link)."""
        return self.recipient or (self.to[0] if len(self.to) == 1 else "")

    def problems(self, base: Path) -> Iterator[tuple[str, str]]:
        """The template files that are set must be readable and compile."""
        for key, name in _TEMPLATES:
            reason = override_problem(getattr(self, key), base, name)
            if reason:
                yield key, reason


def _no_nul(text: str) -> str:
    """A mail may not hold a NUL (RFC 5322's text excludes it; a server may refuse the mail,
    and a 5xx is not retried): one in alert text (a trap's octet string) is sent as U+FFFD."""
    return text.replace("\x00", "\ufffd")


def _addressees(note: Notification) -> list[str]:
    """The person's address when the notification pages one, else [] (the configured `to`)."""
    address = (note.recipient or {}).get("address", "")
    return [address] if address else []


def _by_addressee(notes: Sequence[Notification]) -> list[list[Notification]]:
    """`notes` split by whom they go to, in order of first appearance."""
    shares: dict[tuple[str, ...], list[Notification]] = {}
    for note in notes:
        shares.setdefault(tuple(_addressees(note)), []).append(note)
    return list(shares.values())


class Email:
    kind = "email"
    Config = EmailReceiver
    batch = True

    def __init__(self, config: EmailReceiver, env: ReceiverEnv) -> None:
        base = env.base
        self.name = config.name
        self._config = config
        text, html = plain_environment(False, env.locale), plain_environment(True, env.locale)
        self._subject = TemplateSlot(
            "email_subject.j2",
            load_override(config.subject_template, base, "subject.j2", text),
            text,
        )
        self._text = TemplateSlot(
            "email_text.j2", load_override(config.text_template, base, "text.j2", text), text
        )
        self._html = TemplateSlot(
            "email_html.html.j2",
            load_override(config.html_template, base, "body.html.j2", html),
            html,
        )
        # A hand-off notice's mail (the shipped templates only: no incident to override for).
        self._notice = (
            TemplateSlot("handoff_email_subject.j2", None, text),
            TemplateSlot("handoff_email_text.j2", None, text),
            TemplateSlot("handoff_email_html.html.j2", None, html),
        )
        context = ssl_context(config.tls, base)
        self._tls: ssl.SSLContext | None = context if isinstance(context, ssl.SSLContext) else None

    def message(self, notes: Sequence[Notification]) -> tuple[EmailMessage, tuple[str, ...]]:
        """The message for a group of notifications (to one recipient) and the template
        notes (fallbacks)."""
        ctx = group_context(notes)
        slots = (self._subject, self._text, self._html)
        if notes[0].kind == HANDOFF:  # sent alone, never in an incident group
            slots = self._notice
        subject, text, html = (s.render(ctx) for s in slots)
        msg = EmailMessage()
        msg["Subject"] = " ".join(_no_nul(subject.text).split())[:200]
        msg["From"] = self._config.sender
        msg["To"] = ", ".join(_addressees(notes[0]) or self._config.to)
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain="watchd")
        msg["X-Watchd-Idempotency-Keys"] = " ".join(n.idempotency_key for n in notes)
        msg.set_content(_no_nul(text.text))
        msg.add_alternative(_no_nul(html.text), subtype="html")
        return msg, tuple(r.note for r in (subject, text, html) if r.note)

    async def deliver(self, notes: Sequence[Notification]) -> Outcome:
        """One message per recipient: the group's notifications for the configured `to`, and
        for each person paged through this receiver, theirs to their own address. The first
        failure is the outcome (the whole group is tried again: a message that went out may
        go out twice, never none)."""
        outcome = Outcome(True)
        for share in _by_addressee(notes):
            outcome = await self._send(share)
            if not outcome.ok:
                return outcome
        return outcome

    async def _send(self, notes: Sequence[Notification]) -> Outcome:
        msg, template_notes = self.message(notes)
        cfg = self._config
        password = cfg.password.reveal() if cfg.password is not None else None
        try:
            response = await aiosmtplib.send(
                msg,
                hostname=cfg.host,
                port=cfg.port,
                username=cfg.username or None,
                password=password,
                use_tls=cfg.security == "tls",
                start_tls=cfg.security == "starttls",
                tls_context=self._tls,
                timeout=cfg.timeout,
            )
        except aiosmtplib.SMTPResponseException as exc:
            return Outcome(
                False,
                retryable=exc.code not in _PERMANENT or exc.code == 552,
                status=exc.code,
                error=excerpt(f"SMTP {exc.code}: {exc.message}"),
                notes=template_notes,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            return Outcome(
                False, error=excerpt(f"{type(exc).__name__}: {exc}"), notes=template_notes
            )
        _, reply = response
        return Outcome(True, response=excerpt(reply), notes=template_notes)

    async def aclose(self) -> None:
        return None
