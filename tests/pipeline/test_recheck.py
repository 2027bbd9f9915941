"""Children re-checked when their parent recovers: the real scheduler, result processor and
alert pipeline on a fake clock, with scripted checks (issue 12, item 10)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from tests.pipeline.conftest import BASE_CONFIG, Harness
from watchd.config import parse_config
from watchd.loading import incident_settings
from watchd.metrics import Metrics
from watchd.model import CheckContext, CheckResult, Status
from watchd.pipeline import AlertPipeline
from watchd.results import ResultProcessor
from watchd.scheduler import Scheduler

SERVERS = [f"srv{i}" for i in range(5)]


class Script:
    """A check that answers what the test last set for its item."""

    kind: ClassVar[str] = "scripted"

    def __init__(self, answers: dict[str, Status], item: str) -> None:
        self.answers = answers
        self.item = item

    async def collect(self, ctx: CheckContext) -> CheckResult:
        return CheckResult(self.answers[self.item], "scripted")

    async def aclose(self) -> None:
        pass


async def run_outage(harness: Harness, *, servers_back: bool) -> list[str]:
    """The router down at 30 s (its check every 60 s sees it at 60 s), five servers behind it
    down at 70 s (theirs every 90 s: at 90 s); at 200 s the router is back, and the servers too
    if `servers_back`. The router's check sees it at 240 s; the servers' next runs are due at
    270 s. Returns "item kind" of the pager notifications in order."""
    raw = {
        **BASE_CONFIG,
        "check_defaults": {"interval": "60s", "jitter": 0, "max_attempts": 1},
        "items": [
            {"name": "router", "checks": [{"name": "ping", "kind": "ping"}]},
            *(
                {
                    "name": s,
                    "parents": ["router"],
                    "checks": [{"name": "ssh", "kind": "tcp", "port": 22, "interval": "90s"}],
                }
                for s in SERVERS
            ),
        ],
    }
    config = parse_config(raw, Path("test.toml"))
    answers = dict.fromkeys(["router", *SERVERS], Status.OK)
    scheduler: Scheduler | None = None
    pipeline = AlertPipeline(
        harness.store.engine,
        clock=harness.clock,
        settings=incident_settings(config),
        recheck=lambda keys: scheduler.recheck(keys) if scheduler else 0,
    )
    processor = ResultProcessor(
        clock=harness.clock, store=harness.store, metrics=Metrics(), sink=pipeline
    )
    scheduler = Scheduler(clock=harness.clock, handler=processor.handle, max_concurrent=10)
    scheduler.set_checks([(c, Script(answers, c.item)) for c in config.checks()])
    task = asyncio.create_task(scheduler.run())

    async def advance(seconds: int) -> None:
        """Second by second, each second's check runs and their transactions done."""
        for _ in range(seconds):
            await harness.clock.advance(1)
            # The runs' transactions finish in the database driver, in real time.
            while scheduler.running:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            if harness.clock.monotonic() % 5 == 0:  # the incident timers' sweep
                await pipeline.sweep()

    await advance(30)
    answers["router"] = Status.CRITICAL
    await advance(40)
    answers.update(dict.fromkeys(SERVERS, Status.CRITICAL))
    await advance(130)
    answers["router"] = Status.OK
    if servers_back:
        answers.update(dict.fromkeys(SERVERS, Status.OK))
    await advance(300)
    task.cancel()
    incidents = {i["id"]: i["item"] for i in await harness.incidents()}
    return [f"{incidents[i]} {kind}" for i, kind in await harness.notifications("pager")]


async def test_servers_back_just_after_their_router_are_never_paged(harness: Harness) -> None:
    """When the router's check sees it up, the servers' checks run at once and see them up:
    the router's two pages and nothing for the five servers (before: each server opened when
    the router resolved and resolved at its next run, ten false pages)."""
    assert await run_outage(harness, servers_back=True) == ["router opened", "router resolved"]


async def test_servers_still_down_after_their_router_page_once_each(harness: Harness) -> None:
    """Servers whose fresh check still fails after the router's recovery page once each."""
    pages = await run_outage(harness, servers_back=False)
    assert pages[:2] == ["router opened", "router resolved"]
    assert sorted(pages[2:]) == [f"{s} opened" for s in SERVERS]
