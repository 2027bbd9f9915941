"""A really full disk under the SQLite store: writes fail clearly, nothing queued is lost."""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from watchd.clock import FakeClock
from watchd.store import AvailabilitySample, Store, StoreError

pytestmark = pytest.mark.integration


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of its own (the tests run as root, as CI does)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path) -> Path:
    """Write a filler file until the disk refuses; return it (deleting it frees the space)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


async def test_a_full_disk_keeps_samples_queued_and_they_are_written_once_space_returns(
    small_disk: Path,
) -> None:
    """On a full disk flush fails with a StoreError, the samples stay queued, and once space is
    freed they are all written."""
    store = await Store.open(f"sqlite:///{small_disk}/watchd.db", clock=FakeClock())
    try:
        filler = fill(small_disk)
        for t in range(2000):
            store.record_sample(AvailabilitySample("web1", "http", float(t), 2, 0.1, "x" * 200))
        with capture_logs() as logs, pytest.raises(StoreError) as failed:
            await store.flush()
        assert "full" in failed.value.reason
        assert store.pending_samples == 2000
        assert [e["event"] for e in logs].count("sample writes failing") == 1
        filler.unlink()
        assert await store.flush() == 2000
        assert await store.sample_count() == 2000
    finally:
        await store.close()
