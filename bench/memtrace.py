"""Where a process's memory goes: run a module under tracemalloc, snapshot it, diff snapshots.

A debug aid for the memory benches (bench/soak.py --tracemalloc, bench/active_alerts.py), not
part of the product:

    python bench/memtrace.py run --out DIR [--every 300] [--frames 8] [--no-trace] -- MODULE ARG...
        runs `python -m MODULE ARG...` with tracemalloc on, writing DIR/snap-NNN.pickle every
        `--every` seconds and when DIR/snap-now appears (removed once taken), and a line of
        DIR/stats.tsv (below) each time; with --no-trace only the line (no tracing, so the
        process's own figures); DIR/trim-now makes it call glibc's malloc_trim(0) and write
        a line before and after (how much of the RSS is free memory glibc keeps); DIR/pins-now
        writes DIR/pins.txt: the objects found in the emptiest pymalloc arenas (what keeps them);
    python bench/memtrace.py top SNAP [--top 25] [--by traceback|lineno|filename]
        the biggest allocation groups still held at that snapshot;
    python bench/memtrace.py diff OLD NEW [--top 25] [--by ...]
        the groups that grew most between two snapshots (a leak grows in every pair).

tracemalloc counts Python allocations only (not SQLite's page cache or the allocator's free
lists), and tracing slows the process down two to three times. stats.tsv has what it does not
see, in MB: RSS; glibc's heap (mallinfo2: arenas' size, in use, free, mmapped blocks);
pymalloc's arenas and the blocks allocated in them (sys._debugmallocstats); SQLite's memory
(sqlite3_memory_used: page caches, prepared statements); Python's traced memory if tracing.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import linecache
import os
import re
import runpy
import sys
import threading
import time
import tracemalloc
from collections import Counter, defaultdict
from pathlib import Path

# Frames of the tracer itself and of the import machinery say nothing about the program.
IGNORED = (
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
    tracemalloc.Filter(False, __file__),
)


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


_LIBC = ctypes.CDLL(ctypes.util.find_library("c"))
_LIBC.mallinfo2.restype = _Mallinfo2
_SQLITE = ctypes.CDLL(ctypes.util.find_library("sqlite3"))  # the one _sqlite3 links against
_SQLITE.sqlite3_memory_used.restype = ctypes.c_int64
STATS = "time\tlabel\trss\theap\theap_used\theap_free\tmmapped\tpymalloc\tpy_blocks\tsqlite\ttraced"


def _pymalloc(out: Path) -> tuple[int, int]:
    """Bytes in pymalloc's arenas now and in their allocated blocks (small objects alive):
    sys._debugmallocstats writes to C's stderr only, so stderr goes to a file meanwhile."""
    path = out / "mallocstats.txt"
    with path.open("w") as file:
        saved = os.dup(2)
        os.dup2(file.fileno(), 2)
        try:
            sys._debugmallocstats()  # noqa: SLF001 (the only way to read pymalloc's figures)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    text = path.read_text()
    found = [
        re.search(rf"{what}\s*=\s*([\d,]+)", text)
        for what in (r"arenas \* \d+ bytes/arena", "# bytes in allocated blocks")
    ]
    arenas, blocks = (int(m[1].replace(",", "")) if m else -1 for m in found)
    return arenas, blocks


def _stats(out: Path, label: str) -> None:
    """Append a line of STATS to out/stats.tsv."""
    info = _LIBC.mallinfo2()
    with open("/proc/self/statm") as statm:
        rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    traced = tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else float("nan")
    mb = (
        rss, info.arena, info.uordblks, info.fordblks, info.hblkhd,
        *_pymalloc(out), _SQLITE.sqlite3_memory_used(), traced,
    )  # fmt: skip
    stats = out / "stats.tsv"
    with stats.open("a") as file:
        if file.tell() == 0:
            file.write(STATS + "\n")
        file.write(
            f"{time.time():.0f}\t{label}\t" + "\t".join(f"{v / 2**20:.1f}" for v in mb) + "\n"
        )


# CPython 3.10-3.13's pool header: the arena's index follows four pointers (ref, freeblock,
# nextpool, prevpool); pools are 16 KiB, aligned.
_POOL_MASK = ~(2**14 - 1)
_ARENA_INDEX_AT = 32


def _pins(out: Path, sparse: int = 100) -> None:
    """Write out/pins.txt: what the objects alive in pymalloc's sparse arenas (fewer than
    `sparse` objects found in them) are, by type, with a few of each: what keeps arenas that
    are mostly free from being given back. Objects are those gc tracks and, through them,
    the strings, numbers and untracked tuples and dicts (labels) they hold."""
    gc.collect()
    seen: dict[int, object] = {}
    todo = gc.get_objects()
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen[id(obj)] = obj
        for ref in gc.get_referents(obj):
            small_int = isinstance(ref, int) and -5 <= ref <= 256  # static, in no arena
            if not (gc.is_tracked(ref) or small_int or id(ref) in seen):
                todo.append(ref)
    arenas: dict[int, list[object]] = defaultdict(list)
    for address, obj in seen.items():
        if sys.getsizeof(obj) <= 512 and not isinstance(obj, type):  # pymalloc's objects
            index = ctypes.c_uint.from_address((address & _POOL_MASK) + _ARENA_INDEX_AT).value
            if index < 1 << 16:  # else a static object's neighbourhood, not a pool header
                arenas[index].append(obj)
    del seen
    few = {index: objs for index, objs in arenas.items() if len(objs) < sparse}
    kinds = Counter(type(obj).__name__ for objs in few.values() for obj in objs)
    with (out / "pins.txt").open("w") as file:
        file.write(
            f"{len(arenas)} arenas hold objects found; {len(few)} hold fewer than {sparse}:"
            f" {sum(map(len, few.values()))} objects, {kinds.most_common(12)}\n"
        )
        for kind, _ in kinds.most_common(12):
            some = [obj for objs in few.values() for obj in objs if type(obj).__name__ == kind]
            file.write(f"{kind}:\n")
            for obj in some[:: max(1, len(some) // 8)][:8]:
                try:
                    shown = repr(obj)[:160]
                except Exception as error:  # a library's repr may fail: say so
                    shown = f"<{type(obj).__name__}: repr failed: {error!r}>"
                file.write(f"    {shown}\n")


def _snapshots(out: Path, every: float) -> None:
    """Take a snapshot every `every` seconds, or at once when `out/snap-now` appears; trim
    when `out/trim-now` appears."""
    out.mkdir(parents=True, exist_ok=True)
    trigger = out / "snap-now"
    trim = out / "trim-now"
    pins = out / "pins-now"
    n = 0
    last = time.monotonic()
    while True:
        time.sleep(1)
        if trim.exists():
            _stats(out, "before-trim")
            _LIBC.malloc_trim(0)
            _stats(out, "after-trim")
            trim.unlink()
        if pins.exists():
            _pins(out)
            pins.unlink()
        if trigger.exists() or time.monotonic() - last >= every:
            if tracemalloc.is_tracing():
                snap = tracemalloc.take_snapshot().filter_traces(IGNORED)
                snap.dump(str(out / f"snap-{n:03d}.pickle"))
                traced, peak = tracemalloc.get_traced_memory()
                (out / "index.tsv").open("a").write(
                    f"{n}\t{time.time():.0f}\t{traced / 2**20:.1f}\t{peak / 2**20:.1f}\n"
                )
            _stats(out, f"snap-{n:03d}")
            trigger.unlink(missing_ok=True)
            n += 1
            last = time.monotonic()


def run(args: argparse.Namespace) -> None:
    if not args.no_trace:
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
    p_run.add_argument("--no-trace", action="store_true", help="stats.tsv only, no tracing")
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
