"""Alembic environment: always run from :mod:`photostage.schema` with an open connection
(``config.attributes["connection"]``); there is no alembic.ini and no URL in a file."""

from __future__ import annotations

from alembic import context

from photostage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata(),
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
