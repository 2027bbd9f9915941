"""Where a process's memory goes: run a module under tracemalloc, snapshot it, diff snapshots.

A debug aid for the memory benches (bench/soak.py --tracemalloc, bench/active_alerts.py), not
part of the product:

    python bench/memtrace.py run --out DIR [--every 300] [--frames 8] -- MODULE ARG...
        runs `python -m MODULE ARG...` with tracemalloc on, writing DIR/snap-NNN.pickle every
        `--every` seconds and when DIR/snap-now appears (removed once taken);
    python bench/memtrace.py top SNAP [--top 25] [--by traceback|lineno|filename]
        the biggest allocation groups still held at that snapshot;
    python bench/memtrace.py diff OLD NEW [--top 25] [--by ...]
        the groups that grew most between two snapshots (a leak grows in every pair).

tracemalloc counts Python allocations only (not SQLite's page cache or the allocator's free
lists), and tracing slows the process down two to three times.
"""

from __future__ import annotations

import argparse
import linecache
import runpy
import sys
import threading
import time
import tracemalloc
from pathlib import Path

# Frames of the tracer itself and of the import machinery say nothing about the program.
IGNORED = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, __file__),
)


def _snapshots(out: Path, every: float) -> None:
    """Take a snapshot every `every` seconds, or at once when `out/snap-now` appears."""
    out.mkdir(parents=True, exist_ok=True)
    trigger = out / "snap-now"
    n = 0
    last = time.monotonic()
    while True:
        time.sleep(1)
        if trigger.exists() or time.monotonic() - last >= every:
            trigger.unlink(missing_ok=True)
            snap = tracemalloc.take_snapshot().filter_traces(IGNORED)
            snap.dump(str(out / f"snap-{n:03d}.pickle"))
            traced, peak = tracemalloc.get_traced_memory()
            (out / "index.tsv").open("a").write(
                f"{n}\t{time.time():.0f}\t{traced / 2**20:.1f}\t{peak / 2**20:.1f}\n"
            )
            n += 1
            last = time.monotonic()


def run(args: argparse.Namespace) -> None:
    tracemalloc.start(args.frames)
    threading.Thread(
        target=_snapshots, args=(args.out, args.every), name="memtrace", daemon=True
    ).start()
    sys.argv = [args.module, *args.argv]
    runpy.run_module(args.module, run_name="__main__", alter_sys=True)


def _show(stats: list[tracemalloc.StatisticDiff] | list[tracemalloc.Statistic], top: int) -> None:
    for stat in stats[:top]:
        diff = getattr(stat, "size_diff", None)
        grown = (
            f"{diff / 2**20:+8.2f} MB {stat.count_diff:+8d} blocks  " if diff is not None else ""
        )
        print(f"{grown}{stat.size / 2**20:8.2f} MB {stat.count:8d} blocks held")
        for frame in stat.traceback.format(most_recent_first=True)[:12]:
            print("   ", frame.strip() if frame.startswith("    ") else frame)
    linecache.clearcache()


def top(args: argparse.Namespace) -> None:
    snap = tracemalloc.Snapshot.load(str(args.snap))
    stats = snap.statistics(args.by)
    print(f"total {sum(s.size for s in stats) / 2**20:.1f} MB in {len(stats)} groups")
    _show(stats, args.top)


def diff(args: argparse.Namespace) -> None:
    old = tracemalloc.Snapshot.load(str(args.old))
    new = tracemalloc.Snapshot.load(str(args.new))
    stats = new.compare_to(old, args.by)
    total = sum(s.size_diff for s in stats)
    print(f"grew {total / 2**20:+.2f} MB over {len(stats)} groups")
    _show(stats, args.top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True)
    p_run = sub.add_parser("run")
    p_run.add_argument("--out", type=Path, required=True)
    p_run.add_argument("--every", type=float, default=300)
    p_run.add_argument("--frames", type=int, default=8)
    p_run.add_argument("module")
    p_run.add_argument("argv", nargs=argparse.REMAINDER)
    p_run.set_defaults(func=run)
    for name, func, files in (("top", top, ("snap",)), ("diff", diff, ("old", "new"))):
        p = sub.add_parser(name)
        for f in files:
            p.add_argument(f, type=Path)
        p.add_argument("--top", type=int, default=25)
        p.add_argument("--by", choices=("traceback", "lineno", "filename"), default="traceback")
        p.set_defaults(func=func)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
