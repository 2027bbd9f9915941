"""The report's housekeeping jobs, registered by the composition root like retention:

housekeeping.add(rollup_job(rollup, config.report.rollup_interval))
housekeeping.add(burn_rate_job(monitor, config.report.burn_rate_interval))
"""

from __future__ import annotations

from watchd.housekeeping import Job
from watchd.report.burn import BurnRateMonitor
from watchd.report.rollup import Rollup


def rollup_job(rollup: Rollup, every: float) -> Job:
    """Roll up closed hours and days, and prune hourly rows, every `every` seconds."""
    return Job("report.rollup", rollup.run, every)


def burn_rate_job(monitor: BurnRateMonitor, every: float) -> Job:
    """Evaluate the services' error-budget burn rates every `every` seconds."""
    return Job("report.burn_rate", monitor.evaluate, every)
