"""Rule evaluation throughput: 1,000 rules over 100,000 series, one core.

    .venv/bin/python bench/rules_eval.py [--rounds 5]

Prints samples/s, rule evaluations/s (one sample checked against one rule of its metric) and
CPU seconds per million evaluations; then the per-sample cost with 10 rules on the sample's
metric and 0, 990 or 9,990 rules on other metrics, which should not change (rules are indexed
by metric). Target: at least 500,000 evaluations/s.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from watchd.clock import FakeClock
from watchd.model import Sample
from watchd.rules import RuleEngine, load_rules

METRICS = 100
SHARDS = 10  # rules per metric, each matching one shard label value
SERIES = 100_000


def write_rules(path: Path, metrics: int, shards: int, prefix: str = "m") -> None:
    lines = ["rules:"]
    for m in range(metrics):
        for s in range(shards):
            lines += [
                f"  - name: {prefix}{m}_s{s}",
                f"    metric: {prefix}{m}",
                f'    match: {{shard: "s{s}"}}',
                '    warn: "> 90"',
                '    crit: "> 98"',
                "    for: 5m",
            ]
    path.write_text("\n".join(lines) + "\n" if len(lines) > 1 else "rules: []\n")


def make_series(series: int, metrics: int) -> list[tuple[str, dict[str, str]]]:
    return [
        (
            f"m{i % metrics}",
            {"item": f"host{i // metrics}", "check": "local", "shard": f"s{i % SHARDS}"},
        )
        for i in range(series)
    ]


def run(
    engine: RuleEngine, series: list[tuple[str, dict[str, str]]], rounds: int, seed: int
) -> tuple[float, float, int]:
    rng = random.Random(seed)
    wall = cpu = 0.0
    samples_done = 0
    for r in range(rounds):
        t = 1_800_000_000.0 + 60.0 * r
        # About 1% of values cross a threshold, so state changes happen too.
        batch = [Sample(m, rng.random() * 91.0, labels, t) for m, labels in series]
        w0, c0 = time.perf_counter(), time.process_time()
        engine.observe(batch)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        samples_done += len(batch)
    return wall, cpu, samples_done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rules.yaml"
        write_rules(path, METRICS, SHARDS)
        rules = load_rules([path], known_metrics=None)
        engine = RuleEngine(rules, clock=FakeClock())
        series = make_series(SERIES, METRICS)
        run(engine, series, 1, seed=0)  # warm up: series states are created once
        before = engine.stats.evaluations
        wall, cpu, samples = run(engine, series, args.rounds, seed=1)
        evaluations = engine.stats.evaluations - before
        print(f"{len(rules.rules)} rules, {SERIES} series, {args.rounds} rounds")
        print(f"  samples/s:             {samples / wall:12,.0f}")
        print(f"  rule evaluations/s:    {evaluations / wall:12,.0f}  (target >= 500,000)")
        print(f"  CPU s per million evaluations: {cpu / evaluations * 1e6:.3f}")

        print("per-sample CPU, 10 rules on the samples' metrics plus N rules on other metrics:")
        small = make_series(20_000, 10)
        for others in (0, 990, 9_990):
            mine, theirs = Path(tmp) / f"a{others}.yaml", Path(tmp) / f"b{others}.yaml"
            write_rules(mine, 10, 1)  # one rule per metric m0..m9, matching shard s0
            write_rules(theirs, others // 10, 10, prefix="other")
            rules = load_rules([mine, theirs], known_metrics=None)
            engine = RuleEngine(rules, clock=FakeClock())
            run(engine, small, 1, seed=0)
            best = min(run(engine, small, args.rounds, seed=2 + i)[1] for i in range(3))
            per_sample = best / (len(small) * args.rounds) * 1e6
            print(f"  {len(rules.rules):>6} rules in all: {per_sample:6.3f} µs per sample")


if __name__ == "__main__":
    main()
