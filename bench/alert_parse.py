"""What parsing POST /api/v2/alerts costs per alert, in process (issue 13).

    .venv/bin/python bench/alert_parse.py [--samples 15] [--batches 200] [--stage all]

One realistic Prometheus batch: 100 alerts of 6-10 labels (distinct instance and pod values),
2-3 annotations, startsAt of the evaluation that raised each (ten different ones), one endsAt
and one generatorURL for the batch, as Prometheus' notifier formats them. Each stage runs
`--batches` times per sample; the figure is the least CPU time of `--samples` samples (process
CPU, the least disturbed by other work on the machine), in µs per alert:

- parse: `parse_alertmanager` as the endpoint calls it, times already seen (the steady state:
  Prometheus sends every firing alert again each evaluation with the same startsAt);
- parse, new times: the same with the time cache cleared before each batch (a new evaluation);
- validate_json: pydantic-core's decode and validation alone (of a body without a NUL escape);
- fingerprint: `watchd.model.fingerprint` of each alert's labels.

`--stage NAME --samples 1` runs one stage alone, for `valgrind --tool=callgrind` (instructions
do not depend on the machine's load):

    valgrind --tool=callgrind .venv/bin/python bench/alert_parse.py --stage parse --samples 1
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from watchd.ingest import payloads
from watchd.model import fingerprint

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
ALERTS = 100


def batch() -> bytes:
    """A batch of ALERTS alerts as Prometheus posts it."""
    alerts = []
    for i in range(ALERTS):
        labels = {
            "alertname": ("KubePodCrashLooping", "NodeDown", "HighLatency")[i % 3],
            "instance": f"10.3.{i // 50}.{i % 250}:9100",
            "job": "kubernetes-pods",
            "namespace": f"team-{i % 7}",
            "pod": f"api-{i:04d}-7d9c5b",
            "severity": ("critical", "warning")[i % 2],
        }
        for extra in range(i % 5):  # 6 to 10 labels
            labels[("cluster", "region", "team", "container")[extra % 4] + str(extra // 4)] = (
                f"value-{extra}"
            )
        annotations = {
            "summary": f"{labels['pod']} is restarting",
            "runbook_url": "https://runbooks.example.net/KubePodCrashLooping",
        }
        if i % 2:
            annotations["description"] = "It restarted 5 times in the last 10 minutes."
        alerts.append(
            {
                "annotations": annotations,
                "endsAt": "2027-01-15T08:04:00.000Z",
                "startsAt": f"2027-01-15T07:{50 + i % 10}:30.123Z",
                "generatorURL": "http://prom:9090/graph?g0.expr=up+%3D%3D+0&g0.tab=1",
                "labels": labels,
            }
        )
    return json.dumps(alerts).encode()


def stages(body: bytes) -> dict[str, Callable[[], object]]:
    """Each stage's work for one batch."""
    label_sets = [alert["labels"] for alert in json.loads(body)]

    def parse() -> object:
        return payloads.parse_alertmanager(body, now=NOW, resolve_timeout=300.0)

    def parse_new_times() -> object:
        payloads._parse_time.cache_clear()  # noqa: SLF001
        return parse()

    def validate() -> object:
        return payloads._ALERT_LIST_NO_NUL.validate_json(body)  # noqa: SLF001

    def fingerprints() -> object:
        return [fingerprint(labels) for labels in label_sets]

    return {
        "parse": parse,
        "parse-new-times": parse_new_times,
        "validate_json": validate,
        "fingerprint": fingerprints,
    }


def per_alert_us(work: Callable[[], object], batches: int, samples: int) -> float:
    """The least CPU time of `samples` runs of `batches` batches, in µs per alert."""
    best = float("inf")
    for _ in range(samples):
        start = time.process_time()
        for _ in range(batches):
            work()
        best = min(best, time.process_time() - start)
    return best / (batches * ALERTS) * 1e6


def main() -> None:
    """Print each stage's cost per alert."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--stage", default="all")
    args = parser.parse_args()
    body = batch()
    assert not payloads.parse_alertmanager(body, now=NOW, resolve_timeout=300.0).problems
    for name, work in stages(body).items():
        if args.stage in ("all", name):
            print(f"{name:16} {per_alert_us(work, args.batches, args.samples):6.2f} µs per alert")


if __name__ == "__main__":
    main()
