"""Alembic migrations of photostage's database (see :mod:`photostage.schema`)."""
