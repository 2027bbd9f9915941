"""The store: SQLAlchemy Core over SQLite (default, WAL) or PostgreSQL, schema by Alembic.

Everything else in watchd reaches the database through `Store`; `upgrade` is `watchd db upgrade`.
"""

from watchd.store import cluster_tables as cluster_tables  # registers them on the metadata
from watchd.store import heartbeat_pings as heartbeat_pings  # registers it on the metadata
from watchd.store import incident_tables as incident_tables  # registers them on the metadata
from watchd.store import journal as journal  # registers it on the metadata
from watchd.store import notify_tables as notify_tables  # registers them on the metadata
from watchd.store import oncall_tables as oncall_tables  # registers it on the metadata
from watchd.store import review_tables as review_tables  # registers them on the metadata
from watchd.store import rollup_tables as rollup_tables  # registers them on the metadata
from watchd.store.errors import StoreError
from watchd.store.migrate import upgrade
from watchd.store.samples import AvailabilitySample
from watchd.store.sqlite_file import StoreLocked
from watchd.store.store import Store

__all__ = ["AvailabilitySample", "Store", "StoreError", "StoreLocked", "upgrade"]
