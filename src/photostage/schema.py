"""The database schema and its migrations (Alembic, scripts in :mod:`photostage.migrations`).

Every process checks the schema at start (:func:`ensure_schema`):
- an empty database is created at the newest revision (``create_all`` + stamp, the same schema the
  migrations build, as a test checks), so ``make run`` and a fresh deployment need no extra step;
- a database at the newest revision is used as it is;
- anything else (an older revision, or tables made before migrations existed) is refused with a
  :class:`SchemaError` that says to run ``photostage db upgrade``; a newer revision than this
  release knows is refused too (a newer photostage migrated it).

``photostage db upgrade`` (:func:`upgrade`) migrates to the newest revision; a database made by
``create_all`` before migrations existed is recognised as the first revision and upgraded from there.
Concurrent starts are serialised by an advisory lock on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection, Engine

from photostage.config import Settings
from photostage.db import Base, make_engine

if TYPE_CHECKING:
    from alembic.config import Config


# The revision a database made by ``create_all`` before migrations existed is taken to be at.
BASELINE = "0001"
VERSION_TABLE = "alembic_version"
UPGRADE_COMMAND = "photostage db upgrade"
_PG_LOCK_KEY = 0x70686F746F  # "photo": serialises schema changes across processes


class SchemaError(RuntimeError):
    """The database's schema is not the one this release runs on; the message says what to do."""


def metadata() -> MetaData:
    """Every table of photostage (the modules that declare tables register them on ``Base``)."""
    import photostage.cluster  # noqa: F401
    import photostage.idempotency  # noqa: F401
    import photostage.jobs.models  # noqa: F401
    import photostage.storage.models  # noqa: F401
    import photostage.webhooks.models  # noqa: F401

    return Base.metadata


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    from alembic.script import ScriptDirectory

    config = _alembic_config(None)  # type: ignore[arg-type]
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


@functools.cache
def known_revisions() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    config = _alembic_config(None)  # type: ignore[arg-type]
    return frozenset(script.revision for script in ScriptDirectory.from_config(config).walk_revisions())


@dataclass(frozen=True)
class SchemaState:
    revision: str | None  # None: no version table
    tables: frozenset[str]  # photostage's tables present (the version table excluded)
    head: str

    @property
    def empty(self) -> bool:
        return self.revision is None and not self.tables

    @property
    def current(self) -> bool:
        return self.revision == self.head


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def read_state(connection: Connection) -> SchemaState:
    ours = set(metadata().tables)
    present = set(inspect(connection).get_table_names()) & ours
    return SchemaState(revision=_revision(connection), tables=frozenset(present), head=head_revision())


@contextlib.contextmanager
def _schema_lock(engine: Engine) -> Iterator[Connection]:
    """A connection holding the cluster-wide schema lock (PostgreSQL); SQLite's own write lock
    serialises the rest."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
            connection.commit()
        try:
            yield connection
        finally:
            if connection.dialect.name == "postgresql":
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                connection.commit()


def refusal(state: SchemaState) -> str:
    """What to tell an operator whose database is not at this release's revision."""
    if state.revision is None:
        return (
            "The database was created before photostage had migrations (no version table). "
            f"Run `{UPGRADE_COMMAND}` once (with the same settings) to bring it to revision {state.head}."
        )
    if state.revision not in known_revisions():
        return (
            f"The database is at schema revision {state.revision}, which this release of photostage does "
            f"not know (it runs on {state.head}): a newer photostage migrated it. Run that newer release."
        )
    return (
        f"The database is at schema revision {state.revision}; this release needs {state.head}. "
        f"Run `{UPGRADE_COMMAND}` (with the same settings), then start again."
    )


def ensure_schema(engine: Engine) -> SchemaState:
    """Create an empty database at the newest revision; refuse any other revision than the newest
    (:class:`SchemaError`, naming the command to run)."""
    with engine.connect() as connection:
        state = read_state(connection)
    if state.current:
        return state
    if not state.empty:
        raise SchemaError(refusal(state))
    with _schema_lock(engine) as connection:
        state = read_state(connection)  # another process may have created it meanwhile
        if state.empty:
            from alembic import command

            metadata().create_all(connection)
            command.stamp(_alembic_config(connection), "head")
            connection.commit()
            state = read_state(connection)
    if not state.current:
        raise SchemaError(refusal(state))
    return state


def open_database(settings: Settings) -> Engine:
    """The database of these settings with its schema checked (:func:`ensure_schema`)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.sqlalchemy_url)
    try:
        ensure_schema(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Migrate to ``revision`` (default the newest); returns (from, to). A database whose tables
    were made by ``create_all`` before migrations existed is first stamped as :data:`BASELINE`."""
    from alembic import command

    with _schema_lock(engine) as connection:
        before = read_state(connection)
        config = _alembic_config(connection)
        if before.revision is None and before.tables:
            command.stamp(config, BASELINE)
        command.upgrade(config, revision)
        connection.commit()
        after = read_state(connection)
    assert after.revision is not None
    return before.revision, after.revision
