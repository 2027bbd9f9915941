"""Time-based maintenance jobs (APScheduler 3.11 AsyncIOScheduler): sample retention, the
report's rollups and burn-rate evaluation.

Per-check polling has its own timer heap (scheduler.py); jobs here run rarely and at wall-clock
times, which is what APScheduler is for. Later jobs (reports, recurring maintenance windows)
register here the same way: one coroutine, one trigger, one id. The jobs are built here, in the
composition root, so the stages they run (store, report) need not know about housekeeping.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from watchd.clock import Clock
from watchd.durations import format_duration
from watchd.failures import FailureLog
from watchd.logging import get_logger

if TYPE_CHECKING:
    from watchd.notify.handoffs import HandoffNotices
    from watchd.report.burn import BurnRateMonitor
    from watchd.report.rollup import Rollup
    from watchd.store import Store

log = get_logger("watchd.housekeeping")


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    run: Callable[[], Awaitable[Any]]
    every: float  # seconds


class Housekeeping:
    """Owns the APScheduler instance; jobs log their failures once per failing streak.

    Jobs run only while `active()` says so: in a cluster, on the node holding the singleton
    lease (a run that finds it not held is skipped, the next one asks again).
    """

    def __init__(self, *, active: Callable[[], bool] = lambda: True) -> None:
        self._active = active
        self._scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1})
        self._failures = FailureLog(
            log, failing="housekeeping_failed", recovered="housekeeping_recovered"
        )

    def add(self, job: Job) -> None:
        self._scheduler.add_job(
            self._guarded,
            "interval",
            args=[job],
            id=job.id,
            seconds=job.every,
            replace_existing=True,
            misfire_grace_time=int(max(1.0, job.every / 2)),
        )

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def job_ids(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]

    async def _guarded(self, job: Job) -> None:
        if not self._active():
            return
        try:
            await job.run()
        except Exception as exc:  # one failing job must not stop the others
            self._failures.failed(job.id, job=job.id, error=str(exc))
        else:
            self._failures.recovered(job.id, job=job.id)


def retention_job(store: Store, clock: Clock, keep: float, every: float = 3600.0) -> Job:
    """Delete raw availability samples older than `keep` seconds, once per `every`."""

    async def prune() -> int:
        removed = await store.prune_samples(clock.now() - keep)
        if removed:
            log.info("samples_pruned", removed=removed, older_than=format_duration(keep))
        return removed

    return Job("retention.samples", prune, every)


def rollup_job(rollup: Rollup, every: float) -> Job:
    """Roll up closed hours and days, and prune hourly rows, every `every` seconds."""
    return Job("report.rollup", rollup.run, every)


def burn_rate_job(monitor: BurnRateMonitor, every: float) -> Job:
    """Evaluate the services' error-budget burn rates every `every` seconds."""
    return Job("report.burn_rate", monitor.evaluate, every)


def handoff_job(notices: HandoffNotices, every: float) -> Job:
    """Tell the people who came on call, and retry their notices, every `every` seconds."""
    return Job("people.handoffs", notices.run, every)
