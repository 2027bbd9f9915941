"""Alembic migration environment, shipped inside the package (no alembic.ini needed)."""
