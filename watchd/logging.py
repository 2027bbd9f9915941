"""Logging setup: structlog for watchd's own lines, the stdlib's loggers routed through it.

One handler on the root logger renders every record, from structlog or from a library
(aiohttp, sqlalchemy, alembic, ...), with the same renderer:

- on a terminal (or `fmt="console"`): structlog's console renderer, for people;
- otherwise (`fmt="json"`, or `auto` under systemd): one JSON object per line with
  `timestamp` (ISO 8601, UTC), `level`, `event`, `logger` and the bound fields, for journald
  and log shippers.

watchd's loggers (`watchd.*`, `collectors.*`) log at the configured level; libraries log at
WARNING and above only. Values of keys that look like credentials are replaced by
`[REDACTED]` as a second line of defence: secrets are never passed to a logger on purpose.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, Literal, TextIO, cast

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

Format = Literal["auto", "console", "json"]

REDACTED = "[REDACTED]"
# Our own loggers follow the configured level; everything else (libraries) is kept at WARNING.
OWN_LOGGERS = ("watchd", "collectors")
LIBRARY_LEVEL = logging.WARNING

_SECRET_KEY = re.compile(r"token|passw|secret|authorization|api[_-]?key|cookie", re.IGNORECASE)
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


class _WatchdHandler(logging.StreamHandler[TextIO]):
    """The handler configure_logging installs; marked by its class so a second call replaces it."""


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Replace values of credential-like keys (token, password, secret, authorization, ...)."""
    return cast(EventDict, _redact(event_dict))


def _redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and key != "event" and _SECRET_KEY.search(key)
            else _redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact(item) for item in value)
    return value


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        redact_secrets,
    ]


def _renderer(fmt: Format, stream: TextIO) -> list[Processor]:
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    if fmt == "console":
        return [structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    return [
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(default=str),
    ]


def configure_logging(
    level: str = "info", fmt: Format = "auto", *, stream: TextIO | None = None
) -> None:
    """Route structlog and stdlib logging to `stream` (stderr by default) in one format.

    Calling it again (on reload, or in tests) replaces the previous setup instead of adding
    a second handler.
    """
    try:
        own_level = _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(
            f"log level {level!r} is not one of {', '.join(_LEVELS)}; pick one of those"
        ) from None
    out = stream if stream is not None else sys.stderr

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a logger created at import time must follow a later reconfiguration,
        # and watchd logs transitions, not a line per check, so the saving would be small.
        cache_logger_on_first_use=False,
    )
    handler = _WatchdHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *_renderer(fmt, out),
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _WatchdHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    # The root level gates libraries; watchd's own loggers get the configured level.
    root.setLevel(LIBRARY_LEVEL)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(own_level)


def get_logger(name: str, **initial: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger named `name` (use the module's `__name__`), with fields bound."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger.bind(**initial) if initial else logger
