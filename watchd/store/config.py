"""The `[store]` table of config.toml: the database, write batching and sample retention."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from watchd.configbase import Strict
from watchd.durations import Duration


class StoreConfig(Strict):
    url: str = ""  # empty: SQLite file watchd.db in the state directory
    batch_size: int = Field(default=1000, ge=1)
    flush_interval: Duration = 1.0
    sample_retention: Duration = (
        7 * 86400.0
    )  # raw samples; hourly and daily rollups keep the history
    # SQLite only. "normal": a commit survives the daemon being killed, not a power loss.
    # "full": every commit is fsync'd, so it survives a power loss too; group commit shares
    # one fsync between waiting requests (ingestion ~5 % slower here; bench/README.md).
    sqlite_sync: Literal["normal", "full"] = "normal"
