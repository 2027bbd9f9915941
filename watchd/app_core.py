"""The paging core, wired once for the daemon and for `watchd test-paging`:

  Scheduler ─► ResultProcessor ─► BufferedSink ─► AlertPipeline ─► outbox ─► Dispatcher
      ▲             │ samples ─► RuleService ─┘        ▲ IncidentTimers     (receivers)
      │                                                ▲ IncidentService (operator actions)
      └─ recheck: a parent recovered, its children's checks run now ─┘
  LoopLag (event-loop stalls) ─► Scheduler (overloaded runs are UNKNOWN) ─► OverloadAlarm
  Sharding (cluster/sharding.py): the checks this node owns ─► Scheduler; their states handed
      over through the store (ResultProcessor, RuleService); unserved zones ─► BufferedSink

The daemon (watchd/app.py) adds what only a running process has around it (the API, MQTT and
SNMP ingestion, housekeeping, systemd); the paging tests (watchd/paging) run the same core on
a fake clock with scripted collectors and capturing receivers, so what they test is what runs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchd.check_config import ResolvedCheck
from watchd.clock import Clock
from watchd.cluster.model import ClusterView, NodeView
from watchd.cluster.sharding import Sharding
from watchd.config import Config
from watchd.heartbeats import PingSource
from watchd.loading import Setup, incident_settings, notify_router
from watchd.metrics import Metrics
from watchd.metrics_flow import CountedSink
from watchd.model import Collector
from watchd.notify.dispatcher import RESCAN_DELAY, Dispatcher
from watchd.notify.installed import ReceiverBuilder
from watchd.overload import LagSource, LoopLag, OverloadAlarm
from watchd.pipeline import AlertPipeline
from watchd.pipeline.actions import IncidentService
from watchd.pipeline.buffer import BufferedSink
from watchd.pipeline.timers import IncidentTimers
from watchd.results import ResultProcessor
from watchd.rules import RuleEngine
from watchd.rules.service import RuleService
from watchd.scheduler import Scheduler
from watchd.store import Store
from watchd.store.heartbeat_pings import read_pings


@dataclass(frozen=True, slots=True)
class Core:
    """The components that turn check results and alerts into incidents and notifications."""

    store: Store
    pipeline: AlertPipeline
    sink: BufferedSink
    timers: IncidentTimers
    dispatcher: Dispatcher
    processor: ResultProcessor
    rules: RuleService
    scheduler: Scheduler
    sharding: Sharding  # which of the checks the scheduler runs: those this node owns
    loop_lag: LoopLag | None  # the loop probe; None where `build_core` was given a lag source
    alarm: OverloadAlarm
    incidents: IncidentService
    restored: int  # check states restored from the store

    def loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        """The core's background loops by task name, for the caller's TaskGroup."""
        loops = {
            "watchd.scheduler": self.scheduler.run(),
            "watchd.store": self.store.run_writer(),
            "watchd.alert-retry": self.sink.run(),
            "watchd.rules": self.rules.run(),
            "watchd.incidents": self.timers.run(),
            "watchd.outbox": self.dispatcher.run(),
            "watchd.overload": self.alarm.run(),
            "watchd.sharding": self.sharding.run(),
        }
        if self.loop_lag is not None:
            loops["watchd.looplag"] = self.loop_lag.run()
        return loops

    def reconfigure(self, config: Config) -> None:
        """Apply a reloaded config to the incident core and the dispatcher."""
        router = notify_router(config)
        settings = incident_settings(config, router)
        self.pipeline.reconfigure(settings)
        self.dispatcher.reconfigure(
            config.receivers, config.notify, router, settings, config.daemon.locale
        )


async def build_core(
    setup: Setup,
    store: Store,
    *,
    clock: Clock,
    metrics: Metrics,
    base: Path,
    checks: Sequence[tuple[ResolvedCheck, Collector]] | None = None,
    receivers: ReceiverBuilder | None = None,
    rescan_delay: float = RESCAN_DELAY,
    rng: random.Random | None = None,
    lag: LagSource | None = None,
    singleton: Callable[[], bool] = lambda: True,
    view: ClusterView | None = None,
    joining: bool = False,
) -> Core:
    """Build the core from `setup` on `store`, restoring check and rule states.

    `checks` replaces the setup's collectors, `receivers` builds the receivers (default: the
    real ones), `rescan_delay` and `rng` go to the dispatcher and the scheduler (see them),
    `lag` replaces the event-loop probe (a simulation's scripted lag: a fake clock never
    falls behind). The incident timers run only while `singleton()` (the cluster's lease).
    `view` is the cluster's first view, which decides the checks this node starts with
    (default: this node alone, owning every check of its zones). `joining` (the daemon)
    schedules no check yet: the first view comes from membership's join (`core.sharding.apply`).
    """
    config = setup.config
    # One route tree picks an incident's receivers (incidents) and drives delivery (notify).
    router = notify_router(config)
    settings = incident_settings(config, router)
    # Symptoms whose parent recovered wait for fresh results of their checks: the pipeline
    # asks the scheduler (built below, as it feeds the pipeline) to run them now.
    pipeline = AlertPipeline(
        store.engine,
        clock=clock,
        settings=settings,
        recheck=lambda keys: scheduler.recheck(keys),
    )
    # watchd's own producers (checks, rules, traps) have no sender to retry for them;
    # HTTP and MQTT ingestion call the pipeline directly so their senders retry.
    sink = BufferedSink(CountedSink(pipeline, metrics.flow), clock=clock)
    dispatcher = Dispatcher(
        store.engine,
        clock=clock,
        receivers=config.receivers,
        notify=config.notify,
        router=router,
        settings=settings,
        sink=sink,
        base=base,
        rand=rng,
        build=receivers,
        rescan_delay=rescan_delay,
        count=metrics.flow.count_notifications,
        locale=config.daemon.locale,
        sole=store.sole_process,
    )
    processor = ResultProcessor(clock=clock, store=store, metrics=metrics, sink=sink)
    restored = await processor.restore()
    rules = RuleService(
        RuleEngine(
            setup.rules,
            clock=clock,
            flap=config.rules.flap_policy(),
            node=config.cluster.node_name,
        ),
        sink=sink,
        store=store,
        clock=clock,
        interval=config.rules.evaluation_interval,
    )
    await rules.restore()
    processor.add_observer(rules.observe)
    # Overload: the loop probe tells the scheduler when a run measured watchd, not its
    # target; the alarm is one more self-monitoring back edge into the BufferedSink.
    overload_lag = config.daemon.overload_lag
    loop_lag = None
    if lag is None:
        lag = loop_lag = LoopLag(clock, threshold=overload_lag, gauge=metrics.set_loop_lag)
    alarm = OverloadAlarm(sink, clock=clock, lag=lag, threshold=overload_lag)
    scheduler = Scheduler(
        clock=clock,
        handler=processor.handle,
        max_concurrent=config.daemon.max_concurrent_checks,
        rng=rng,
        lag=lag,
        overload_lag=overload_lag,
        alarm=alarm,
        # Heartbeat checks read the pings any node's API stored for them.
        pings=PingSource(
            read=lambda key: read_pings(store.engine, key), now=clock.now, started_at=clock.now()
        ),
    )
    sharding = Sharding(
        setup.collectors if checks is None else checks,
        scheduler=scheduler,
        processor=processor,
        rules=rules,
        sink=sink,
        clock=clock,
        handover_delay=config.cluster.heartbeat_interval,
    )
    if not joining:
        await sharding.apply(view or single_node_view(config))
    return Core(
        store=store,
        pipeline=pipeline,
        sink=sink,
        timers=IncidentTimers(pipeline, clock=clock, active=singleton),
        dispatcher=dispatcher,
        processor=processor,
        rules=rules,
        scheduler=scheduler,
        sharding=sharding,
        loop_lag=loop_lag,
        alarm=alarm,
        incidents=IncidentService(store.engine, clock=clock, settings=lambda: pipeline.settings),
        restored=restored,
    )


def single_node_view(config: Config) -> ClusterView:
    """The view of a node alone (SQLite, or before membership has seen the others)."""
    me = NodeView(config.cluster.node_name, frozenset(config.cluster.zones))
    return ClusterView(me=me.name, live=(me,), epoch=0)
