"""Running a scenario: the daemon's core (watchd.app_core) on a FakeClock and a temporary SQLite
store, with scripted collectors and capturing receivers, driven step by step:

    for each step, in time order:
        the clock jumps from one sleeper's deadline to the next up to the step's time (the
        scheduler's check runs, rule evaluations, incident timers, the dispatcher's group
        timers and polls), each instant settled before the next (watchd.paging.settle)
        the step happens before anything else due at that same time
    then time runs to the scenario's end, everything due then included

Hand-off notices (watchd.notify.handoffs), a housekeeping job of the daemon, run here every
`timer_interval` of fake time from time 0, as the daemon's lease holder runs them; a notice
reaches its capturing receiver as "incident 0 handoff to=USER".

What comes out is every notification the receivers got and every incident's final state.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from watchd.api.ack import acknowledge_by_link
from watchd.app_core import Core, build_core
from watchd.clock import FakeClock
from watchd.config import Config
from watchd.durations import format_duration
from watchd.incidents.changes import ChangeError
from watchd.incidents.ledger import IncidentNotFound
from watchd.incidents.lifecycle import TransitionError
from watchd.ingest.payloads import parse_any
from watchd.loading import Setup
from watchd.metrics import Metrics
from watchd.notify.acklinks import AckLinkError
from watchd.notify.handoffs import HandoffNotices
from watchd.paging.fakes import Capture, Script, ScriptedCollector, ScriptedLag, Sent
from watchd.paging.scenario import (
    Act,
    Action,
    AddChange,
    AddSilence,
    AddWindow,
    ExpireSilence,
    Overload,
    Post,
    Scenario,
    SetResults,
    Timed,
    UseAckLink,
)
from watchd.paging.settle import Settler
from watchd.pipeline.silences import SilenceError
from watchd.secrets import SecretRef
from watchd.store import Store

# Samples feed availability reports, not paging: written every minute of fake time rather than
# every second, which would be most of a long scenario's run time.
SAMPLE_FLUSH_INTERVAL = 60.0
MANY = 1_000_000_000


@dataclass(frozen=True, slots=True)
class IncidentState:
    """An incident at the end of the run."""

    id: int
    item: str  # shown in --json, to help write expectations; not compared
    state: str
    severity: str
    alerts: int
    acknowledged_by: str | None
    change: int | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a run produced: notifications in delivery order, incidents by id, steps that
    failed (an ack of a resolved incident, ...) and the real seconds the run took."""

    notifications: tuple[Sent, ...]
    incidents: tuple[IncidentState, ...]
    errors: tuple[str, ...]
    seconds: float


async def run_scenario(scenario: Scenario) -> Outcome:
    """Run `scenario` from its start to its end and return what happened."""
    began = time.monotonic()
    settler = Settler()
    clock = FakeClock(scenario.start, settle=settler)
    with tempfile.TemporaryDirectory(prefix="watchd-paging-") as tmp:
        store = await Store.open(
            f"sqlite:///{tmp}/watchd.db",
            clock=clock,
            flush_interval=SAMPLE_FLUSH_INTERVAL,
            in_loop=True,
        )
        settler.engine = store.engine
        try:
            run = _Run(scenario, clock, store, Path(tmp))
            await run.start()
            errors = await run.steps()
            notifications = tuple(run.capture.sent)
            incidents = await run.incidents()
        finally:
            with contextlib.suppress(Exception):
                await run.stop()
            await store.close()
            await scenario.setup.close_collectors()
    return Outcome(notifications, incidents, tuple(errors), time.monotonic() - began)


class _Run:
    def __init__(self, scenario: Scenario, clock: FakeClock, store: Store, tmp: Path) -> None:
        self.scenario = scenario
        self.clock = clock
        self.store = store
        self.script = Script()
        self.lag = ScriptedLag(clock)
        self.capture = Capture(clock, scenario.start)
        self.setup = _with_test_ack_key(scenario.setup, tmp)
        self.config: Config = self.setup.config
        self.silences: dict[str, str] = {}  # scenario name -> silence id
        self.tasks: list[asyncio.Task[None]] = []
        self.core: Core | None = None

    async def start(self) -> None:
        setup = self.setup
        # No jitter: every check first runs at time 0, then on its interval, as scenarios say.
        checks = [
            (replace(check, jitter=0.0), ScriptedCollector(self.script))
            for check, _ in setup.collectors
        ]
        self.core = await build_core(
            setup,
            self.store,
            clock=self.clock,
            metrics=Metrics(),
            base=setup.path.parent,
            checks=checks,
            receivers=self.capture.build,
            rescan_delay=0.0,
            rng=random.Random(0),
            lag=self.lag,
        )

    async def steps(self) -> list[str]:
        now = 0.0
        errors: list[str] = []
        for timed in self.scenario.steps:
            if timed.at > now:  # what is due at time 0 waits for the steps at time 0
                self._launch()
                await self.clock.advance(timed.at - now, inclusive=False)
                now = timed.at
            error = await self._apply(timed)
            if error:
                errors.append(error)
        self._launch()
        await self.clock.advance(self.scenario.end - now)
        errors += [
            f"the {t.get_name()} loop failed: {t.exception()!r}"
            for t in self.tasks
            if t.done() and not t.cancelled() and t.exception() is not None
        ]
        return errors

    def _launch(self) -> None:
        if self.tasks or self.core is None:
            return
        loops = self.core.loops()
        if any(s.notify_handoff for s in self.config.people().schedules):  # else it finds none
            loops["watchd.handoffs"] = self._handoffs()
        self.tasks = [
            asyncio.get_running_loop().create_task(loop, name=name) for name, loop in loops.items()
        ]

    async def _handoffs(self) -> None:
        """The daemon's hand-off job, every timer_interval (a housekeeping job there)."""
        assert self.core is not None
        core = self.core
        notices = HandoffNotices(
            self.store.engine,
            clock=self.clock,
            people=lambda: self.config.people(),
            installed=lambda: core.dispatcher.installed,
            locale=lambda: self.config.daemon.locale,
            rand=random.Random(0),
        )
        while True:
            await notices.run()
            await self.clock.sleep(self.config.incidents.timer_interval)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _apply(self, timed: Timed) -> str:
        """Do one step; a step that cannot be done (an ack of a resolved incident) is
        reported, as the API or CLI would refuse it."""
        try:
            await self._do(timed.action)
        except (
            TransitionError,
            IncidentNotFound,
            SilenceError,
            ChangeError,
            LookupError,
            AckLinkError,
        ) as exc:
            at = format_duration(timed.at) if timed.at else "0s"
            return f"line {timed.line}, at {at}: {exc}"
        await self.clock.advance(0, inclusive=False)  # settle what the step set off
        return ""

    async def _do(self, action: Action) -> None:
        assert self.core is not None
        core = self.core
        match action:
            case SetResults(results):
                for key, result in results.items():
                    self.script.set(key, result)
            case Post(payloads):
                now = self.clock.now()
                timeout = self.config.incidents.resolve_timeout
                await core.pipeline.submit(
                    parse_any(list(payloads), now=now, resolve_timeout=timeout)
                )
            case AddSilence(name, matchers, starts_at, ends_at, by, comment):
                added = await core.incidents.add_silence(
                    matchers=list(matchers),
                    starts_at=starts_at,
                    ends_at=ends_at,
                    created_by=by,
                    comment=comment,
                )
                self.silences[name] = str(added["id"])
            case ExpireSilence(name):
                await core.incidents.expire_silence(self.silences[name])
            case AddChange(item, summary, starts_at, ends_at, ticket, by):
                await core.incidents.add_change(
                    item=item,
                    summary=summary,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    ticket=ticket,
                    created_by=by,
                )
            case AddWindow(window):
                maintenance = [*self.config.maintenance, window]
                self.config = self.config.model_copy(update={"maintenance": maintenance})
                core.reconfigure(self.config)
            case Overload(lag, for_):
                self.lag.set(lag, for_)
            case UseAckLink(receiver, incident, name):
                await self._use_ack_link(receiver, incident, name)
            case Act(verb, incident, item, by, comment):
                target = incident if incident is not None else await self._newest(item or "")
                service = core.incidents
                if verb == "comment":
                    await service.comment(target, by, comment)
                else:
                    act = {
                        "ack": service.acknowledge,
                        "unack": service.unacknowledge,
                        "resolve": service.resolve,
                        "close": service.close,
                    }[verb]
                    await act(target, by, comment)

    async def _use_ack_link(self, receiver: str, incident: int, name: str) -> None:
        """Acknowledge through the link as POST /ack/ does (watchd.api.ack)."""
        assert self.core is not None
        url = self.capture.ack_urls.get((receiver, incident))
        key = self.core.dispatcher.ack_key()
        if url is None or key is None:
            raise LookupError(f'"{receiver}" got no ack link for incident {incident}.')
        token = url.rpartition("/ack/")[2]
        await acknowledge_by_link(self.core.incidents, key, token, self.clock.now(), name)

    async def _newest(self, item: str) -> int:
        assert self.core is not None
        found = await self.core.incidents.list_incidents(item=item, limit=1)
        if not found:
            raise LookupError(f'There is no incident on item "{item}".')
        return int(found[0]["id"])

    async def incidents(self) -> tuple[IncidentState, ...]:
        assert self.core is not None
        service = self.core.incidents
        states = []
        for row in sorted(await service.list_incidents(limit=MANY), key=lambda r: r["id"]):
            detail = await service.get_incident(row["id"])
            states.append(
                IncidentState(
                    id=row["id"],
                    item=row["item"],
                    state=row["state"],
                    severity=row["severity"],
                    alerts=len(detail["alerts"]),
                    acknowledged_by=row["acknowledged_by"],
                    change=row["change_id"],
                )
            )
        return tuple(states)


def _with_test_ack_key(setup: Setup, tmp: Path) -> Setup:
    """`setup` signing ack links with a key of the run's own ([notify.ack_links] names where the
    daemon's key lives; a scenario must not need it, nor read it)."""
    links = setup.config.notify.ack_links
    if links is None:
        return setup
    key_file = tmp / "ack-link.key"
    key_file.write_text(secrets.token_hex(32))
    notify = setup.config.notify.model_copy(
        update={"ack_links": links.model_copy(update={"key": SecretRef(file=key_file)})}
    )
    return replace(setup, config=setup.config.model_copy(update={"notify": notify}))
