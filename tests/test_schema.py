"""Migrations: `photostage db upgrade` on an empty database and on one made by ``create_all``
before migrations existed leave the same schema, on SQLite and PostgreSQL; the schema the
migrations build is the one the models declare; start-up refuses any other revision with a
message that names the command to run."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from photostage.cli import app
from photostage.config import Settings
from photostage.db import make_engine
from photostage.schema import (
    BASELINE,
    UPGRADE_COMMAND,
    SchemaError,
    SchemaState,
    ensure_schema,
    head_revision,
    metadata,
    read_state,
    refusal,
    upgrade,
)

from .jobs.test_jobs_support import postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def make_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    """A factory of new empty databases of one kind (each disposed and dropped afterwards)."""
    engines: list[Engine] = []
    stack = __import__("contextlib").ExitStack()

    def new() -> Engine:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'db{len(engines)}.db'}"
        else:
            url = stack.enter_context(postgres_database())
        engine = make_engine(url)
        engines.append(engine)
        return engine

    with stack:
        yield new
        for engine in engines:
            engine.dispose()


def dump(engine: Engine) -> dict:
    """Everything of the schema that matters, in a comparable form."""
    inspector = inspect(engine)
    schema: dict = {}
    for table in sorted(inspector.get_table_names()):
        schema[table] = {
            "columns": [
                (column["name"], str(column["type"]), column["nullable"]) for column in inspector.get_columns(table)
            ],
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]),
                 (fk.get("options") or {}).get("ondelete"))
                for fk in inspector.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (index["name"], tuple(index["column_names"]), bool(index["unique"]))
                for index in inspector.get_indexes(table)
            ),
            "uniques": sorted(tuple(unique["column_names"]) for unique in inspector.get_unique_constraints(table)),
        }
    return schema


def legacy_database(engine: Engine) -> None:
    """What photostage made before migrations: the tables of revision 0001 (``create_all`` of the
    models of then) and no version table."""
    upgrade(engine, BASELINE)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))


def test_upgrade_of_an_empty_and_of_a_legacy_database_give_the_same_schema(make_database) -> None:
    empty, legacy, started = make_database(), make_database(), make_database()
    legacy_database(legacy)
    with legacy.begin() as connection:  # a legacy database keeps its rows
        connection.execute(text("INSERT INTO accounts (id, name, created_at) VALUES (7, 'old', '2026-01-01')"))

    assert upgrade(empty) == (None, head_revision())
    assert upgrade(legacy) == (None, head_revision())
    ensure_schema(started)  # what a first start does with an empty database: create_all + stamp

    assert dump(empty) == dump(legacy) == dump(started)
    assert "jobs" in dump(empty) and "alembic_version" in dump(empty)
    with legacy.connect() as connection:
        assert connection.execute(text("SELECT name FROM accounts WHERE id = 7")).scalar() == "old"
        assert read_state(connection).current
    assert upgrade(empty) == (head_revision(), head_revision())  # again: nothing to do


def test_the_migrations_build_what_the_models_declare(make_database) -> None:
    """A model changed without a migration fails here: add one under
    src/photostage/migrations/versions (see README, "Database and upgrades")."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_database()
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata())
    assert differences == [], f"models and migrations differ; write a migration for: {differences}"


def test_start_up_refuses_a_legacy_or_unknown_revision_and_names_the_command(tmp_path: Path) -> None:
    legacy = make_engine(f"sqlite:///{tmp_path / 'legacy.db'}")
    legacy_database(legacy)
    with pytest.raises(SchemaError, match="photostage db upgrade"):
        ensure_schema(legacy)

    newer = make_engine(f"sqlite:///{tmp_path / 'newer.db'}")
    ensure_schema(newer)
    with newer.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    with pytest.raises(SchemaError, match="newer photostage"):
        ensure_schema(newer)
    legacy.dispose()
    newer.dispose()


def test_an_older_revision_is_told_to_upgrade(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("photostage.schema.known_revisions", lambda: frozenset({BASELINE, "0002"}))
    message = refusal(SchemaState(revision=BASELINE, tables=frozenset({"jobs"}), head="0002"))
    assert f"`{UPGRADE_COMMAND}`" in message and BASELINE in message and "0002" in message


def test_db_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    data_dir = ["--data-dir", str(tmp_path)]
    settings = Settings(data_dir=tmp_path)
    legacy = make_engine(settings.sqlalchemy_url)
    legacy_database(legacy)
    legacy.dispose()

    current = runner.invoke(app, ["db", "current", *data_dir])
    assert current.exit_code == 1 and "photostage db upgrade" in current.output
    upgraded = runner.invoke(app, ["db", "upgrade", *data_dir])
    assert upgraded.exit_code == 0 and f"to {head_revision()}" in upgraded.output, upgraded.output
    again = runner.invoke(app, ["db", "upgrade", *data_dir])
    assert again.exit_code == 0 and "already at revision" in again.output
    assert runner.invoke(app, ["db", "current", *data_dir]).exit_code == 0


def test_a_command_on_an_outdated_database_prints_what_to_run(tmp_path: Path) -> None:
    legacy = make_engine(Settings(data_dir=tmp_path).sqlalchemy_url)
    legacy_database(legacy)
    legacy.dispose()
    result = subprocess.run(
        [sys.executable, "-c", "from photostage.cli import main; main()", "keys", "list", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert "photostage db upgrade" in result.stdout and "Traceback" not in result.stdout + result.stderr
