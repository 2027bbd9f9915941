"""The rule engine in the daemon: its states saved to the real store, a chunk at a time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.notify.conftest import RecordingSink
from tests.rules.test_engine import DISK, T0, ruleset, sample
from watchd.clock import FakeClock
from watchd.rules import RuleEngine, service
from watchd.rules.service import RuleService
from watchd.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite:///{tmp_path}/watchd.db", clock=FakeClock(T0))
    yield opened
    await opened.close()


async def test_rule_states_are_saved_a_chunk_per_transaction_and_all_come_back(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five changed series with chunks of two: three transactions (the event loop gets a turn
    between them), the engine's own state once, and a restarted engine restores all five."""
    monkeypatch.setattr(service, "SAVE_CHUNK", 2)
    rules = ruleset(tmp_path, DISK)
    clock = FakeClock(T0)
    rules_service = RuleService(
        RuleEngine(rules, clock=clock), sink=RecordingSink(), store=store, clock=clock, interval=15
    )
    mounts = [f"/m{i}" for i in range(5)]
    rules_service.engine.observe([sample("disk_used_percent", 90, 0, mount=m) for m in mounts])
    writes: list[dict[str, Any]] = []
    save = store.save_states

    async def counted(
        namespace: str, items: dict[str, dict[str, Any]], check_keys: dict[str, str]
    ) -> None:
        writes.append(items)
        await save(namespace, items, check_keys)

    monkeypatch.setattr(store, "save_states", counted)
    await rules_service.persist()
    assert [len(w) for w in writes] == [3, 2, 1]  # the first with the engine's own state
    assert ["@engine" in w for w in writes] == [True, False, False]

    restarted = RuleService(
        RuleEngine(rules, clock=clock), sink=RecordingSink(), store=store, clock=clock, interval=15
    )
    await restarted.restore()
    assert restarted.engine.export_state() == rules_service.engine.export_state()


async def test_a_window_moved_only_by_samples_is_saved_every_steady_save_and_at_the_stop(
    store: Store, tmp_path: Path
) -> None:
    """A rate window that takes a point with every poll but stays ok is not re-saved at every
    evaluation interval (that was a fifth of the CPU at 5,000 SNMP devices); it is saved once
    STEADY_SAVE has passed, and whole by the final save, so a restart gets every point."""
    body = '  - {name: rate, metric: octets_total, over: {window: 10m, fn: rate}, warn: "> 1e12"}\n'
    rules = ruleset(tmp_path, body)
    clock = FakeClock(T0)
    rules_service = RuleService(
        RuleEngine(rules, clock=clock), sink=RecordingSink(), store=store, clock=clock, interval=15
    )
    running = asyncio.create_task(rules_service.run())

    async def saved_points() -> int:
        states = await store.load_states(service.STATE_NAMESPACE)
        (state,) = [s for k, s in states.items() if k != "@engine"]
        return len(state["window"]) // 3 if state["window"] else 0

    for i in range(19):  # a point every 15 s for 4 3/4 minutes, an evaluation after each
        rules_service.engine.observe([sample("octets_total", 1000.0 * i, 15 * i)])
        await clock.advance(15)
    assert await saved_points() == 1  # saved when the series was new, then not every 15 s
    for i in range(19, 23):  # past 5 minutes: the steady save
        rules_service.engine.observe([sample("octets_total", 1000.0 * i, 15 * i)])
        await clock.advance(15)
    # The loop saves through real I/O, which advance() does not wait for, so on a busy machine
    # it runs a save or two behind the fake clock: time is nudged on until the steady save
    # lands, at most 2.5 minutes (the next steady save is 5 minutes after this one).
    for _ in range(10):
        if await saved_points() >= 20:
            break
        await asyncio.sleep(0.05)
        await clock.advance(15)
    assert await saved_points() >= 20
    running.cancel()
    await rules_service.persist()  # the stop's save
    restarted = RuleEngine(rules, clock=clock)
    restarted.restore_state(await store.load_states(service.STATE_NAMESPACE))
    assert restarted.export_state() == rules_service.engine.export_state()


SSHD_MISSING = (
    "  - {name: sshd_missing, metric: process_instances, match: {check: local, name: sshd},"
    " absent: 10m}\n"
)


async def test_each_cluster_node_keeps_its_own_engine_state_and_a_taker_gets_the_checks_it_takes(
    store: Store, tmp_path: Path
) -> None:
    """Nodes a and b save their engine states side by side (one shared key kept only the last
    writer's): a restarted a still knows since when web1 ran without sshd and fires at 10
    minutes, and node c taking web1 over from a does the same, with nothing of b's web2."""
    rules = ruleset(tmp_path, SSHD_MISSING)
    clock = FakeClock(T0)

    def node(name: str) -> RuleService:
        engine = RuleEngine(rules, clock=clock, node=name)
        return RuleService(engine, sink=RecordingSink(), store=store, clock=clock, interval=15)

    a, b = node("a"), node("b")
    await clock.advance(300)
    a.engine.observe([sample("cpu_usage_percent", 5, 300)])  # web1/local runs on a
    b.engine.observe([sample("cpu_usage_percent", 5, 300, item="web2")])
    await a.persist()
    await b.persist()

    restarted_a, c = node("a"), node("c")
    await restarted_a.restore()
    await restarted_a.release([("web2", "local")])  # b's check, as the first view decides
    await c.acquire([("web1", "local")])
    await clock.advance(600)
    for taker in (restarted_a, c):
        (alert,) = taker.engine.evaluate()
        assert (alert.labels["item"], alert.labels["alertname"]) == ("web1", "sshd_missing")
