"""Which event loop the daemon runs on: uvloop when it is installed, else asyncio's own.

uvloop (libuv, Cython) runs the same asyncio code with cheaper socket and timer handling: on
`watchd run` with 1,000 HTTP checks every 2 s it took the daemon's CPU per check from 0.69 to
0.56 ms (bench/README.md). It is an optional extra (`uvloop`), installed
by the production install in README.md; `watchd run --event-loop asyncio` opts out, e.g. to
rule it out when a problem shows.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from typing import Literal

from watchd.extras import install_hint

EventLoopChoice = Literal["auto", "uvloop", "asyncio"]
CHOICES: tuple[EventLoopChoice, ...] = ("auto", "uvloop", "asyncio")


class EventLoopUnavailable(Exception):
    """uvloop was asked for and is not installed."""


def loop_factory(choice: EventLoopChoice) -> Callable[[], asyncio.AbstractEventLoop]:
    """The factory for asyncio.Runner: uvloop's for "uvloop" (EventLoopUnavailable when it is
    not installed) and for "auto" when installed, asyncio's default otherwise."""
    if choice == "asyncio":
        return asyncio.new_event_loop
    if importlib.util.find_spec("uvloop") is None:
        if choice == "uvloop":
            raise EventLoopUnavailable(
                f"--event-loop uvloop: uvloop is not installed ({install_hint('uvloop')})"
            )
        return asyncio.new_event_loop
    import uvloop

    return uvloop.new_event_loop


def running_loop_name() -> str:
    """ "uvloop" or "asyncio": the implementation of the running loop, for the started line."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"


def default_loop_description() -> str:
    """The loop `watchd run` picks by default, with uvloop's version: "uvloop 0.21.0" or
    "asyncio" (for `watchd --version`)."""
    if importlib.util.find_spec("uvloop") is None:
        return "asyncio"
    from importlib import metadata

    return f"uvloop {metadata.version('uvloop')}"
