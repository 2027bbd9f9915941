"""Typed keys for what create_app stores on the application, read by the handlers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from watchd.metrics import Metrics

METRICS = web.AppKey("watchd.metrics", Metrics)
ITEMS = web.AppKey[Callable[[], list[dict[str, Any]]]]("watchd.items")
READY = web.AppKey[Callable[[], bool]]("watchd.ready")
NOT_READY = web.AppKey[Callable[[], str | None]]("watchd.not-ready")
