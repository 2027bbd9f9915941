"""The chat receiver: a readable message (severity, item, summary, ack link) to a
Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat) or Microsoft Teams
(a MessageCard, or an Adaptive Card for Workflows webhooks).

Alert text is whatever a sender put in labels and annotations, so every value a template
prints is escaped for the flavour's markup: it shows as typed and cannot mention a channel or
add a link (a fake Acknowledge). The template's own text is markup: `<url|label>` is a link
(Slack's syntax; turned into a Markdown link for Teams), and `| safe` prints a value as
markup on purpose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from markupsafe import Markup
from pydantic import Field

from watchd.i18n import translations
from watchd.notify.config import HttpReceiverBase
from watchd.notify.model import HANDOFF, Notification, Outcome, ReceiverEnv
from watchd.notify.receivers.http import HttpClient
from watchd.notify.templates import (
    TemplateSlot,
    context,
    environment,
    heading,
    load_override,
    override_problem,
)


class ChatReceiver(HttpReceiverBase):
    """Slack-compatible incoming webhooks (Slack, Mattermost, Rocket.Chat) or Microsoft Teams."""

    kind: Literal["chat"]
    url: str = Field(pattern=r"^https?://")
    flavor: Literal["slack", "teams", "teams_adaptive"] = "slack"
    template: Path | None = None

    def problems(self, base: Path) -> Iterator[tuple[str, str]]:
        """The template file, when set, must be readable and compile."""
        reason = override_problem(self.template, base, "chat.j2")
        if reason:
            yield "template", reason


_COLOURS = {"critical": "d62728", "error": "d62728", "warning": "ff9900"}

# C0 controls but tab and newline, and DEL: a NUL or escape in a label reaches no chat service.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Mass mentions in Mattermost (@channel, @all, @here) and Rocket.Chat (@all, @here); a word
# joiner after the @ keeps the text and drops the mention.
_MASS_MENTION = re.compile(r"@(?=(?:channel|here|all|everyone)\b)", re.IGNORECASE)
# Stands for "<" in alert text while Slack-style links are turned into Markdown for Teams.
_LT = "\ue000"


def defuse(text: str) -> str:
    """What every flavour needs: no control characters, no mass mention, no Markdown link
    or reference (`[label](url)`, `[label][ref]`, `[ref]: url` need "]" right before)."""
    text = _CONTROLS.sub("\ufffd", text)
    text = _MASS_MENTION.sub("@\u2060", text)
    return text.replace("]", "]\u200b")


def escape_slack(text: str) -> str:
    """Slack mrkdwn (and Mattermost, Rocket.Chat): &, < and > as entities, as Slack asks."""
    return defuse(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def escape_teams(text: str) -> str:
    """Teams: "<" held back until the template's links are Markdown (see `_finish`)."""
    return defuse(text.replace("<", _LT))


ESCAPES = {"slack": escape_slack, "teams": escape_teams, "teams_adaptive": escape_teams}


def _finish(flavor: str, text: str) -> str:
    """The text as the flavour renders it: Slack's `<url|label>` links of the template become
    Markdown links for Teams, then alert text gets its "<" back, as an entity where Teams
    reads HTML (MessageCard: no tag, such as a link, can start in alert text)."""
    if flavor == "slack":
        return text
    text = _plain_links(text)
    return text.replace(_LT, "&lt;" if flavor == "teams" else "<")


def body(
    flavor: str,
    text: str,
    ctx: dict[str, Any],
    labels: tuple[str, str] = ("Acknowledge", "Details"),
    locale: str = "en",
) -> dict[str, Any]:
    """The JSON document each chat flavour expects for `text`; a card's buttons say `labels`
    (acknowledge, details), a hand-off notice's title is in `locale`."""
    incident = ctx["incident"]
    colour = _COLOURS.get(incident.get("severity", ""), "1f77b4")
    if ctx["status"] != "firing":
        colour = "2ca02c"
    escape = ESCAPES.get(flavor, escape_slack)
    if ctx["handoff"]:
        colour = "1f77b4"
        plain = heading(ctx, locale)
        title = _finish(flavor, escape(plain))
    else:
        severity, name = str(incident.get("severity", "")), str(incident.get("title", ""))
        plain = f"[{severity}] {name}"
        title = _finish(flavor, f"[{escape(severity)}] {escape(name)}")
    if flavor == "slack":
        return {"text": text, "attachments": [{"color": f"#{colour}", "fallback": title}]}
    actions = [(labels[0], ctx["ack_url"]), (labels[1], ctx["incident_url"])]
    actions = [(label, url) for label, url in actions if url]
    if flavor == "teams":
        return {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": _CONTROLS.sub("\ufffd", plain),  # plain text, for notifications
            "themeColor": colour,
            "title": title,
            "text": text.replace("\n", "<br>"),
            "potentialAction": [
                {"@type": "OpenUri", "name": label, "targets": [{"os": "default", "uri": url}]}
                for label, url in actions
            ],
        }
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": title, "weight": "Bolder", "wrap": True},
                        {"type": "TextBlock", "text": text, "wrap": True},
                    ],
                    "actions": [
                        {"type": "Action.OpenUrl", "title": label, "url": url}
                        for label, url in actions
                    ],
                },
            }
        ],
    }


class Chat:
    kind = "chat"
    Config = ChatReceiver
    batch = False

    def __init__(self, config: ChatReceiver, env: ReceiverEnv) -> None:
        self.name = config.name
        self._config = config
        self._http = HttpClient(config, clock=env.clock, base=env.base)
        markup = environment(escape=ESCAPES[config.flavor], locale=env.locale)
        self._template = TemplateSlot(
            "chat.j2", load_override(config.template, env.base, "chat.j2", markup), markup
        )
        self._notice = TemplateSlot("handoff_chat.j2", None, markup)
        self._locale = env.locale
        _ = translations(env.locale).gettext  # the card buttons speak the templates' language
        self._labels = (_("Acknowledge"), _("Details"))

    async def deliver(self, notes: Sequence[Notification]) -> Outcome:
        (note,) = notes
        ctx = context(note)
        # A page to a person mentions them: their contact's address is the flavour's markup
        # for it ("<@U024BE7LH>" on Slack, "@alice" on Mattermost), from the config, so it
        # is printed as it is.
        ctx["mention"] = Markup(ctx["recipient"].get("address", ""))
        slot = self._notice if note.kind == HANDOFF else self._template
        rendered = slot.render(ctx)
        text = _finish(self._config.flavor, rendered.text)
        doc = body(self._config.flavor, text, ctx, self._labels, self._locale)
        outcome, _ = await self._http.request(
            "POST",
            self._config.url,
            body=json.dumps(doc).encode(),
            headers={"Content-Type": "application/json"},
        )
        if rendered.note:
            return Outcome(
                outcome.ok,
                retryable=outcome.retryable,
                status=outcome.status,
                response=outcome.response,
                error=outcome.error,
                retry_after=outcome.retry_after,
                notes=(rendered.note,),
            )
        return outcome

    async def aclose(self) -> None:
        await self._http.aclose()


def _plain_links(text: str) -> str:
    return re.sub(r"<([^|>]+)\|([^>]+)>", r"[\2](\1)", text)
