"""What replaces the outside world in a paging test: scripted collectors (each check returns what
the scenario last said, every time the real scheduler runs it) and capturing receivers (each
notification is written down with the fake time, nothing leaves the machine)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from watchd.clock import Clock
from watchd.model import CheckContext, CheckResult, Status
from watchd.notify.model import Notification, Outcome, Receiver
from watchd.notify.receivers import REGISTRY, AnyReceiver

CheckKey = tuple[str, str]
OK = CheckResult(Status.OK, "OK (scenario)")


class Script:
    """The result each check returns now; OK until a step says otherwise."""

    def __init__(self) -> None:
        self._results: dict[CheckKey, CheckResult] = {}

    def set(self, key: CheckKey, result: CheckResult) -> None:
        self._results[key] = result

    def result(self, key: CheckKey) -> CheckResult:
        return self._results.get(key, OK)


class ScriptedCollector:
    """A collector that answers from the Script at once."""

    kind: ClassVar[str] = "scripted"

    def __init__(self, script: Script) -> None:
        self._script = script

    async def collect(self, ctx: CheckContext) -> CheckResult:
        return self._script.result((ctx.item, ctx.check))

    async def aclose(self) -> None:
        return None


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


class Capture:
    """Builds capturing receivers (the dispatcher's `build`) and keeps what they got."""

    def __init__(self, clock: Clock, start: float) -> None:
        self._clock = clock
        self._start = start
        self.sent: list[Sent] = []

    def build(self, configs: Sequence[AnyReceiver]) -> dict[str, Receiver]:
        """A capturing receiver per config, batching as the real kind does."""
        return {c.name: CapturingReceiver(c.name, _batches(c), self) for c in configs}

    def record(self, notes: Sequence[Notification]) -> None:
        at = self._clock.now() - self._start
        for note in notes:
            incident = note.payload.get("incident", {})
            self.sent.append(
                Sent(
                    at=at,
                    receiver=note.receiver,
                    incident=note.incident_id,
                    seq=note.seq,
                    event=note.kind,
                    severity=str(incident.get("severity", "")),
                    state=str(incident.get("state", "")),
                )
            )


class CapturingReceiver:
    """A receiver that takes every notification at once and tells the Capture."""

    def __init__(self, name: str, batch: bool, capture: Capture) -> None:
        self.name = name
        self.batch = batch
        self._capture = capture

    async def deliver(self, notes: Sequence[Notification]) -> Outcome:
        self._capture.record(notes)
        return Outcome(True, response="captured")

    async def aclose(self) -> None:
        return None


def _batches(config: AnyReceiver) -> bool:
    kind = REGISTRY.get(str(getattr(config, "kind", "log")))
    return bool(getattr(kind, "batch", False))
