"""The receiver registry: one line per receiver kind, nothing discovered at import time.

A receiver is a class with `kind`, a pydantic `Config` model beside it in its module (a
ReceiverBase with its own keys, extra keys forbidden) and `__init__(config, env)` (see
watchd.notify.model.ReceiverClass). The `[[receivers]]` config union, building receivers and
their kind's own config checks all come from here: a new kind is its module, a line here and
its test.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Discriminator, Tag

from watchd.notify.config import ReceiverBase
from watchd.notify.model import ReceiverClass
from watchd.notify.receivers import chat, email, exec, log, mqtt, robots, ticket, webhook

# In the order check-config lists them when a kind is unknown.
REGISTRY: dict[str, ReceiverClass] = {
    log.Log.kind: log.Log,
    webhook.Webhook.kind: webhook.Webhook,
    ticket.Ticket.kind: ticket.Ticket,
    email.Email.kind: email.Email,
    chat.Chat.kind: chat.Chat,
    robots.DingTalk.kind: robots.DingTalk,
    robots.WeCom.kind: robots.WeCom,
    robots.Feishu.kind: robots.Feishu,
    mqtt.Mqtt.kind: mqtt.Mqtt,
    exec.Exec.kind: exec.Exec,
}

BY_CONFIG: dict[type[Any], ReceiverClass] = {cls.Config: cls for cls in REGISTRY.values()}


def _receiver_kind(value: Any) -> str:
    # A table without `kind` is a log receiver (the default one needs no kind).
    if isinstance(value, dict):
        return str(value.get("kind", "log"))
    return str(getattr(value, "kind", "log"))


def _any_receiver() -> Any:
    """The `[[receivers]]` model: the kind's config model, chosen by `kind`."""
    members = tuple(Annotated[cls.Config, Tag(kind)] for kind, cls in REGISTRY.items())
    return Annotated[
        Union[members],  # noqa: UP007  (a tagged union needs the Union spelling)
        Discriminator(
            _receiver_kind,
            custom_error_type="receiver_kind",
            custom_error_message=(
                f"unknown receiver kind (expected one of: {', '.join(REGISTRY)})"
            ),
        ),
    ]


if TYPE_CHECKING:
    AnyReceiver = ReceiverBase
else:
    AnyReceiver = _any_receiver()
