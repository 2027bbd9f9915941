"""What replaces the outside world in a paging test: scripted collectors (each check returns what
the scenario last said, every time the real scheduler runs it), a scripted event-loop lag (the
overload a fake clock cannot have) and capturing receivers (each notification is written down
with the fake time, nothing leaves the machine)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from watchd.clock import Clock
from watchd.model import CheckContext, CheckResult, Status
from watchd.notify.model import Notification, Outcome, Receiver
from watchd.notify.receivers import REGISTRY, AnyReceiver
from watchd.notify.receivers.ticket import TicketReceiver, ticket_calls

CheckKey = tuple[str, str]
OK = CheckResult(Status.OK, "OK (scenario)")


class Script:
    """The results each check returns now, in turn (one per run, round and round); OK until
    a step says otherwise."""

    def __init__(self) -> None:
        self._results: dict[CheckKey, tuple[CheckResult, ...]] = {}
        self._runs: dict[CheckKey, int] = {}  # runs since the results were set

    def set(self, key: CheckKey, results: Sequence[CheckResult]) -> None:
        self._results[key] = tuple(results)
        self._runs[key] = 0

    def result(self, key: CheckKey) -> CheckResult:
        results = self._results.get(key, (OK,))
        run = self._runs.get(key, 0)
        self._runs[key] = run + 1
        return results[run % len(results)]


class ScriptedCollector:
    """A collector that answers from the Script at once."""

    kind: ClassVar[str] = "scripted"

    def __init__(self, script: Script) -> None:
        self._script = script

    async def collect(self, ctx: CheckContext) -> CheckResult:
        return self._script.result((ctx.item, ctx.check))

    async def aclose(self) -> None:
        return None


class ScriptedLag:
    """The event-loop lag the scenario says (watchd.overload.LagSource, in place of the daemon's
    loop probe): while an `overload` step's lag lasts, the loop is that far behind at every
    moment, so every check run and every look of the overload alarm overlapping it sees a stall
    of that length, as they would on a loop that wakes everything that late."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._spans: list[tuple[float, float, float]] = []  # (from, until, lag), monotonic

    def set(self, lag: float, for_: float | None) -> None:
        """From now on the loop is `lag` seconds behind (0: no longer), for `for_` seconds or
        until the next call."""
        now = self._clock.monotonic()
        self._spans = [(start, min(until, now), lag) for start, until, lag in self._spans]
        if lag > 0.0:
            self._spans.append((now, now + for_ if for_ is not None else math.inf, lag))

    def worst_since(self, t0: float) -> float:
        """See watchd.overload.LagSource."""
        now = self._clock.monotonic()
        lags = [lag for start, until, lag in self._spans if start <= now and until > t0]
        return max(lags, default=0.0)


@dataclass(frozen=True, slots=True)
class Sent:
    """One notification as a receiver got it: when (seconds since start), to whom, what."""

    at: float
    receiver: str
    incident: int
    seq: int
    event: str
    severity: str
    state: str
    calls: str | None = None  # a ticket receiver's calls, "resolve+close" ("none": no call)
    to: str | None = None  # the user a page to a person reached through this receiver


class Capture:
    """Builds capturing receivers (the dispatcher's `build`) and keeps what they got."""

    def __init__(self, clock: Clock, start: float) -> None:
        self._clock = clock
        self._start = start
        self.sent: list[Sent] = []
        # The ack link each receiver got last for each incident ([notify.ack_links]): an
        # `ack_link` step uses it as the person it reached would.
        self.ack_urls: dict[tuple[str, int], str] = {}

    def build(self, configs: Sequence[AnyReceiver]) -> dict[str, Receiver]:
        """A capturing receiver per config, batching as the real kind does."""
        return {
            c.name: CapturingReceiver(
                c.name,
                _batches(c),
                self,
                TicketCalls(c) if isinstance(c, TicketReceiver) else None,
            )
            for c in configs
        }

    def record(self, notes: Sequence[Notification], tickets: TicketCalls | None = None) -> None:
        at = self._clock.now() - self._start
        for note in notes:
            incident = note.payload.get("incident", {})
            if "ack_url" in note.context:
                self.ack_urls[(note.receiver, note.incident_id)] = note.context["ack_url"]
            self.sent.append(
                Sent(
                    at=at,
                    receiver=note.receiver,
                    incident=note.incident_id,
                    seq=note.seq,
                    event=note.kind,
                    severity=str(incident.get("severity", "")),
                    state=str(incident.get("state", "")),
                    calls=tickets.calls(note) if tickets is not None else None,
                    to=(note.recipient or {}).get("user"),
                )
            )


class TicketCalls:
    """The calls a ticket receiver would make, by its own choice (ticket_calls), keeping which
    incidents it opened a ticket for. There is no ticketing system, so no lookup finds one."""

    def __init__(self, config: TicketReceiver) -> None:
        self._config = config
        self._tickets: set[int] = set()

    def calls(self, note: Notification) -> str:
        """The calls for `note`, joined by "+" ("none" when it makes none)."""
        known = note.incident_id in self._tickets
        calls = ticket_calls(self._config, note.kind, ticket=known)
        if "open" in calls:
            self._tickets.add(note.incident_id)
        return "+".join(calls) or "none"


class CapturingReceiver:
    """A receiver that takes every notification at once and tells the Capture (with the calls
    a ticket receiver would make)."""

    def __init__(
        self, name: str, batch: bool, capture: Capture, tickets: TicketCalls | None = None
    ) -> None:
        self.name = name
        self.batch = batch
        self._capture = capture
        self._tickets = tickets

    async def deliver(self, notes: Sequence[Notification]) -> Outcome:
        self._capture.record(notes, self._tickets)
        return Outcome(True, response="captured")

    async def aclose(self) -> None:
        return None


def _batches(config: AnyReceiver) -> bool:
    kind = REGISTRY.get(str(getattr(config, "kind", "log")))
    return bool(getattr(kind, "batch", False))
