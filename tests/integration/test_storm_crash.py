"""SIGKILL the real daemon (`watchd run` on SQLite) in an alert storm that opens an incident per
item, start it again on the same file and send nothing more: every alert answered 200 is
stored, in exactly one incident, one incident per group key, and each of two webhook receivers
is told of every incident's opening, a repeat only under the same Idempotency-Key (issue 13).

The storm of the issue's bench, scaled down: two label sets per item (3,000 on 1,500 items when
cut mid-storm), each item's second alert posted LAG batches after its first (so both are often
in flight at once), a few label sets posted twice, batches of about 100, 8 requests in flight."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.integration.test_daemon import RunningDaemon, free_port, start_daemon
from tests.notify.conftest import Behaviour, Hook, hook_server  # noqa: F401  (hook_server: fixture)
from tests.notify.test_daemon_restart import config_for
from watchd.model import fingerprint

pytestmark = pytest.mark.integration

HALF = 50  # items whose first alert a batch carries, and as many second alerts
LAG = 2  # batches between an item's first alert and its second
REPEATS = 5  # label sets of the batch before, posted again in each batch
IN_FLIGHT = 8
CUT_AFTER = 1_000  # alerts answered 200 before the SIGKILL mid-storm
TOLD_BEFORE = 50  # notifications each receiver answers before it holds its answers
# Rows a SIGKILL cut short while they were being delivered stay leased for the receiver's
# timeout (2 s) + 35 s; the rest is room for a loaded machine.
SETTLE = 150.0
RECEIVERS = ("hook", "pager")
OPEN_ROW = ("pending", "delivering")
# The storm left running: the 5,000 items. The stall it pins needed a receiver's queue
# over half a pass (500 rows) at once; 1,500 items did not make one at ab2fd72, 5,000 left 7,137
# of 10,000 notifications unsent.
UNCUT_ITEMS = 5_000


def _alert(name: str, n: int) -> dict[str, Any]:
    return {
        "labels": {"alertname": name, "item": f"storm-host-{n}", "severity": "critical"},
        "annotations": {"summary": f"{name} on storm-host-{n}"},
        "endsAt": "2100-01-01T00:00:00.000Z",  # firing for the whole test
    }


def storm_batches(items: int) -> list[list[dict[str, Any]]]:
    """The storm's requests, one new incident per item (group_by item, check: these alerts have
    no check): batch k carries the first alert (StormDown) of HALF new items, the second
    (StormSlow) of the items of batch k - LAG, and REPEATS alerts of batch k - 1 again."""
    blocks = [range(first, min(first + HALF, items)) for first in range(0, items, HALF)]
    batches = []
    for k in range(len(blocks) + LAG):
        batch = [_alert("StormDown", n) for n in blocks[k]] if k < len(blocks) else []
        if k >= LAG:
            batch += [_alert("StormSlow", n) for n in blocks[k - LAG]]
        if 0 < k <= len(blocks):
            batch += [_alert("StormDown", n) for n in blocks[k - 1][:REPEATS]]
        batches.append(batch)
    return batches


class Storm:
    """Posts the batches IN_FLIGHT at a time until each is answered 200 or the daemon is gone
    (nothing is sent again after that); `acked` holds the fingerprints answered 200."""

    def __init__(self, url: str, items: int) -> None:
        self.acked: set[str] = set()
        self.in_flight = 0
        self._url = url
        self._batches = iter(storm_batches(items))

    async def run(self) -> None:
        """Send every batch (or until the daemon dies)."""
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            await asyncio.gather(*(self._send(http) for _ in range(IN_FLIGHT)))

    async def _send(self, http: aiohttp.ClientSession) -> None:
        for batch in self._batches:  # shared: each sender takes the next batch
            while True:
                self.in_flight += 1
                try:
                    async with http.post(self._url, json=batch) as resp:
                        status = resp.status
                except (aiohttp.ClientError, TimeoutError):
                    return  # killed: this batch may or may not be stored
                finally:
                    self.in_flight -= 1
                if status == 200:
                    self.acked.update(fingerprint(a["labels"]) for a in batch)
                    break
                assert status == 503, f"a storm batch was answered {status}"
                await asyncio.sleep(0.2)  # the store is busy: sent again, as Prometheus does


@dataclass
class Stored:
    """What the database file holds after the storm."""

    alerts: dict[str, str]  # fingerprint -> its item label
    homes: dict[str, list[int]]  # fingerprint -> the incidents it is a member of
    incidents: dict[int, tuple[str, str, str]]  # id -> (key, item, state)
    outbox: dict[str, set[str]]  # receiver -> idempotency keys of its rows
    open_rows: int  # outbox rows not yet delivered (pending or leased)
    journaled: int  # alerts answered 200 and not taken in yet (the ingest journal's rows)

    @classmethod
    def read(cls, db: Path) -> Stored:
        """Read the file (the daemon may be running: WAL lets this read beside it)."""
        with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
            alerts = dict(
                conn.execute("SELECT fingerprint, json_extract(labels, '$.item') FROM alerts")
            )
            homes: dict[str, list[int]] = defaultdict(list)
            for fp, incident in conn.execute(
                "SELECT fingerprint, incident_id FROM incident_alerts"
            ):
                homes[fp].append(incident)
            incidents = {
                row[0]: row[1:]
                for row in conn.execute("SELECT id, key, item, state FROM incidents")
            }
            outbox: dict[str, set[str]] = defaultdict(set)
            open_rows = 0
            for receiver, key, state in conn.execute(
                "SELECT receiver, idempotency_key, state FROM outbox"
            ):
                outbox[receiver].add(key)
                open_rows += state in OPEN_ROW
            (journaled,) = conn.execute(
                "SELECT coalesce(sum(count), 0) FROM ingest_journal"
            ).fetchone()
        return cls(alerts, dict(homes), incidents, dict(outbox), open_rows, journaled)

    def settled(self) -> bool:
        """Every alert answered is taken in, every stored alert is in an incident and every
        notification row is done."""
        return (
            self.journaled == 0
            and self.open_rows == 0
            and all(fp in self.homes for fp in self.alerts)
        )


@pytest.fixture
def daemons() -> Iterator[list[RunningDaemon]]:
    """The daemons a test starts, killed at its end if still running."""
    started: list[RunningDaemon] = []
    yield started
    for daemon in started:
        daemon.discard()


async def until(done: Callable[[], bool], what: str, seconds: float) -> None:
    """Poll `done` until it holds; fail naming `what` after `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            # Polling on purpose: a database file, receivers and answers; no one event to wait on.
            while not done():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"{what} not within {seconds:.0f} s") from None


def holding_after(answered: int, released: asyncio.Event) -> Behaviour:
    """A receiver that accepts `answered` requests at once, then holds those that come until
    `released` (it has the notification, the daemon is waiting for the answer) and refuses
    them then; it accepts every request after that."""

    async def behaviour(request: web.Request, n: int) -> web.Response | None:
        if n < answered or released.is_set():
            return None
        await released.wait()
        return web.Response(status=503)  # not counted as accepted (Hook.unique)

    return behaviour


def two_receivers(tmp: Path, port: int, hooks: list[Hook]) -> Path:
    """The minimal daemon config of the restart test with a second, identical webhook."""
    config = config_for(tmp, port, hooks[0].url)
    text = config.read_text()
    first = text[text.index("[[receivers]]") :]
    second = first.replace(f'"{RECEIVERS[0]}"', f'"{RECEIVERS[1]}"').replace(
        hooks[0].url, hooks[1].url
    )
    config.write_text(text + second)
    return config


# While delivering, a smaller storm: the kill comes after its last POST, and the test would
# outlast a minute on a loaded machine with the whole one.
@pytest.mark.parametrize(("cut", "items"), [("mid-storm", 1_500), ("while-delivering", 500)])
async def test_a_storm_cut_by_sigkill_loses_no_alert_and_pages_each_incident_once(
    tmp_path: Path,
    hook_server: Any,  # noqa: F811
    daemons: list[RunningDaemon],
    cut: str,
    items: int,
) -> None:
    """Killed mid-storm (requests in flight, or alerts answered 200 still in the ingest journal)
    or after it while notifications go out, then
    restarted with nothing sent again: every alert answered 200 is stored in one incident, the
    one of its item, one incident per key, and each receiver gets every incident's opening,
    repeated only under the same Idempotency-Key, and nothing for an incident that is not."""
    # While delivering, the kill comes as the receivers hold their answers: notifications they
    # have, which the daemon has yet to hear were delivered.
    released = asyncio.Event()
    if cut == "mid-storm":
        released.set()
    hooks = [await hook_server(holding_after(TOLD_BEFORE, released)) for _ in RECEIVERS]
    port = free_port()
    config = two_receivers(tmp_path, port, hooks)
    db = tmp_path / "state" / "watchd.db"
    daemon = await asyncio.to_thread(start_daemon, tmp_path, config, port)
    daemons.append(daemon)

    storm = Storm(daemon.url("/api/v2/alerts"), items)
    sending = asyncio.create_task(storm.run())
    in_flight = 0
    if cut == "mid-storm":
        await until(lambda: len(storm.acked) >= CUT_AFTER, f"{CUT_AFTER} alerts answered 200", 90)
        in_flight = storm.in_flight
    else:
        await asyncio.wait_for(sending, 90)
        assert len(storm.acked) == 2 * items
        held = f"answers held by both receivers after {TOLD_BEFORE} notifications"
        await until(lambda: all(len(h.received) > TOLD_BEFORE for h in hooks), held, 60)
    daemon.proc.kill()
    await asyncio.to_thread(daemon.proc.wait, 10)
    released.set()
    await asyncio.wait_for(sending, 30)
    cut_short = Stored.read(db)
    if cut == "mid-storm":
        # Cut short: requests in flight, or alerts answered 200 and still only journaled (a
        # busy pipeline answers once they are in the journal and takes them in behind).
        cut_in_flight = in_flight > 0 and len(storm.acked) < 2 * items
        assert cut_in_flight or cut_short.journaled > 0, "the kill missed the storm"
    else:
        assert cut_short.open_rows > 0, "the kill came after the last delivery"

    again = await asyncio.to_thread(start_daemon, tmp_path, config, port)
    daemons.append(again)
    stored = await settled(db)
    assert stored.open_rows == 0, f"{stored.open_rows} notifications still undelivered"
    _assert_each_alert_in_its_incident(storm.acked, stored)
    for name, hook in zip(RECEIVERS, hooks, strict=True):
        _assert_told_once(name, hook, stored)
        if cut == "while-delivering":  # what the kill cut short was sent again
            sent = Counter(headers["Idempotency-Key"] for headers in hook.headers)
            assert max(sent.values()) > 1, f"{name} was sent nothing again after the restart"


async def settled(db: Path) -> Stored:
    """The file once the restarted daemon has every stored alert in an incident and every
    notification row done, or after SETTLE seconds (the assertions then say what is not)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SETTLE):
            # Polling on purpose: another process's database file, no event to wait on.
            while not Stored.read(db).settled():  # noqa: ASYNC110
                await asyncio.sleep(0.2)
    return Stored.read(db)


def _assert_each_alert_in_its_incident(acked: set[str], stored: Stored) -> None:
    """Every alert answered 200 is stored; every stored alert is a member of exactly one
    incident, its item's; one incident per group key, none without an alert."""
    lost = acked - stored.alerts.keys()
    assert not lost, f"of {len(acked)} alerts answered 200, {_some(lost)} are gone"
    homes = {fp: stored.homes.get(fp, []) for fp in stored.alerts}
    not_one = [f"{fp} in {ids}" for fp, ids in homes.items() if len(ids) != 1]
    assert not not_one, f"stored alerts not in exactly one incident: {_some(not_one)}"
    misplaced = [
        fp for fp, item in stored.alerts.items() if stored.incidents[homes[fp][0]][1] != item
    ]
    assert not misplaced, f"alerts in another item's incident: {_some(misplaced)}"
    # Nothing resolves in this test, so every incident is active: one per key.
    keys = Counter(key for key, _, _ in stored.incidents.values())
    twice = [key for key, n in keys.items() if n > 1]
    assert not twice, f"group keys with several incidents: {_some(twice)}"
    empty = stored.incidents.keys() - {ids[0] for ids in homes.values()}
    assert not empty, f"incidents without an alert: {_some(empty)}"
    assert {state for _, _, state in stored.incidents.values()} == {"open"}


def _assert_told_once(name: str, hook: Hook, stored: Stored) -> None:
    """`hook` accepted every notification meant for it and got no other; a repeat has the key
    of the first sending; each incident's opening came under one key."""
    seen = [(h["Idempotency-Key"], doc) for h, doc in zip(hook.headers, hook.received, strict=True)]
    meant = stored.outbox.get(name, set())
    missed, unknown = meant - hook.unique.keys(), {key for key, _ in seen} - meant
    assert not missed, f"{name} never accepted the notifications {_some(missed)}"
    assert not unknown, f"{name} got notifications the outbox never had: {_some(unknown)}"
    opened: dict[int, set[str]] = defaultdict(set)
    for key, doc in seen:
        incident, event = doc["incident"], doc["event"]
        assert doc["receiver"] == name
        assert key == doc["idempotencyKey"] == f"{incident['id']}:{event['seq']}", doc
        assert stored.incidents.get(incident["id"], ("",))[0] == incident["key"], (
            f"{name} was told of an incident that is not stored: {incident}"
        )
        if event["kind"] == "opened":
            opened[incident["id"]].add(key)
    unopened = stored.incidents.keys() - opened.keys()
    assert not unopened, f"{name} was never told these incidents opened: {_some(unopened)}"
    told_twice = [
        f"{incident}: {sorted(under)}" for incident, under in opened.items() if len(under) > 1
    ]
    assert not told_twice, f"{name} was told of openings under several keys: {_some(told_twice)}"


def _some(found: Collection[object]) -> str:
    """How many, and the first few (sorted): a failure message stays readable."""
    return f"{len(found)} ({', '.join(map(str, sorted(found, key=str)[:5]))}, ...)"


async def test_a_storm_left_running_pages_every_incident_once_without_a_restart(
    tmp_path: Path,
    hook_server: Any,  # noqa: F811
    daemons: list[RunningDaemon],
) -> None:
    """Nothing cut: the running daemon tells both receivers of every incident the storm
    opened, each once, with no restart to free what it holds. (A pass that queued rows while
    every worker of a receiver was ending left them leased and unsent until a restart, which
    the kills above hide: the restarted daemon sent them.)"""
    accepting = asyncio.Event()
    accepting.set()
    hooks = [await hook_server(holding_after(0, accepting)) for _ in RECEIVERS]
    port = free_port()
    config = two_receivers(tmp_path, port, hooks)
    daemon = await asyncio.to_thread(start_daemon, tmp_path, config, port)
    daemons.append(daemon)
    storm = Storm(daemon.url("/api/v2/alerts"), UNCUT_ITEMS)
    await asyncio.wait_for(storm.run(), 90)
    assert len(storm.acked) == 2 * UNCUT_ITEMS
    stored = await settled(tmp_path / "state" / "watchd.db")
    assert stored.open_rows == 0, f"{stored.open_rows} notifications still undelivered"
    _assert_each_alert_in_its_incident(storm.acked, stored)
    for name, hook in zip(RECEIVERS, hooks, strict=True):
        _assert_told_once(name, hook, stored)
