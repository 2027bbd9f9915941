"""The composition root: builds every component from Config and runs them in one TaskGroup.

  polling                                          ingestion (outside senders)
  Scheduler ─► collectors ─► ResultProcessor       POST /api/v2/alerts, /api/v1/events
   (registry)                 │ SOFT/HARD, flap      (api/ingest.py)
                              │                    MQTT topics (ingest/mqtt.py)
                              │ samples ─► Store ─► rollups, reports        │ direct: a failing
                              │ metrics ─► /metrics                         │ store is a 503 or no
                              │ samples ─► RuleService                      │ PUBACK: the sender
                              │                 │                           │ retries
                              │ alerts          │ alerts                    │
  SNMP traps (ingest/snmptrap.py) ─ alerts ─┐   │                           │
                              ▼             ▼   ▼                           │
                  BufferedSink: retries for watchd's own producers          │
                              ▼                                             ▼
      AlertPipeline (pipeline/): dedup ─► mute ─► correlate ─► incidents (ledger) ─► outbox rows
          ▲ IncidentTimers (pipeline/timers.py): expire, sweep, escalation + SLA     │ one commit
          ▲ IncidentService (pipeline/actions.py): ack, resolve, silence, change     ▼
                                                    Dispatcher (notify/) ─► receivers, delivery log
  self-monitoring back edges, as alerts into BufferedSink:
      Dispatcher ─► NotificationsFailing (a receiver failing, a notification expired)
      BurnRateMonitor (report/burn.py, a housekeeping job) ─► ErrorBudgetBurn
      OverloadAlarm (overload.py: loop stalls, withheld and late runs) ─► PollerOverloaded
  AlertPipeline ─► Scheduler.recheck: a parent recovered, its children's checks run now
  housekeeping (APScheduler): retention, rollups, burn rate
  signals: SIGTERM/SIGINT drain and stop · SIGHUP reload (a broken config keeps the old one)
  systemd: READY=1, STATUS=, WATCHDOG=1 from the loop, RELOADING=1, STOPPING=1

This is the only module that wires components together (DESIGN.md §2); the layers it wires, top
to bottom, are listed in README.md ("Architecture") and pinned by tests/test_layers.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import platform
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from watchd.api import (
    ApiStartError,
    create_app,
    dashboard,
    review_pages,
    service_pages,
    start_api,
    work_pages,
)
from watchd.api import ack as ack_routes
from watchd.api import alertmanager as am_routes
from watchd.api import cluster as cluster_routes
from watchd.api import deliveries as delivery_routes
from watchd.api import heartbeat as heartbeat_routes
from watchd.api import incidents as incident_routes
from watchd.api import ingest as http_ingest
from watchd.api import oncall as oncall_routes
from watchd.api import reports as report_routes
from watchd.api import reviews as review_routes
from watchd.api import runbooks as runbook_routes
from watchd.api import status as status_routes
from watchd.api.am_config import alertmanager_config
from watchd.api.config import ApiConfig
from watchd.api.oncall import OncallSource
from watchd.api.openapi import package_version
from watchd.api.reports import ReportSource
from watchd.app_core import Core, build_core
from watchd.clock import Clock, SystemClock
from watchd.cluster.membership import Membership, NodeNameTaken
from watchd.cluster.metrics import ClusterMetrics
from watchd.cluster.remote import RemoteStates
from watchd.cluster.status import read_status
from watchd.config import Config
from watchd.configbase import ConfigError
from watchd.durations import format_duration
from watchd.eventloop import running_loop_name
from watchd.failures import FailureLog
from watchd.housekeeping import (
    Housekeeping,
    burn_rate_job,
    handoff_job,
    retention_job,
    rollup_job,
)
from watchd.incidents.reach import teams_reached
from watchd.ingest.journal import IngestJournal
from watchd.ingest.mqtt import MqttIngest
from watchd.ingest.snmptrap import SnmpTrapReceiver
from watchd.loading import Setup, load_setup, report_catalog
from watchd.logging import configure_logging, get_logger
from watchd.metrics import Metrics
from watchd.metrics_flow import CountedSink
from watchd.model import Collector
from watchd.notify.handoffs import HandoffNotices
from watchd.notify.outbox import backlog as outbox_backlog
from watchd.people.passwords import Account
from watchd.pipeline.reviews import ReviewService
from watchd.report.burn import BurnRateMonitor
from watchd.report.rollup import Rollup
from watchd.sdnotify import SystemdNotifier
from watchd.store import Store, StoreError, StoreLocked
from watchd.store.committed import on_commit
from watchd.store.heartbeat_pings import record_ping

log = get_logger("watchd")

# Stopping may take `daemon.shutdown_grace` (running checks finish) plus this, then the
# process exits anyway (`_stop_deadline`); systemd's TimeoutStopSec (30s in the shipped
# unit) must be longer than both.
STOP_MARGIN = 10.0
STOP_SAVE_TIMEOUT = 3.0  # seconds the state saves may take on a forced stop
# Seconds the stop's save of the rule states may take: what the series decide on goes first,
# then the windows and flap histories that only moved since the last steady save (at 5,000
# SNMP devices, 80,000 series: seconds on a busy machine), so the stop keeps its deadline.
STOP_RULES_SAVE = STOP_MARGIN / 2


class Daemon:
    """The running watchd: `run()` returns the process exit code."""

    def __init__(self, config_path: Path, *, clock: Clock | None = None) -> None:
        self.config_path = config_path
        self.clock = clock or SystemClock()
        self.notifier = SystemdNotifier()
        self.metrics = Metrics()
        self._stop = asyncio.Event()
        self._ready = False
        self._started = 0.0
        self._reloads = 0
        self._background: set[asyncio.Task[None]] = set()
        self._deadline: asyncio.Task[None] | None = None
        self._overdue = False
        self._heartbeats: dict[str, str | None] = {}  # heartbeat check key -> its secret
        self._runbooks: dict[str, Path] = {}  # Markdown runbook name -> its file
        self._accounts: dict[str, Account] = {}  # users who may sign in with a password

    async def run(self) -> int:
        try:
            setup = load_setup(self.config_path)
        except ConfigError as exc:
            configure_logging()
            for line in exc.lines():
                log.error("config_problem", problem=line)
            return 2
        config = setup.config
        configure_logging(config.daemon.log_level, config.daemon.log_format)
        for warning in setup.warnings:
            log.warning("config_warning", warning=warning)
        self.config = config
        self._heartbeats = setup.heartbeats
        self._runbooks = setup.runbooks
        self._accounts = setup.accounts
        self._started = self.clock.monotonic()
        self.metrics.set_build_info(
            version=package_version(),
            python=platform.python_version(),
            event_loop=running_loop_name(),
        )
        try:
            store = await Store.open(
                config.store_url(),
                clock=self.clock,
                batch_size=config.store.batch_size,
                flush_interval=config.store.flush_interval,
                on_flush=self.metrics.observe_store_write,
                sqlite_sync=config.store.sqlite_sync,
                claim=True,
                node=config.cluster.node_name,
            )
        except StoreLocked as exc:
            log.error("store_locked", path=str(exc.path), holder=exc.holder, error=str(exc))
            return 1
        except StoreError as exc:
            log.error("store_unavailable", store=_safe_url(config.store_url()), error=str(exc))
            return 1
        self.store = store
        self.metrics.watch_store_file(lambda: store.file_lost() is not None)
        # Singleton work (incident timers, housekeeping) runs only under the cluster's lease.
        self.membership = membership = Membership(
            store.engine,
            config.cluster,
            clock=self.clock,
            checks_owned=lambda: self.core.sharding.owned_count(),
            api=config.api.listen if config.api.enabled else "",
            metrics=ClusterMetrics(self.metrics.registry),
        )
        core = await build_core(
            setup,
            store,
            clock=self.clock,
            metrics=self.metrics,
            base=self.config_path.parent,
            singleton=membership.lease.held,
            joining=True,
        )
        self.core = core
        # The checks this node polls follow the live set, from the first view (at join) on.
        membership.on_change(core.sharding.apply)
        # HTTP ingestion journals while the pipeline is busy (watchd.ingest.journal); the rows
        # a dead node left are taken over by a live one.
        self.journal = journal = IngestJournal(
            store.engine,
            CountedSink(core.pipeline, self.metrics.flow, "http"),
            clock=self.clock,
            node=config.cluster.node_name,
            shared=not membership.single_node,
            max_lag=config.ingest.max_lag,
            max_backlog=config.ingest.max_backlog,
        )
        self.metrics.flow.watch_ingest_journal(lambda: journal.backlog, journal.lag)
        if not membership.single_node:
            membership.on_change(lambda view: journal.adopt([node.name for node in view.live]))
        self.remote = RemoteStates(store, clock=self.clock, elsewhere=core.sharding.elsewhere)
        pipeline, scheduler = core.pipeline, core.scheduler
        self.scheduler, self.processor, self.rules = scheduler, core.processor, core.rules
        self.metrics.watch_checks_scheduled(lambda: scheduler.check_count)
        self.metrics.flow.watch_outbox(lambda: outbox_backlog(store.engine, self.clock.now()))
        on_commit(store.engine, self.metrics.flow.count_incidents)
        housekeeping = Housekeeping(active=membership.lease.held)
        housekeeping.add(retention_job(store, self.clock, config.store.sample_retention))
        self.catalog = report_catalog(config)
        rollup = Rollup(store.engine, clock=self.clock, catalog=lambda: self.catalog)
        housekeeping.add(rollup_job(rollup, config.report.rollup_interval))
        burn = BurnRateMonitor(
            store.engine,
            clock=self.clock,
            catalog=lambda: self.catalog,
            sink=core.sink,
            # Re-sent at each evaluation; should watchd stop, they end after three missed ones.
            valid_for=3 * config.report.burn_rate_interval,
        )
        housekeeping.add(burn_rate_job(burn, config.report.burn_rate_interval))
        notices = HandoffNotices(
            store.engine,
            clock=self.clock,
            people=lambda: self.config.people(),
            installed=lambda: core.dispatcher.installed,
            locale=lambda: self.config.daemon.locale,
        )
        housekeeping.add(handoff_job(notices, config.incidents.timer_interval))
        runner = None
        try:
            try:
                await membership.join()
            except NodeNameTaken as exc:
                node = exc.node
                log.error(
                    "cluster_node_name_taken",
                    node=node.name,
                    host=node.host,
                    pid=node.pid,
                    last_heartbeat_age=round(node.age, 1),
                    error=str(exc),
                )
                return 1
            except StoreError as exc:
                log.error("store_unavailable", store=_safe_url(config.store_url()), error=str(exc))
                return 1
            try:
                await journal.recover(every_node=membership.single_node)
            except StoreError as exc:
                log.error("store_unavailable", store=_safe_url(config.store_url()), error=str(exc))
                return 1
            if config.api.enabled:
                app = self._api(setup, core)
                try:
                    runner = await start_api(
                        app,
                        config.api.host,
                        config.api.port,
                        max_connections=config.api.max_connections,
                        header_timeout=config.api.header_timeout,
                    )
                except ApiStartError as exc:
                    log.error("api_not_started", error=str(exc))
                    return 1
            self._install_signals()
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(loop, name=name) for name, loop in core.loops().items()]
                tasks += [
                    tg.create_task(self._persist_loop(), name="watchd.states"),
                    tg.create_task(self._heartbeat_loop(), name="watchd.heartbeat"),
                    tg.create_task(store.watch_file(), name="watchd.store-file"),
                ]
                heartbeat = tg.create_task(membership.run(), name="watchd.cluster")
                tasks.append(tg.create_task(self.remote.run(), name="watchd.remote-states"))
                tasks.append(heartbeat)
                if config.mqtt_ingest.enabled:
                    mqtt = MqttIngest(
                        config.mqtt_ingest,
                        sink=CountedSink(pipeline, self.metrics.flow, "mqtt"),
                        clock=self.clock,
                        resolve_timeout=config.incidents.resolve_timeout,
                    )
                    self._watch_mqtt(mqtt)
                    tasks.append(tg.create_task(mqtt.run(), name="watchd.mqtt-ingest"))
                if config.snmp_traps.enabled:
                    traps = SnmpTrapReceiver(
                        config.snmp_traps,
                        core.sink,
                        items_by_address={i.address: i.name for i in config.items if i.address},
                        clock=self.clock,
                    )
                    self._watch_traps(traps)
                    tasks.append(tg.create_task(traps.run(), name="watchd.snmptrap"))
                    await traps.wait_ready()
                housekeeping.start()
                tune_garbage_collection()
                self._ready = True
                log.info(
                    "started",
                    config=str(self.config_path),
                    checks=scheduler.check_count,
                    restored_states=core.restored,
                    rules=len(setup.rules.rules),
                    store=_safe_url(config.store_url()),
                    api=config.api.listen if config.api.enabled else "disabled",
                    dashboard=config.api.dashboard_url if config.api.enabled else "disabled",
                    # "none": anyone who reaches the API reads, injects, silences and acks.
                    api_auth=_api_auth(config.api),
                    event_loop=running_loop_name(),
                )
                self.notifier.ready(self._status_line())
                await self._stop.wait()
                self._ready = False
                self.notifier.stopping()
                # Leave first, so the others take over this node's checks and leases at once;
                # the heartbeat must be over, or it would write the row back. Before leaving,
                # the checks are handed over with their latest states saved: the others load
                # them as soon as they see the leave.
                heartbeat.cancel()
                await asyncio.wait({heartbeat})
                if not membership.single_node:
                    await core.sharding.hand_over()
                await membership.leave()
                cancelled = await scheduler.stop(config.daemon.shutdown_grace)
                for task in tasks:
                    task.cancel()
        finally:
            housekeeping.shutdown()
            for task in self._background:
                task.cancel()
            # The API first: requests in flight finish and commit before the store closes.
            if runner is not None:
                await runner.cleanup()
            await journal.stop()
            with contextlib.suppress(Exception):
                await core.processor.persist()
            await self._save_rule_states()
            await store.close()
            for collector in scheduler.collectors():
                with contextlib.suppress(Exception):
                    await collector.aclose()
        if self._deadline is not None:
            if self._overdue:
                await self._deadline  # it ends the process
            self._deadline.cancel()
        self._log_stopped(cancelled)
        return 0

    async def _save_rule_states(self) -> None:
        try:
            async with asyncio.timeout(STOP_RULES_SAVE):
                await self.core.rules.persist()
        except TimeoutError:
            log.warning(
                "rule_states_partly_saved",
                not_saved=self.core.rules.engine.unsaved_count(),
                note="levels and timers first; the rest restart from their last steady save",
            )
        except Exception:  # the store failing at the stop: nothing more to do about it
            pass

    async def _save_states(self) -> None:
        for persist in (self.core.processor.persist, self.core.rules.persist):
            with contextlib.suppress(Exception):
                await persist()

    def _log_stopped(self, cancelled_runs: int, **extra: Any) -> None:
        log.info(
            "stopped",
            uptime=format_duration(self.clock.monotonic() - self._started),
            check_runs=self.scheduler.runs,
            alerts=self.core.pipeline.submitted,
            reloads=self._reloads,
            cancelled_runs=cancelled_runs,
            **extra,
        )

    async def _stop_deadline(self, seconds: float) -> None:
        """Stop the process after `seconds` of stopping, whatever still runs: save the check
        and rule states (a few seconds at most), log which tasks did not end, and exit 1.

        Stopping waits for every task to end. One that did not (a storm once left one
        retrying forever) kept the daemon up, deaf to SIGTERM, until systemd's
        TimeoutStopSec killed it without its states saved.
        """
        await self.clock.sleep(seconds)
        self._overdue = True
        me = asyncio.current_task()
        running = sorted(_where(t) for t in asyncio.all_tasks() if t is not me)
        log.error(
            "stop_overdue",
            after=format_duration(seconds),
            running=running,
            note="saving states and exiting now",
        )
        # Not awaited past the timeout: a store that is stuck may not even let go when
        # cancelled (SQLite waiting for another process's lock), and the process ends anyway.
        saving = asyncio.ensure_future(self._save_states())
        await asyncio.wait({saving}, timeout=STOP_SAVE_TIMEOUT)
        self._log_stopped(-1, forced=True)
        logging.shutdown()
        sys.stderr.flush()
        os._exit(1)

    def _watch_mqtt(self, mqtt: MqttIngest) -> None:
        """watchd_mqtt_messages_*: the MQTT ingest's own tallies, read at scrape time."""
        self.metrics.flow.watch_messages(
            "mqtt",
            (
                "MQTT messages received and acknowledged, refused ones included.",
                lambda: mqtt.messages,
            ),
            lambda: {"invalid": mqtt.rejected},
        )

    def _watch_traps(self, traps: SnmpTrapReceiver) -> None:
        """watchd_snmptrap_messages_*: the trap receiver's own tallies, read at scrape time."""
        stats = traps.stats
        self.metrics.flow.watch_messages(
            "snmptrap",
            ("SNMP traps accepted (known community or v3 user) and mapped.", lambda: stats.traps),
            lambda: {
                "rejected": stats.rejected,
                "garbled": stats.garbled,
                "dropped": stats.dropped,
            },
        )

    def _teams_reached(self, policy: str | None) -> frozenset[str]:
        """The teams the escalation policy called `policy` pages, by the running config."""
        config = self.config
        found = next((p for p in config.incidents.escalation if p.name == policy), None)
        return teams_reached(found, config.people())

    def _api(self, setup: Setup, core: Core) -> web.Application:
        """The HTTP API with every module's routes: ingestion, incidents, reports, dashboard."""
        config = setup.config
        app = create_app(
            tokens=setup.tokens,
            token_names=setup.token_names,
            token_users=setup.token_users,
            token_teams=setup.token_teams,
            metrics=self.metrics,
            items=self.items_view,
            ready=lambda: self._ready,
            not_ready=core.store.file_lost,
            max_body_bytes=config.api.max_body_bytes,
            allowed_hosts=_own_hosts(config),
            trusted_proxies=config.api.trusted_proxies,
            body_timeout=config.api.body_timeout,
        )
        # Ingestion calls the pipeline (or journals while it is busy): a failing store is a 503
        # the sender retries.
        http_ingest.add_routes(
            app,
            sink=self.journal,
            invalid=lambda n: self.metrics.flow.count_ingested("http", "refused", n),
            clock=self.clock,
            resolve_timeout=config.incidents.resolve_timeout,
        )
        incidents = core.incidents
        incident_routes.add_routes(app, incidents, reach=self._teams_reached)
        delivery_routes.add_routes(app, core.store.engine)
        ack_routes.add_routes(
            app,
            service=incidents,
            key=core.dispatcher.ack_key,
            clock=self.clock,
            locale=lambda: self.config.daemon.locale,
        )
        reports = ReportSource(core.store.engine, lambda: self.catalog, self.clock)
        report_routes.add_routes(app, reports)
        dashboard.add_routes(
            app,
            incidents=incidents,
            reports=reports,
            tokens=setup.tokens,
            cluster=self._cluster_status,
            accounts=lambda: self._accounts,
            session_key=setup.session_key,
        )
        runbook_routes.add_routes(app, lambda: self._runbooks)
        status_routes.add_routes(
            app,
            status_routes.StatusSource(
                reports, incidents, self.items_view, lambda: self.config.status_pages
            ),
        )
        review_routes.add_routes(app, ReviewService(core.store.engine, clock=self.clock))
        review_pages.add_routes(app)
        work_pages.add_routes(app)
        service_pages.add_routes(app)
        cluster_routes.add_routes(app, self._cluster_status)
        oncall_routes.add_routes(
            app, OncallSource(lambda: self.config.people(), core.store.engine, self.clock)
        )
        heartbeat_routes.add_routes(
            app,
            secrets=lambda: self._heartbeats,
            record=lambda key, kind, at, code: record_ping(core.store.engine, key, kind, at, code),
            clock=self.clock,
        )
        am_routes.add_routes(
            app,
            incidents,
            am_routes.AmSources(
                router=lambda: core.dispatcher.router,
                receivers=lambda: [r.name for r in self.config.receivers],
                node_name=config.cluster.node_name,
                started_at=self.clock.now(),
                cluster=self._cluster_status,
                config_text=lambda: alertmanager_config(
                    self.config.route,
                    [r.name for r in self.config.receivers],
                    self.config.notify.time_intervals,
                    self.config.inhibit_rules,
                ),
                unprocessed=self.journal.unprocessed,
            ),
        )
        return app

    async def _cluster_status(self) -> dict[str, Any]:
        """The cluster's nodes and leases from the store, for the API and the dashboard."""
        status = await read_status(
            self.store.engine, dead_after=self.config.cluster.dead_after, clock=self.clock
        )
        return status.to_dict()

    def request_stop(self) -> None:
        """Stop (SIGTERM, SIGINT): from now on the stop has a deadline (`_stop_deadline`)."""
        self._stop.set()
        if self._deadline is None:
            self._deadline = asyncio.get_running_loop().create_task(
                self._stop_deadline(self.config.daemon.shutdown_grace + STOP_MARGIN),
                name="watchd.stop-deadline",
            )

    def items_view(self) -> list[dict[str, Any]]:
        """Items with their checks' current states and the cluster node polling each (None:
        disabled, or no live node serves the item's zone), for /api/v1/items. A check another
        node polls shows the state that node last saved."""
        states = self.processor.states()
        enabled = {check.key: check for check in self.config.checks()}
        sharding = self.core.sharding
        view = []
        for item in self.config.items:
            checks = []
            for check in item.checks:
                key = (item.name, check.name)
                node = sharding.owner(key)
                state = states.get(key) if node == sharding.me else self.remote.get(key)
                entry: dict[str, Any] = {
                    "name": check.name,
                    "kind": check.kind,
                    "enabled": key in enabled,
                    "node": node,
                }
                if state is not None:
                    entry |= {
                        "status": state.status.name,
                        "hard_status": state.hard_status.name,
                        "state_type": state.state_type.value,
                        "attempt": state.attempt,
                        "last_check": state.last_check,
                        "hard_since": state.hard_since,
                        "flapping": state.flap.flapping,
                        "message": state.message,
                    }
                else:
                    entry["status"] = "PENDING"
                checks.append(entry)
            view.append(
                {
                    "name": item.name,
                    "address": item.address,
                    "labels": item.labels,
                    "parents": item.parents,
                    "checks": checks,
                }
            )
        return view

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop)
        loop.add_signal_handler(signal.SIGINT, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload(), "watchd.reload"))

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def reload(self) -> bool:
        """Apply the config file again; a broken one is rejected and the old one keeps running."""
        self.notifier.reloading()
        try:
            setup = load_setup(self.config_path)
        except ConfigError as exc:
            log.error(
                "reload_rejected",
                problems=exc.lines(),
                note="the previous configuration keeps running",
            )
            self.notifier.ready(self._status_line())
            return False
        config, collectors = setup.config, setup.collectors
        for warning in setup.warnings:
            log.warning("config_warning", warning=warning)
        for what in _needs_restart(self.config, config):
            log.warning("reload_needs_restart", setting=what)
        retired = await self.core.sharding.reconfigure(collectors)
        self._spawn(self._close_later(retired, config), "watchd.close-retired")
        await self.rules.replace_rules(setup.rules)
        self.core.reconfigure(config)
        self.journal.reconfigure(
            max_lag=config.ingest.max_lag, max_backlog=config.ingest.max_backlog
        )
        self.catalog = report_catalog(config)
        self.config = config
        self._heartbeats = setup.heartbeats
        self._runbooks = setup.runbooks
        self._accounts = setup.accounts
        self._reloads += 1
        log.info("reloaded", checks=self.scheduler.check_count)
        self.notifier.ready(self._status_line())
        return True

    async def _close_later(self, collectors: list[Collector], config: Config) -> None:
        # A retired collector may still be mid-run: close it once any run must have ended.
        longest = max((c.timeout for c in config.checks()), default=0.0)
        await self.clock.sleep(longest + 1.0)
        for collector in collectors:
            with contextlib.suppress(Exception):
                await collector.aclose()

    async def _persist_loop(self) -> None:
        failures = FailureLog(
            log, failing="check_states_not_saved", recovered="check_states_saved_again"
        )
        while True:
            await self.clock.sleep(self.config.store.flush_interval)
            try:
                await self.processor.persist()
            except Exception as exc:
                failures.failed(error=str(exc), note="kept in memory, retrying")
            else:
                failures.recovered()

    async def _heartbeat_loop(self) -> None:
        """WATCHDOG=1 comes from the event loop itself, so a stuck loop gets the service restarted."""
        interval = (
            self.config.daemon.watchdog_interval or (self.notifier.watchdog_seconds / 2) or 10.0
        )
        ticks = 0
        while True:
            self.notifier.watchdog()
            self.metrics.set_pending_samples(self.store.pending_samples)
            ticks += 1
            if ticks % 6 == 0:
                self.notifier.status(self._status_line())
            await self.clock.sleep(interval)

    def _status_line(self) -> str:
        lost = self.store.file_lost()
        if lost is not None:
            return f"not ready: {lost}"
        return (
            f"{self.scheduler.check_count} checks, {self.scheduler.runs} runs, "
            f"{self.store.pending_samples} samples pending"
        )


def _api_auth(api: ApiConfig) -> str:
    """The started line's `api_auth`: disabled, none (open to anyone who reaches it) or tokens."""
    if not api.enabled:
        return "disabled"
    return "none" if api.open_without_tokens else "tokens"


def _where(task: asyncio.Task[Any]) -> str:
    """A task's name and the line it waits at (innermost frame), for `stop_overdue`."""
    frames = task.get_stack()
    if not frames:
        return task.get_name()
    code = frames[-1].f_code
    return (
        f"{task.get_name()} in {code.co_name} ({Path(code.co_filename).name}:{frames[-1].f_lineno})"
    )


def _needs_restart(old: Config, new: Config) -> Iterator[str]:
    if old.store_url() != new.store_url():
        yield "store.url"
    if old.api != new.api:
        yield "api"
    if old.cluster != new.cluster:
        yield "cluster"
    if old.daemon.state_dir != new.daemon.state_dir:
        yield "daemon.state_dir"
    if old.daemon.overload_lag != new.daemon.overload_lag:
        yield "daemon.overload_lag"
    if old.snmp_traps != new.snmp_traps:
        yield "snmp_traps"
    if old.mqtt_ingest != new.mqtt_ingest:
        yield "mqtt_ingest"


def _own_hosts(config: Config) -> list[str]:
    """The host names browsers reach the API under: api.allowed_hosts, the listen address and
    the host of notify.ack_links.base_url (how operators reach watchd, by definition)."""
    hosts = [*config.api.allowed_hosts, config.api.host]
    links = config.notify.ack_links
    if links is not None and (name := urlsplit(links.base_url).hostname):
        hosts.append(name)
    return hosts


def _safe_url(url: str) -> str:
    """A store URL without its password, for logs."""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, userinfo = head.partition("://")
    return f"{scheme}://{userinfo.split(':', 1)[0]}@{tail}"


# Allocations between collections of the youngest generation (CPython's default: 700). A
# storm's batch of 800 alerts makes ~100,000 objects that live until its commit: at 700 they
# were traversed by ~1,200 young and ~10 full collections per 50,000 alerts (~0.6 s of CPU,
# a full one ~30 ms of the loop); at 10,000, ~50 and 1 (~0.25 s). Garbage in cycles waits a
# little longer for its collection: a few MB at most.
YOUNG_COLLECTION_THRESHOLD = 10_000


def tune_garbage_collection() -> None:
    """Keep what start-up built (modules, config, tables, models) out of garbage collection,
    and collect the youngest generation every YOUNG_COLLECTION_THRESHOLD allocations.

    Those ~130,000 long-lived objects were traversed by every full collection while alerts
    poured in: freezing them halved ingestion's p99 latency (bench/ingest.py). Objects made
    later, including a reloaded config, are collected as usual.
    """
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, oldest)
