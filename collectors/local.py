"""Local host probes through psutil: cpu, memory, swap, load, disk, disk and network I/O, processes.

Every psutil call runs in a worker thread (some block: statvfs on a hung network mount never
returns). A cancelled check cannot stop such a thread, so a collector whose previous probe is
still blocked reports that instead of starting one more thread behind it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import psutil
from pydantic import Field, model_validator

from collectors.contract import MetricNames
from watchd.configbase import Strict
from watchd.model import CheckContext, CheckResult, Sample, Status

Probe = Literal["cpu", "memory", "swap", "load", "disk", "diskio", "netio", "process"]

# Which probe each probe-specific key belongs to; a key set for another probe is a config error.
_KEY_PROBE: dict[str, Probe] = {
    "mounts": "disk",
    "devices": "diskio",
    "interfaces": "netio",
    "process": "process",
    "min_count": "process",
}
# Probes with one main metric that warn/crit compare against (higher is worse for all of them).
_THRESHOLD_UNIT: dict[Probe, str] = {
    "cpu": "%",
    "memory": "%",
    "swap": "%",
    "disk": "%",
    "load": " per core",
}
# The metric names each probe emits (its samples below use exactly these).
_PROBE_METRICS: dict[Probe, MetricNames] = {
    "cpu": MetricNames.of("cpu_usage_percent"),
    "memory": MetricNames.of("memory_used_percent", "memory_available_bytes", "memory_total_bytes"),
    "swap": MetricNames.of("swap_used_percent", "swap_used_bytes", "swap_total_bytes"),
    "load": MetricNames.of(
        "cpu_cores",
        "load1",
        "load5",
        "load15",
        "load1_per_core",
        "load5_per_core",
        "load15_per_core",
    ),
    "disk": MetricNames.of(
        "disk_used_percent",
        "disk_used_bytes",
        "disk_free_bytes",
        "disk_total_bytes",
        "inode_used_percent",
    ),
    "diskio": MetricNames.of(
        "disk_read_bytes_total", "disk_write_bytes_total", "disk_reads_total", "disk_writes_total"
    ),
    "netio": MetricNames.of(
        "net_recv_bytes_total",
        "net_sent_bytes_total",
        "net_recv_errors_total",
        "net_sent_errors_total",
        "net_recv_drops_total",
        "net_sent_drops_total",
    ),
    "process": MetricNames.of("process_instances"),
}
# Read-only images (snaps, live media) are always 100% full: never a disk-space problem.
_IMAGE_FSTYPES = frozenset({"squashfs", "iso9660", "udf", "erofs"})
# Block devices that are not disks: loop images and RAM disks.
_NOT_DISKS = ("loop", "ram", "zram")
# The first cpu reading has no previous one to compare with: measure over this long instead.
_CPU_FIRST_INTERVAL = 0.2


class LocalConfig(Strict):
    """The probe and its own options; warn/crit compare the probe's main metric.

    Main metrics: percent used for cpu, memory, swap and disk (each mount), and the
    5-minute load per core for load.
    """

    probe: Probe
    mounts: list[str] = []  # disk: empty means every real (non-pseudo, non-image) filesystem
    devices: list[str] = []  # diskio: empty means every disk but loop and RAM devices
    interfaces: list[str] = []  # netio: empty means every interface but loopback
    process: str = ""  # process: the process name to count
    min_count: int = Field(default=1, ge=1)
    warn: float | None = Field(default=None, ge=0)
    crit: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _keys_fit_probe(self) -> LocalConfig:
        for key, owner in _KEY_PROBE.items():
            if key in self.model_fields_set and self.probe != owner:
                raise ValueError(f"'{key}' applies only to probe '{owner}', not '{self.probe}'")
        if self.probe == "process" and not self.process:
            raise ValueError("probe 'process' needs 'process', the name of the process to count")
        thresholds = {"warn", "crit"} & self.model_fields_set
        if thresholds and self.probe not in _THRESHOLD_UNIT:
            raise ValueError(
                f"probe '{self.probe}' has no main metric for warn/crit; "
                "write a rule over its samples instead"
            )
        if self.warn is not None and self.crit is not None and self.warn > self.crit:
            raise ValueError(f"warn ({self.warn}) must not be above crit ({self.crit})")
        return self


@dataclass(frozen=True, slots=True)
class _CpuTimes:
    busy: float
    total: float


class LocalCollector:
    """One psutil probe of the host watchd runs on."""

    kind: ClassVar[str] = "local"
    Config: ClassVar[type[LocalConfig]] = LocalConfig

    def __init__(self, config: LocalConfig) -> None:
        self.config = config
        self._last_cpu: _CpuTimes | None = None
        self._busy_since: float | None = None
        probes: dict[Probe, Callable[[], CheckResult]] = {
            "cpu": self._cpu,
            "memory": self._memory,
            "swap": self._swap,
            "load": self._load,
            "disk": self._disk,
            "diskio": self._diskio,
            "netio": self._netio,
            "process": self._process,
        }
        self._probe = probes[config.probe]

    @classmethod
    def metric_names(cls, config: LocalConfig | None) -> MetricNames:
        """The probe's metric names; every probe's without a config."""
        if config is None:
            return MetricNames.union(*_PROBE_METRICS.values())
        return _PROBE_METRICS[config.probe]

    async def collect(self, ctx: CheckContext) -> CheckResult:
        busy_since = self._busy_since
        if busy_since is not None:
            blocked = time.monotonic() - busy_since
            return CheckResult(
                Status.CRITICAL,
                f"the previous {self.config.probe} probe is still blocked after {blocked:.0f} s "
                "(a hung mount?); not starting another",
            )
        return await asyncio.to_thread(self._run)

    async def aclose(self) -> None:
        return None

    def _run(self) -> CheckResult:
        # Set in the thread itself: a check cancelled before its thread started never blocks.
        self._busy_since = time.monotonic()
        try:
            return self._probe()
        finally:
            self._busy_since = None

    def _grade(self, value: float) -> Status:
        cfg = self.config
        if cfg.crit is not None and value >= cfg.crit:
            return Status.CRITICAL
        if cfg.warn is not None and value >= cfg.warn:
            return Status.WARNING
        return Status.OK

    def _verdict(self, status: Status) -> str:
        """The threshold a graded value crossed, as a suffix for the message."""
        unit = _THRESHOLD_UNIT.get(self.config.probe, "")
        if status is Status.CRITICAL:
            return f", at or above the critical threshold {self.config.crit:g}{unit}"
        if status is Status.WARNING:
            return f", at or above the warning threshold {self.config.warn:g}{unit}"
        return ""

    def _cpu(self) -> CheckResult:
        # Deltas kept per collector: psutil.cpu_percent(interval=None) keeps its previous
        # reading in module state shared by every caller, so two cpu checks would skew it.
        now = _cpu_times()
        last = self._last_cpu
        if last is None or now.total <= last.total:
            last = now
            time.sleep(_CPU_FIRST_INTERVAL)
            now = _cpu_times()
        self._last_cpu = now
        elapsed = now.total - last.total
        percent = min(100.0, max(0.0, (now.busy - last.busy) / elapsed * 100)) if elapsed else 0.0
        status = self._grade(percent)
        return CheckResult(
            status,
            f"cpu {percent:.1f}% used{self._verdict(status)}",
            (Sample("cpu_usage_percent", percent),),
        )

    def _memory(self) -> CheckResult:
        mem = psutil.virtual_memory()
        status = self._grade(mem.percent)
        return CheckResult(
            status,
            f"memory {mem.percent:.1f}% used ({_size(mem.available)} available of "
            f"{_size(mem.total)}){self._verdict(status)}",
            (
                Sample("memory_used_percent", mem.percent),
                Sample("memory_available_bytes", mem.available),
                Sample("memory_total_bytes", mem.total),
            ),
        )

    def _swap(self) -> CheckResult:
        swap = psutil.swap_memory()
        percent = swap.percent if swap.total else 0.0
        samples = (
            Sample("swap_used_percent", percent),
            Sample("swap_used_bytes", swap.used),
            Sample("swap_total_bytes", swap.total),
        )
        if not swap.total:
            return CheckResult(Status.OK, "no swap configured", samples)
        status = self._grade(percent)
        return CheckResult(
            status,
            f"swap {percent:.1f}% used ({_size(swap.used)} of {_size(swap.total)})"
            f"{self._verdict(status)}",
            samples,
        )

    def _load(self) -> CheckResult:
        loads = psutil.getloadavg()
        cores = psutil.cpu_count() or 1
        per_core = [load / cores for load in loads]
        status = self._grade(per_core[1])
        samples = [Sample("cpu_cores", cores)]
        for minutes, load, share in zip((1, 5, 15), loads, per_core, strict=True):
            samples.append(Sample(f"load{minutes}", load))
            samples.append(Sample(f"load{minutes}_per_core", share))
        shown = " ".join(f"{load:.2f}" for load in loads)
        return CheckResult(
            status,
            f"load {shown} on {cores} cores ({per_core[1]:.2f} per core over 5 min)"
            f"{self._verdict(status)}",
            tuple(samples),
        )

    def _disk(self) -> CheckResult:
        wanted = self.config.mounts
        if wanted:
            mounted = {part.mountpoint: part for part in psutil.disk_partitions(all=True)}
            missing = [mount for mount in wanted if mount not in mounted]
            if missing:
                return CheckResult(Status.CRITICAL, f"not mounted: {', '.join(missing)}")
            parts = [mounted[mount] for mount in wanted]
        else:
            parts = [
                part
                for part in psutil.disk_partitions(all=False)
                if part.fstype not in _IMAGE_FSTYPES
            ]
        samples: list[Sample] = []
        graded: list[tuple[Status, float, str]] = []
        unreadable: list[str] = []
        for part in parts:
            try:
                usage = psutil.disk_usage(part.mountpoint)
                stat = os.statvfs(part.mountpoint)
            except OSError as exc:  # a stale network mount, a mount point we may not read
                unreadable.append(f"{part.mountpoint}: {exc.strerror or exc.__class__.__name__}")
                continue
            if not usage.total:
                continue  # nothing to fill: an empty pseudo filesystem named in `mounts`
            labels = {"mount": part.mountpoint, "device": part.device, "fstype": part.fstype}
            samples += [
                Sample("disk_used_percent", usage.percent, labels),
                Sample("disk_used_bytes", usage.used, labels),
                Sample("disk_free_bytes", usage.free, labels),
                Sample("disk_total_bytes", usage.total, labels),
            ]
            if stat.f_files:  # some filesystems (btrfs, vfat) report no inode limit
                inodes = (stat.f_files - stat.f_ffree) / stat.f_files * 100
                samples.append(Sample("inode_used_percent", inodes, labels))
            status = self._grade(usage.percent)
            text = f"{part.mountpoint} {usage.percent:.1f}% used ({_size(usage.free)} free)"
            graded.append((status, usage.percent, text))
        if unreadable:
            return CheckResult(
                Status.CRITICAL, f"cannot read {'; '.join(unreadable)}", tuple(samples)
            )
        if not graded:
            return CheckResult(Status.UNKNOWN, "no filesystem with a size found to measure")
        worst = max(status for status, _, _ in graded)
        if worst is Status.OK:
            shown = [max(graded, key=lambda entry: entry[1])[2]]
        else:
            shown = [text for status, _, text in graded if status is worst]
        more = ""
        if worst is Status.OK and len(graded) > 1:
            more = f" (fullest of {len(graded)} filesystems)"
        return CheckResult(
            worst, f"disk {'; '.join(shown)}{more}{self._verdict(worst)}", tuple(samples)
        )

    def _diskio(self) -> CheckResult:
        counters = psutil.disk_io_counters(perdisk=True) or {}
        chosen = _choose(counters, self.config.devices, lambda name: name.startswith(_NOT_DISKS))
        if isinstance(chosen, str):
            return CheckResult(Status.CRITICAL, f"no such disk device: {chosen}")
        return _io_counters("disk", "device", counters, chosen, _DISK_IO, _DISK_IO_SAID)

    def _netio(self) -> CheckResult:
        counters = psutil.net_io_counters(pernic=True)
        chosen = _choose(counters, self.config.interfaces, lambda name: name == "lo")
        if isinstance(chosen, str):
            return CheckResult(Status.CRITICAL, f"no such network interface: {chosen}")
        return _io_counters("network", "interface", counters, chosen, _NET_IO, _NET_IO_SAID)

    def _process(self) -> CheckResult:
        name, wanted = self.config.process, self.config.min_count
        count = sum(1 for proc in psutil.process_iter(["name"]) if proc.info["name"] == name)
        sample = Sample("process_instances", count, {"name": name})
        if count < wanted:
            return CheckResult(
                Status.CRITICAL,
                f"process {name}: {count} running, expected at least {wanted}",
                (sample,),
            )
        return CheckResult(Status.OK, f"process {name}: {count} running", (sample,))


def _cpu_times() -> _CpuTimes:
    times = psutil.cpu_times()
    total = sum(times)
    # Linux counts guest time inside user time as well: drop it so it is not counted twice.
    total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return _CpuTimes(busy=total - idle, total=total)


def _choose(
    available: Iterable[str], wanted: list[str], skip: Callable[[str], bool]
) -> list[str] | str:
    """The names to report: those wanted (or the missing ones, joined), else all but skipped."""
    names = sorted(available)
    if wanted:
        missing = [name for name in wanted if name not in names]
        return ", ".join(missing) if missing else list(wanted)
    return [name for name in names if not skip(name)]


# (sample name, psutil counter) of each disk and of each network interface, and the two
# counters whose totals the message says, with what they are.
_DISK_IO = (
    ("disk_read_bytes_total", "read_bytes"),
    ("disk_write_bytes_total", "write_bytes"),
    ("disk_reads_total", "read_count"),
    ("disk_writes_total", "write_count"),
)
_DISK_IO_SAID = (("read_bytes", "read"), ("write_bytes", "written"))
_NET_IO = (
    ("net_recv_bytes_total", "bytes_recv"),
    ("net_sent_bytes_total", "bytes_sent"),
    ("net_recv_errors_total", "errin"),
    ("net_sent_errors_total", "errout"),
    ("net_recv_drops_total", "dropin"),
    ("net_sent_drops_total", "dropout"),
)
_NET_IO_SAID = (("bytes_recv", "received"), ("bytes_sent", "sent"))


def _io_counters(
    what: str,
    noun: str,
    counters: Mapping[str, Any],
    chosen: list[str],
    fields: tuple[tuple[str, str], ...],
    said: tuple[tuple[str, str], ...],
) -> CheckResult:
    """OK with the `fields` counters of each of the `chosen` devices (labelled `noun`) as
    samples, the message saying the totals of the `said` ones since boot."""
    samples = tuple(
        Sample(metric, getattr(counters[name], field), {noun: name})
        for name in chosen
        for metric, field in fields
    )
    totals = ", ".join(
        f"{_size(sum(getattr(counters[name], field) for name in chosen))} {label}"
        for field, label in said
    )
    return CheckResult(
        Status.OK, f"{what} I/O of {_count(chosen, noun)}: {totals} since boot", samples
    )


def _count(names: list[str], noun: str) -> str:
    return f"1 {noun}" if len(names) == 1 else f"{len(names)} {noun}s"


def _size(count: float) -> str:
    """Bytes as a person reads them: 21.3 GiB, 512.0 MiB."""
    if abs(count) < 1024:
        return f"{count:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        count /= 1024
        if abs(count) < 1024:
            return f"{count:.1f} {unit}"
    return f"{count / 1024:.1f} TiB"
