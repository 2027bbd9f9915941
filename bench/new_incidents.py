"""What a storm's new incidents cost the ingestion transaction, in process (issue 13).

    .venv/bin/python bench/new_incidents.py [--incidents 5000] [--repeats] [--resolve]
        [--dump FILE]

The storm of `bench/storm.py` without the HTTP server: its first 2 x `--incidents` label sets
(`item_pair_labels`: two alerts on each item, so one new incident each) in bodies of 100 as the
bench posts them, parsed with `parse_alertmanager` before the measure, then submitted to
`AlertPipeline` 800 alerts (8 bodies) per transaction on a fresh SQLite file with the bench's
webhook route, start-up objects frozen and the young generation collected as the daemon does.
Prints the process's CPU (its SQLite thread included) over those transactions; `--repeats`
then sends the label sets 4 times more (the storm's repeats, the dedup fast path) and prints
their CPU apart; `--resolve` then sends every label set once more, resolved (the end of the
outage, bench/storm.py's storm-end: every incident resolves and is notified so), and prints
its CPU apart. The clock is fixed, so two trees give the same rows: `--dump FILE` writes
the incidents, incident_alerts, incident_events and outbox rows, one JSON line each, to diff.

Instructions do not depend on the machine's load: the cost of one new incident is the
difference of two callgrind runs over the difference of their incidents,

    valgrind --tool=callgrind .venv/bin/python bench/new_incidents.py --incidents 1000
    valgrind --tool=callgrind .venv/bin/python bench/new_incidents.py --incidents 100

((total at 1,000) - (total at 100)) / 900 (runs of the same code differ by up to ~50 M).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
from pathlib import Path

from storm import item_pair_labels

from watchd.app import tune_garbage_collection
from watchd.clock import FakeClock
from watchd.config import parse_config
from watchd.ingest.payloads import parse_alertmanager
from watchd.loading import incident_settings
from watchd.logging import configure_logging
from watchd.model import Alert
from watchd.pipeline import AlertPipeline
from watchd.store import Store

CONFIG = {
    "receivers": [{"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}],
    "route": {"receivers": ["hook"], "group_wait": "0s", "group_interval": "0s"},
}
START = 1_800_000_000.0
BODY = 100  # alerts per POST, as bench/storm.py sends them
TRANSACTION = 8  # bodies per transaction: the daemon's batches in a storm
TABLES = (
    ("incidents", "id"),
    ("incident_alerts", "incident_id, fingerprint"),
    ("incident_events", "incident_id, seq"),
    ("outbox", "id"),
)


def batches(label_sets: int, alerts: int, *, resolved: bool = False) -> list[tuple[Alert, ...]]:
    """The transactions' alerts: bodies as bench/storm.py posts them, parsed; `resolved`, as
    Prometheus sends an alert that stopped firing (endsAt a second ago)."""
    starts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(START - 60))
    ends = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(START + (-1 if resolved else 3600)))
    bodies = []
    for first in range(0, alerts, BODY):
        posted = []
        for i in range(first, min(first + BODY, alerts)):
            labels = item_pair_labels(i % label_sets)
            posted.append(
                {
                    "annotations": {"summary": f"{labels['instance']} is down"},
                    "endsAt": ends,
                    "startsAt": starts,
                    "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
                    "labels": labels,
                }
            )
        bodies.append(
            parse_alertmanager(json.dumps(posted).encode(), now=START, resolve_timeout=300).alerts
        )
    return [
        tuple(a for body in bodies[i : i + TRANSACTION] for a in body)
        for i in range(0, len(bodies), TRANSACTION)
    ]


def dump(db: Path, out: Path) -> None:
    """The incident tables' rows, one JSON line each, in a fixed order."""
    conn = sqlite3.connect(db)
    with out.open("w") as f:
        for table, order in TABLES:
            cursor = conn.execute(f"SELECT * FROM {table} ORDER BY {order}")
            names = [d[0] for d in cursor.description]
            for row in cursor:
                print(table, json.dumps(dict(zip(names, row, strict=True))), file=f)
    conn.close()


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="new_incidents."))
    configure_logging("info", "json", stream=(tmp / "watchd.log").open("w"))
    clock = FakeClock(START)
    config = parse_config(CONFIG, tmp / "config.toml")
    store = await Store.open(f"sqlite:///{tmp}/watchd.db", clock=clock)
    sink = AlertPipeline(store.engine, clock=clock, settings=incident_settings(config))
    label_sets = 2 * args.incidents
    transactions = batches(label_sets, label_sets * (5 if args.repeats else 1))
    first = -(-label_sets // (BODY * TRANSACTION))  # the transactions of new label sets
    tune_garbage_collection()  # as the daemon does once it has started
    started = time.process_time()
    for alerts in transactions[:first]:
        await sink.submit(alerts)
    opened = time.process_time()
    for alerts in transactions[first:]:
        await sink.submit(alerts)
    repeated = time.process_time()
    if args.resolve:
        for alerts in batches(label_sets, label_sets, resolved=True):
            await sink.submit(alerts)
    resolved = time.process_time()
    await store.close()
    cpu = opened - started
    line = f"{args.incidents} new incidents: {cpu:.3f} s of CPU, {cpu / args.incidents * 1e3:.3f}"
    line += " ms each"
    if args.repeats:
        line += f"; {len(transactions) - first} transactions of repeats: {repeated - opened:.3f} s"
    if args.resolve:
        line += f"; resolving them: {resolved - repeated:.3f} s"
    print(line)
    if args.dump:
        dump(tmp / "watchd.db", Path(args.dump))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=5000)
    parser.add_argument("--repeats", action="store_true", help="then 4 repeats of each alert")
    parser.add_argument("--resolve", action="store_true", help="then every alert resolved")
    parser.add_argument("--dump", help="write the incident tables' rows to this file")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
