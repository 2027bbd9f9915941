"""The active-active cluster on PostgreSQL (DESIGN.md §6): membership, check sharding, leases.

PostgreSQL is the coordinator; SQLite is one node (a second daemon on the file is refused by
the store's lock). This package sits right under the composition root: it may use every stage
below it, and the API reaches it only through callables the composition root passes in.
"""
