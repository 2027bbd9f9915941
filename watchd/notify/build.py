"""Receivers built from their config, through the registry (one module per kind)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from watchd.clock import Clock
from watchd.notify.model import Receiver, ReceiverEnv
from watchd.notify.receivers import BY_CONFIG, AnyReceiver


def build_receiver(
    config: AnyReceiver,
    *,
    clock: Clock,
    base: Path,
    engine: AsyncEngine | None,
    locale: str = "en",
) -> Receiver:
    """The receiver for one `[[receivers]]` table; relative paths are taken from `base`, its
    default templates speak `locale`."""
    env = ReceiverEnv(clock, base, engine, locale)
    return BY_CONFIG[type(config)](anchored(config, base), env)


def build_receivers(
    configs: Sequence[AnyReceiver],
    *,
    clock: Clock,
    base: Path,
    engine: AsyncEngine | None,
    locale: str = "en",
) -> dict[str, Receiver]:
    """The receivers of the `[[receivers]]` tables, by name."""
    return {
        c.name: build_receiver(c, clock=clock, base=base, engine=engine, locale=locale)
        for c in configs
    }


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
