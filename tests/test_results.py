"""The result processor's saved check states: where a check stands is saved at the next flush,
a steady check's state only now and then."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.notify.conftest import RecordingSink
from tests.test_scheduler import make_check
from watchd.clock import FakeClock
from watchd.metrics import Metrics
from watchd.model import CheckResult, Status
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
