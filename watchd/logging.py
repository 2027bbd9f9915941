"""Logging setup: structlog for watchd's own lines, the stdlib's loggers routed through it.

One handler on the root logger renders every record, from structlog or from a library
(aiohttp, sqlalchemy, alembic, ...), with the same renderer:

- on a terminal (or `fmt="console"`): structlog's console renderer, for people;
- otherwise (`fmt="json"`, or `auto` under systemd): one JSON object per line with
  `timestamp` (ISO 8601, UTC), `level`, `event`, `logger` and the bound fields, for journald
  and log shippers. When the stream is journald's own (systemd's `JOURNAL_STREAM` names it),
  each JSON line starts with its syslog priority (`<4>` for a warning, sd-daemon(3)), which
  journald strips and keeps as the entry's priority, so `journalctl -p warning` filters.

watchd's loggers (`watchd.*`, `collectors.*`) log at the configured level; libraries log at
WARNING and above only. Values of keys that look like credentials are replaced by
`[REDACTED]` as a second line of defence: secrets are never passed to a logger on purpose.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from functools import lru_cache
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
# syslog priorities (sd-daemon(3) prefixes) of structlog's level names.
_PRIORITIES = {"debug": 7, "info": 6, "warning": 4, "error": 3, "critical": 2}
_NOTICE = 5  # a level without a name above (none is expected): between info and warning


class _NamedWriteLogger(structlog.WriteLogger):
    """structlog's line writer (write + flush per line), with the name `add_logger_name` reads."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


class _WatchdHandler(logging.StreamHandler[TextIO]):
    """The handler configure_logging installs; marked by its class so a second call replaces it."""


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Replace values of credential-like keys (token, password, secret, authorization, ...)."""
    return cast(EventDict, _redact(event_dict))


def _redact(value: Any) -> Any:
    # Plain values first: most values of most lines are, and the Mapping check is slow.
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping):
        return {
            key: REDACTED if isinstance(key, str) and _is_secret(key) else _redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(_redact(item) for item in value)
    return value


_PLAIN = (str, int, float, type(None))


@lru_cache(maxsize=4096)
def _is_secret(key: str) -> bool:
    # Keys repeat line after line (and label names alert after alert): each is matched once.
    return key != "event" and _SECRET_KEY.search(key) is not None


def _shared_processors() -> list[Processor]:
    """What every line gets, watchd's own and the libraries' (stdlib) alike."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        redact_secrets,
    ]


def is_journal_stream(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether `stream` is connected to journald: systemd sets `JOURNAL_STREAM=DEV:INODE` for a
    service whose output goes to the journal, and the stream's file is that one (systemd.exec(5)
    says to compare, as a child may have redirected its output, or inherited the variable)."""
    dev, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    try:
        expected = (int(dev), int(inode))
        found = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        # No (or a malformed) variable, or no file behind the stream (a StringIO).
        return False
    return (found.st_dev, found.st_ino) == expected


def _with_priority(render: structlog.processors.JSONRenderer) -> Processor:
    """`render`, with the line prefixed by `<N>`, the syslog priority of its level."""

    def prefixed(logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
        priority = _PRIORITIES.get(str(event_dict.get("level", "")), _NOTICE)
        # json.dumps, the renderer's serializer here, gives str (bytes only from orjson).
        line = cast(str, render(logger, method, event_dict))
        return f"<{priority}>{line}"

    return prefixed


def _renderer(fmt: Format, stream: TextIO) -> list[Processor]:
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    if fmt == "console":
        return [structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    json_lines = structlog.processors.JSONRenderer(default=str)
    render = _with_priority(json_lines) if is_journal_stream(stream) else json_lines
    return [structlog.processors.format_exc_info, render]


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
    renderer = _renderer(fmt, out)

    # watchd's own lines go straight from structlog to the stream, one write and flush each:
    # through the stdlib (two LogRecords per line) a line cost twice as much, and a burst
    # of new alerts logs one line per alert.
    structlog.configure(
        processors=[*_shared_processors(), *renderer],
        wrapper_class=structlog.make_filtering_bound_logger(own_level),
        logger_factory=lambda name="": _NamedWriteLogger(out, name),
        # Not cached: a logger created at import time must follow a later reconfiguration.
        cache_logger_on_first_use=False,
    )
    handler = _WatchdHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _WatchdHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    # The root level gates libraries; stdlib loggers of watchd's own get the configured level.
    root.setLevel(LIBRARY_LEVEL)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(own_level)


def get_logger(name: str, **initial: Any) -> structlog.typing.FilteringBoundLogger:
    """A structlog logger named `name` (use the module's `__name__`), with fields bound.

    The name is the `logger` field of each line, as for the stdlib loggers of libraries.
    """
    # Lazy: the logger follows whatever configure_logging set up when it is used.
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name, **initial)
    return logger


def debug_enabled(name: str) -> bool:
    """Whether logger `name` (one of watchd's own) writes debug lines: configure_logging gives
    the stdlib loggers of watchd the level it gives structlog's (structlog's own
    `is_enabled_for` is not in every structlog watchd supports)."""
    return logging.getLogger(name).isEnabledFor(logging.DEBUG)
