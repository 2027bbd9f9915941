"""The local collector on this very machine: every probe gives real, plausible values."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import threading
from typing import Any

import psutil
import pytest
from pydantic import ValidationError

from collectors.local import LocalCollector, LocalConfig
from watchd.model import CheckContext, CheckResult, Sample, Status


async def _probe(ctx: CheckContext, **settings: Any) -> CheckResult:
    collector = LocalCollector(LocalConfig.model_validate(settings))
    try:
        return await collector.collect(ctx)
    finally:
        await collector.aclose()


def _values(result: CheckResult) -> dict[str, float]:
    return {sample.metric: sample.value for sample in result.samples}


def _by_label(result: CheckResult, label: str, value: str) -> dict[str, float]:
    return {s.metric: s.value for s in result.samples if s.labels.get(label) == value}


async def test_cpu_gives_a_real_percentage_from_the_first_run(ctx: CheckContext) -> None:
    """The first cpu run already measures (over a short interval); later runs measure since the last."""
    collector = LocalCollector(LocalConfig(probe="cpu"))
    for _ in range(2):
        result = await collector.collect(ctx)
        assert result.status is Status.OK
        (sample,) = result.samples
        assert sample.metric == "cpu_usage_percent"
        assert 0 <= sample.value <= 100
        assert result.message == f"cpu {sample.value:.1f}% used"


async def test_cpu_sees_load(ctx: CheckContext) -> None:
    """A busy thread during the measured interval shows as cpu usage above zero."""
    collector = LocalCollector(LocalConfig(probe="cpu"))
    await collector.collect(ctx)  # primes: the next run measures from here
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(10_000))

    worker = threading.Thread(target=spin, daemon=True)
    worker.start()
    try:
        await asyncio.to_thread(stop.wait, 0.5)
    finally:
        stop.set()
        worker.join(timeout=5)
    result = await collector.collect(ctx)
    assert _values(result)["cpu_usage_percent"] > 10


async def test_thresholds_give_warning_and_critical(ctx: CheckContext) -> None:
    """A threshold at or below the current value turns the result WARNING or CRITICAL."""
    warned = await _probe(ctx, probe="memory", warn=0.0, crit=100.1)
    assert warned.status is Status.WARNING
    assert "at or above the warning threshold 0%" in warned.message
    critical = await _probe(ctx, probe="memory", warn=0.0, crit=0.0)
    assert critical.status is Status.CRITICAL
    assert "critical threshold 0%" in critical.message
    assert (await _probe(ctx, probe="memory", warn=100.1)).status is Status.OK


async def test_memory_matches_psutil(ctx: CheckContext) -> None:
    """Memory reports the machine's total, what is available and the percent used."""
    result = await _probe(ctx, probe="memory")
    values = _values(result)
    assert values["memory_total_bytes"] == psutil.virtual_memory().total
    assert 0 < values["memory_available_bytes"] <= values["memory_total_bytes"]
    assert 0 < values["memory_used_percent"] < 100
    assert result.message.startswith(f"memory {values['memory_used_percent']:.1f}% used (")


async def test_swap_reports_even_without_swap(ctx: CheckContext) -> None:
    """Swap gives its three samples; with no swap configured it is 0% used and OK."""
    result = await _probe(ctx, probe="swap", warn=50)
    values = _values(result)
    assert set(values) == {"swap_used_percent", "swap_used_bytes", "swap_total_bytes"}
    assert values["swap_total_bytes"] == psutil.swap_memory().total
    if values["swap_total_bytes"] == 0:
        assert values["swap_used_percent"] == 0
        assert result.status is Status.OK
        assert result.message == "no swap configured"
    else:
        assert 0 <= values["swap_used_percent"] <= 100


async def test_load_is_given_per_core_too(ctx: CheckContext) -> None:
    """Load averages come with the core count and per-core values; thresholds use 5-min per core."""
    result = await _probe(ctx, probe="load")
    values = _values(result)
    cores = psutil.cpu_count()
    assert values["cpu_cores"] == cores
    for minutes in (1, 5, 15):
        assert values[f"load{minutes}"] >= 0
        assert values[f"load{minutes}_per_core"] == pytest.approx(values[f"load{minutes}"] / cores)
    assert (await _probe(ctx, probe="load", warn=0)).status is Status.WARNING


async def test_disk_reports_the_root_filesystem(ctx: CheckContext) -> None:
    """Disk covers / with mount, device and fstype labels, sizes, percent and inode use."""
    result = await _probe(ctx, probe="disk")
    root = _by_label(result, "mount", "/")
    usage = psutil.disk_usage("/")
    assert 0 < root["disk_used_percent"] < 100
    assert root["disk_total_bytes"] == usage.total
    assert root["disk_used_bytes"] + root["disk_free_bytes"] <= usage.total
    if os.statvfs("/").f_files:
        assert 0 < root["inode_used_percent"] < 100
    labels = next(s.labels for s in result.samples if s.labels.get("mount") == "/")
    assert set(labels) == {"mount", "device", "fstype"}
    assert result.status is Status.OK
    assert result.message.startswith("disk ")
    assert "% used (" in result.message


async def test_disk_threshold_names_the_full_mount(ctx: CheckContext) -> None:
    """A mount above its threshold is named in the message with its percent and free space."""
    percent = psutil.disk_usage("/").percent
    result = await _probe(ctx, probe="disk", mounts=["/"], crit=percent / 2)
    assert result.status is Status.CRITICAL
    assert result.message.startswith("disk / ")
    assert " free), at or above the critical threshold" in result.message


async def test_disk_mount_that_is_missing_is_critical(ctx: CheckContext) -> None:
    """A mount named in `mounts` that is not mounted is CRITICAL and named."""
    result = await _probe(ctx, probe="disk", mounts=["/", "/srv/not-mounted-here"])
    assert result.status is Status.CRITICAL
    assert result.message == "not mounted: /srv/not-mounted-here"


async def test_unreadable_mount_is_critical(
    ctx: CheckContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mount that answers with an error (a stale NFS handle) is CRITICAL with the reason.

    A stale network mount cannot be made here, so statvfs is made to fail as it would.
    """

    def stale(path: str) -> os.statvfs_result:
        raise OSError(errno.ESTALE, os.strerror(errno.ESTALE), path)

    monkeypatch.setattr(os, "statvfs", stale)
    result = await _probe(ctx, probe="disk", mounts=["/"])
    assert result.status is Status.CRITICAL
    assert result.message == "cannot read /: Stale file handle"


async def test_diskio_gives_counters_per_disk(ctx: CheckContext) -> None:
    """Disk I/O gives four counters per disk, loop and RAM devices left out by default."""
    result = await _probe(ctx, probe="diskio")
    devices = {sample.labels["device"] for sample in result.samples}
    expected = {
        name
        for name in psutil.disk_io_counters(perdisk=True)
        if not name.startswith(("loop", "ram", "zram"))
    }
    assert devices == expected
    for device in devices:
        counters = _by_label(result, "device", device)
        assert set(counters) == {
            "disk_read_bytes_total",
            "disk_write_bytes_total",
            "disk_reads_total",
            "disk_writes_total",
        }
        assert all(value >= 0 for value in counters.values())
    missing = await _probe(ctx, probe="diskio", devices=["nosuchdisk0"])
    assert missing.status is Status.CRITICAL
    assert missing.message == "no such disk device: nosuchdisk0"


async def test_netio_counts_real_loopback_traffic(ctx: CheckContext) -> None:
    """Traffic sent over loopback shows in the lo counters; lo is left out unless asked for."""
    default = await _probe(ctx, probe="netio")
    assert "lo" not in {sample.labels["interface"] for sample in default.samples}
    before = _by_label(await _probe(ctx, probe="netio", interfaces=["lo"]), "interface", "lo")
    assert set(before) == {
        "net_recv_bytes_total",
        "net_sent_bytes_total",
        "net_recv_errors_total",
        "net_sent_errors_total",
        "net_recv_drops_total",
        "net_sent_drops_total",
    }
    payload = b"x" * 200_000
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            peer, _ = server.accept()
            with peer:
                peer.settimeout(5)
                client.sendall(payload)
                received = 0
                while received < len(payload):
                    received += len(peer.recv(65536))
    after = _by_label(await _probe(ctx, probe="netio", interfaces=["lo"]), "interface", "lo")
    assert after["net_sent_bytes_total"] - before["net_sent_bytes_total"] >= len(payload)
    missing = await _probe(ctx, probe="netio", interfaces=["nosuch0"])
    assert missing.status is Status.CRITICAL


async def test_process_probe_counts_by_name(ctx: CheckContext) -> None:
    """The running test interpreter is found by name; a missing process is CRITICAL and named."""
    name = psutil.Process().name()
    found = await _probe(ctx, probe="process", process=name)
    assert found.status is Status.OK
    assert _values(found)["process_instances"] >= 1
    assert found.samples[0].labels == {"name": name}
    absent = await _probe(ctx, probe="process", process="no-such-daemon-xyz")
    assert absent.status is Status.CRITICAL
    assert absent.message == "process no-such-daemon-xyz: 0 running, expected at least 1"
    assert absent.samples == (Sample("process_instances", 0, {"name": "no-such-daemon-xyz"}),)
    too_few = await _probe(ctx, probe="process", process=name, min_count=100_000)
    assert too_few.status is Status.CRITICAL


async def test_blocked_probe_is_reported_not_stacked(
    ctx: CheckContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a cancelled probe's thread is still blocked, the next run says so at once.

    A hung mount cannot be made here for real, so disk_usage is replaced by one that
    blocks until released.
    """
    release = threading.Event()
    real_usage = psutil.disk_usage

    def hung_usage(path: str) -> Any:
        release.wait(timeout=10)
        return real_usage(path)

    monkeypatch.setattr(psutil, "disk_usage", hung_usage)
    collector = LocalCollector(LocalConfig(probe="disk", mounts=["/"]))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(collector.collect(ctx), timeout=0.2)
    blocked = await asyncio.wait_for(collector.collect(ctx), timeout=1)
    assert blocked.status is Status.CRITICAL
    assert blocked.message.startswith("the previous disk probe is still blocked after ")
    release.set()
    async with asyncio.timeout(5):
        while (result := await collector.collect(ctx)).samples == ():  # noqa: ASYNC110 - a thread, no event
            await asyncio.sleep(0.01)
    assert result.status is Status.OK


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"probe": "cpu", "mounts": ["/"]}, "'mounts' applies only to probe 'disk'"),
        ({"probe": "disk", "process": "nginx"}, "'process' applies only to probe 'process'"),
        ({"probe": "process"}, "needs 'process'"),
        ({"probe": "netio", "warn": 1}, "no main metric"),
        ({"probe": "cpu", "warn": 90, "crit": 80}, "must not be above crit"),
        ({"probe": "thermal"}, "probe"),
        ({"probe": "cpu", "treshold": 3}, "treshold"),
    ],
)
def test_config_rejects_settings_that_do_not_fit(settings: dict[str, Any], fragment: str) -> None:
    """Options for another probe, missing or inverted thresholds are rejected at load."""
    with pytest.raises(ValidationError) as caught:
        LocalConfig.model_validate(settings)
    assert fragment in str(caught.value)
