"""Receivers built from their config, one module per kind."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.clock import Clock
from watchd.notify.config import (
    AnyReceiver,
    ChatReceiver,
    EmailReceiver,
    ExecReceiver,
    LogReceiver,
    MqttReceiver,
    TicketReceiver,
    WebhookReceiver,
)
from watchd.notify.model import Receiver
from watchd.notify.receivers.chat import Chat
from watchd.notify.receivers.email import Email
from watchd.notify.receivers.exec import Exec
from watchd.notify.receivers.log import Log
from watchd.notify.receivers.mqtt import Mqtt
from watchd.notify.receivers.ticket import Ticket
from watchd.notify.receivers.webhook import Webhook


def build_receiver(
    config: AnyReceiver, *, clock: Clock, base: Path, engine: AsyncEngine | None
) -> Receiver:
    """The receiver for one `[[receivers]]` table; relative paths are taken from `base`."""
    config = anchored(config, base)
    if isinstance(config, LogReceiver):
        return Log(config)
    if isinstance(config, WebhookReceiver):
        return Webhook(config, clock=clock, base=base)
    if isinstance(config, TicketReceiver):
        return Ticket(config, clock=clock, base=base, engine=engine)
    if isinstance(config, EmailReceiver):
        return Email(config, base=base)
    if isinstance(config, ChatReceiver):
        return Chat(config, clock=clock, base=base)
    if isinstance(config, MqttReceiver):
        return Mqtt(config, base=base)
    assert isinstance(config, ExecReceiver)
    return Exec(config, base=base)


def build_receivers(
    configs: Sequence[AnyReceiver], *, clock: Clock, base: Path, engine: AsyncEngine | None
) -> dict[str, Receiver]:
    return {c.name: build_receiver(c, clock=clock, base=base, engine=engine) for c in configs}


M = TypeVar("M", bound=BaseModel)


def anchored(model: M, base: Path) -> M:
    """`model` with every relative path in it (secrets, TLS files, templates) under `base`."""
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, Path) and not value.is_absolute():
            update[name] = base / value
        elif isinstance(value, BaseModel):
            update[name] = anchored(value, base)
    return model.model_copy(update=update) if update else model
