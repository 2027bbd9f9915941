"""The daemon's hold on its SQLite file: one daemon per file, and noticing the file vanish.

    claim ─► flock "<db>.lock" (pid inside) ─► held: another daemon there? StoreLocked, naming it
          ─► remember the file's device and inode; open a witness connection on it
    every commit and every second ─► stat the path: gone, or another inode?
          ─► lost (once, for good): commits refused (StoreFileLost, an OSError: callers get the
             StoreError they already turn into 503 + Retry-After), not ready, one error line,
             and the witness copies what the lost file holds to "<db>.lost-<time>"

A deleted file stays readable by the connections that have it open, so everything committed
before is still there: the copy is taken through the witness, which never reopens the path.
Nothing is written after the loss, so the copy is complete; putting it back and restarting
loses nothing. CLI commands open the store without claiming it (they share the file with a
running daemon, as SQLite's WAL allows).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
import time
from pathlib import Path

from watchd.logging import get_logger
from watchd.store.errors import StoreError

log = get_logger("watchd.store")


class StoreLocked(StoreError):
    """Another daemon holds the lock of the SQLite file `path` (`holder`: its pid, as written)."""

    def __init__(self, path: Path, holder: str) -> None:
        who = f"pid {holder}" if holder else "a process that did not write its pid"
        super().__init__(
            f"lock {path}",
            f"another watchd ({who}) already runs on this file (lock file {lock_path(path)}); "
            "stop it, or give this daemon a store.url of its own",
        )
        self.path = path
        self.holder = holder


class StoreFileLost(OSError):
    """The SQLite file the store opened was deleted or replaced: nothing more is committed."""

    def __init__(self, path: Path, how: str) -> None:
        super().__init__(
            f"the database file {path} was {how} while watchd ran; writes are refused until "
            "watchd is restarted (see README, 'Store')"
        )
        self.path = path
        self.how = how


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


class SqliteFile:
    """The claim on one SQLite file: its lock, its identity and a witness connection to it."""

    def __init__(self, path: Path, lock_fd: int) -> None:
        self.path = path
        self._lock_fd = lock_fd
        self._identity: tuple[int, int] | None = None
        self._witness: sqlite3.Connection | None = None
        self.lost: StoreFileLost | None = None
        self.copy: Path | None = None
        self._reported = False

    @classmethod
    def claim(cls, path: Path) -> SqliteFile:
        """Lock `path` for this process (StoreLocked if another holds it), writing our pid."""
        lock = lock_path(path)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            raise StoreLocked(path, holder) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return cls(path, fd)

    def watch(self) -> None:
        """Remember which file the path names now (after migrations created it) and keep a
        connection to it that outlives its name."""
        stat = os.stat(self.path)
        self._identity = (stat.st_dev, stat.st_ino)
        self._witness = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._witness.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens it now

    def check(self) -> StoreFileLost | None:
        """Why the file is lost, if it is: a stat of the path (microseconds), latched."""
        if self.lost is None and self._identity is not None:
            try:
                stat = os.stat(self.path)
            except FileNotFoundError:
                self.lost = StoreFileLost(self.path, "deleted")
            else:
                if (stat.st_dev, stat.st_ino) != self._identity:
                    self.lost = StoreFileLost(self.path, "replaced by another file")
        return self.lost

    def refuse_lost(self, *_args: object) -> None:
        """Before each commit (a SQLAlchemy "commit" listener): raise StoreFileLost if lost."""
        lost = self.check()
        if lost is not None:
            raise lost

    async def report(self) -> bool:
        """On the first check that finds the file lost: copy it, log one error; True then."""
        lost = self.check()
        if lost is None or self._reported:
            return False
        self._reported = True
        self.copy, failure = await asyncio.to_thread(self._save_copy)
        log.error(
            "store_file_lost",
            path=str(self.path),
            how=lost.how,
            copy=str(self.copy) if self.copy else None,
            copy_error=failure,
            pid=os.getpid(),
            note=(
                "alerts are refused with 503 (senders keep them) and /readyz answers 503; "
                "stop watchd, put the copy back in place of the file, start watchd"
                if self.copy
                else "alerts are refused with 503; the file's data is only in this process now"
            ),
        )
        return True

    def _save_copy(self) -> tuple[Path | None, str | None]:
        if self._witness is None:
            return None, "no connection to the lost file"
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        target = self.path.with_name(f"{self.path.name}.lost-{stamp}")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._witness.execute("VACUUM INTO ?", (str(target),))
        except (OSError, sqlite3.Error) as exc:
            return None, str(exc)
        return target, None

    def release(self) -> None:
        """Close the witness and drop the lock (after the engine closed its connections)."""
        if self._witness is not None:
            with contextlib.suppress(sqlite3.Error):
                self._witness.close()
            self._witness = None
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)
