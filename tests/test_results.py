"""The result processor's saved check states: where a check stands is saved at the next flush,
a steady check's state only now and then."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from tests.notify.conftest import RecordingSink
from tests.test_scheduler import make_check
from watchd.clock import FakeClock
from watchd.metrics import Metrics
from watchd.model import CheckContext, CheckResult, Sample, Status
from watchd.results import STEADY_STATE_SAVE, ResultProcessor
from watchd.scheduler import RunInfo
from watchd.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite:///{tmp_path}/watchd.db", clock=FakeClock())
    yield opened
    await opened.close()


async def test_a_state_is_saved_when_it_moves_and_a_steady_one_only_every_few_minutes(
    store: Store,
) -> None:
    """A check's first run, a SOFT attempt and a recovery are each saved at the next flush; runs
    that leave it where it stood are not, until STEADY_STATE_SAVE has passed; a restart then
    restores where it stands."""
    clock = FakeClock()
    processor = ResultProcessor(clock=clock, store=store, metrics=Metrics(), sink=RecordingSink())
    check = make_check(max_attempts=3)

    async def run(status: Status, message: str) -> int:
        await clock.advance(60)
        info = RunInfo(clock.now(), 0.1, 0.0, False)
        await processor.handle(check, CheckResult(status, message), info)
        return await processor.persist()

    assert await run(Status.OK, "200 in 3 ms") == 1  # first run
    for _ in range(20):  # the flap history fills up: it moves each run until it is full
        await run(Status.OK, "200 in 4 ms")
    assert [await run(Status.OK, f"200 in {ms} ms") for ms in (5, 6)] == [0, 0]
    assert await run(Status.CRITICAL, "refused") == 1  # SOFT attempt 1
    assert await run(Status.OK, "200 in 3 ms") == 1  # back to OK
    steady = [await run(Status.OK, "200 in 3 ms") for _ in range(int(STEADY_STATE_SAVE // 60) + 21)]
    assert 1 <= sum(steady) <= 1 + 21  # the flap history again, then one refresh per interval
    assert steady[-int(STEADY_STATE_SAVE // 60) :].count(1) == 1

    restarted = ResultProcessor(clock=clock, store=store, metrics=Metrics(), sink=RecordingSink())
    assert await restarted.restore() == 1
    state = restarted.state(check.key)
    assert state is not None and state.status is Status.OK and state.attempt == 0


async def test_samples_reach_rules_and_metrics_with_their_checks_context(store: Store) -> None:
    """A collector's samples get the check's labels, item and name, and the run's start as
    their time; samples a collector made in that context (CheckResult.in_context, as the SNMP
    collector does) go on as they are, their time the run's start too: the rules' observer
    and /metrics see the same either way."""
    clock = FakeClock()
    metrics = Metrics()
    seen: list[tuple[list[Sample], float]] = []

    async def observer(samples: Sequence[Sample], at: float) -> None:
        seen.append((list(samples), at))

    processor = ResultProcessor(
        clock=clock, store=store, metrics=metrics, sink=RecordingSink(), observers=[observer]
    )
    check = make_check(labels={"site": "lab"})
    context = CheckContext(check.item, check.name, labels=check.labels).sample_labels
    made_by_collector = CheckResult(Status.OK, "ok", (Sample("octets", 5.0, {"if": "1"}),))
    made_in_context = CheckResult(
        Status.OK, "ok", (Sample("octets", 6.0, {**context, "if": "1"}),), in_context=True
    )
    for value, result in [(5.0, made_by_collector), (6.0, made_in_context)]:
        await clock.advance(60)
        run = RunInfo(clock.now(), 0.1, 0.0, False)
        await processor.handle(check, result, run)
        samples, at = seen[-1]
        [octets] = [s for s in samples if s.metric == "octets"]
        assert dict(octets.labels) == {"site": "lab", "item": "host", "check": "c", "if": "1"}
        assert (octets.time if octets.time is not None else at) == run.started
        assert octets.value == value
        exposition = metrics.render()[0].decode()
        assert f'watchd_probe_octets{{check="c",if="1",item="host",site="lab"}} {value:g}' in (
            exposition
        ), exposition
