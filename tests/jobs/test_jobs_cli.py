"""The job commands: ``webhooks set``/``webhooks secret`` and the ``worker`` options."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from photostage.accounts import KeyStore
from photostage.cli.jobs import register
from photostage.config import Settings
from photostage.db import make_engine, make_sessionmaker
from photostage.schema import ensure_schema
from photostage.webhooks.delivery import WebhookSecrets


def command() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_webhooks_set_and_secret(tmp_path: Path) -> None:
    import photostage.jobs.models  # noqa: F401

    settings = Settings(data_dir=tmp_path)
    engine = make_engine(settings.sqlalchemy_url)
    ensure_schema(engine)
    sessions = make_sessionmaker(engine)
    _, info = KeyStore(sessions).create("cli")
    runner = CliRunner()
    data_dir = ["--data-dir", str(tmp_path)]
    result = runner.invoke(command(), ["webhooks", "set", str(info.id), "https://hooks.example.com/a", *data_dir])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("whsec_") and WebhookSecrets(sessions).signing_secret(info.account_id) == secret
    assert KeyStore(sessions).webhook_url(info.id) == "https://hooks.example.com/a"
    again = runner.invoke(command(), ["webhooks", "set", info.prefix, "https://hooks.example.com/b", *data_dir])
    assert again.exit_code == 0 and "whsec_" not in again.output  # the secret is shown once
    refused = runner.invoke(command(), ["webhooks", "set", str(info.id), "http://127.0.0.1/x", *data_dir])
    assert refused.exit_code == 2
    cleared = runner.invoke(command(), ["webhooks", "set", str(info.id), *data_dir])
    assert cleared.exit_code == 0 and KeyStore(sessions).webhook_url(info.id) is None
    assert runner.invoke(command(), ["webhooks", "set", "999", "https://x.example.com", *data_dir]).exit_code == 1
    rotated = runner.invoke(command(), ["webhooks", "secret", str(info.account_id), *data_dir])
    assert rotated.exit_code == 0 and rotated.output.strip() != secret
    assert WebhookSecrets(sessions).signing_secret(info.account_id) == rotated.output.strip()
    engine.dispose()


def test_worker_refuses_an_unknown_pool_and_documents_its_options() -> None:
    runner = CliRunner()
    assert runner.invoke(command(), ["worker", "--pool", "gevent"]).exit_code == 2
    help_text = runner.invoke(command(), ["worker", "--help"]).output
    for option in ("--pool", "--concurrency", "--queue", "--lease-s", "--plugin", "--redis-url"):
        assert option in help_text


def test_worker_takes_its_lease_from_the_settings_unless_given(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    started: list[float] = []
    monkeypatch.setattr("photostage.worker.run_worker", lambda settings, options, **_: started.append(options.lease_s))
    monkeypatch.setenv("PHOTOSTAGE_JOBS__LEASE_S", "7")
    runner = CliRunner()
    data_dir = ["--data-dir", str(tmp_path)]
    assert runner.invoke(command(), ["worker", *data_dir]).exit_code == 0
    assert runner.invoke(command(), ["worker", "--lease-s", "3", *data_dir]).exit_code == 0
    assert started == [7.0, 3.0]


def test_worker_takes_its_redis_key_prefix_from_the_settings_unless_given(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The API reads the prefix from the settings only: a worker with the same settings uses the same keys."""
    from photostage.config import Settings
    from photostage.jobs.options import JobOptions

    started: list[str] = []
    monkeypatch.setattr("photostage.worker.run_worker",
                        lambda settings, options, **_: started.append(options.redis_key_prefix))
    monkeypatch.setenv("PHOTOSTAGE_JOBS__REDIS_KEY_PREFIX", "shop-a:")
    runner = CliRunner()
    data_dir = ["--data-dir", str(tmp_path)]
    assert runner.invoke(command(), ["worker", *data_dir]).exit_code == 0
    assert runner.invoke(command(), ["worker", "--redis-prefix", "other:", *data_dir]).exit_code == 0
    assert started == ["shop-a:", "other:"]
    assert JobOptions.from_settings(Settings(data_dir=tmp_path).jobs).redis_key_prefix == "shop-a:"
