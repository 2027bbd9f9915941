"""Tables of the cluster (DESIGN.md §6): the nodes and their heartbeats (cluster_nodes) and the
leases of singleton work (cluster_leases). They live on the same MetaData as tables.py;
migration 0009 creates them.

Heartbeat and lease times are written from the database's clock on PostgreSQL, so the nodes'
own clocks may disagree; on SQLite (one node) they come from the process clock.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Double, Integer, String, Table

from watchd.store.tables import metadata

cluster_nodes = Table(
    "cluster_nodes",
    metadata,
    Column("name", String(), primary_key=True),
    Column("zones", JSON, nullable=False),  # the zone names whose items it polls
    Column("host", String(), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("api", String(), nullable=False),  # its API's listen address, "" when disabled
    Column("started_at", Double, nullable=False),
    Column("heartbeat_at", Double, nullable=False),
    Column("checks_owned", Integer, nullable=False),
)
# A node that leaves (SIGTERM) deletes its row; a dead one keeps it, with its last heartbeat.

cluster_leases = Table(
    "cluster_leases",
    metadata,
    Column("name", String(), primary_key=True),
    Column("holder", String(), nullable=False),  # "" once released
    Column("acquired_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
)
