"""A minimal watchd ingestion daemon for crash tests: API + ingest routes + pipeline + SQLite.

Usage: python ingest_daemon.py DB_PATH PORT_FILE [storing]
It serves on 127.0.0.1 (a kernel-chosen port, written to PORT_FILE) until killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.storing_sink import StoringSink
from watchd.api import create_app, start_api
from watchd.api.ingest import add_routes
from watchd.clock import SystemClock
from watchd.config import Config
from watchd.loading import incident_settings
from watchd.logging import configure_logging
from watchd.metrics import Metrics
from watchd.model import AlertSink
from watchd.pipeline import AlertPipeline
from watchd.store import Store


async def main(db: Path, port_file: Path, kind: str) -> None:
    configure_logging("info", "json")  # as the daemon runs under systemd: JSON lines
    clock = SystemClock()
    store = await Store.open(f"sqlite:///{db}", clock=clock)
    sink: AlertSink
    if kind == "storing":
        sink = StoringSink(store)
    else:
        sink = AlertPipeline(store.engine, clock=clock, settings=incident_settings(Config()))
    app = create_app(tokens={}, metrics=Metrics(), items=list, ready=lambda: True)
    add_routes(app, sink=sink, clock=clock)
    runner = await start_api(app, "127.0.0.1", 0)
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(runner.addresses[0][1]))
    tmp.rename(port_file)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(
        main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "pipeline")
    )
