"""The deployment files name only settings that exist: compose.yaml's environment validates as
photostage Settings, its commands are photostage commands, and the systemd units run them."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from photostage.cli import app
from photostage.config import Settings

REPO = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r"\$\{(?P<name>[A-Z_]+)(?::[-?](?P<default>[^}]*))?\}")


def substituted(value: str) -> str:
    """compose's ${NAME:-default} / ${NAME:?message}: the default, or a stand-in secret."""
    return VARIABLE.sub(lambda m: m["default"] if m.group(0).find(":-") > 0 else "a-real-secret-value-123", value)


def subcommand(arguments: list[str]) -> list[str]:
    return list(itertools.takewhile(lambda argument: not argument.startswith("-"), arguments))


def test_compose_environment_is_valid_photostage_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    environment = compose["x-photostage"]["environment"]
    for name in list(__import__("os").environ):
        if name.startswith("PHOTOSTAGE_"):
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, substituted(str(value)))
    settings = Settings()
    assert settings.jobs.runner == "celery" and settings.tmp.store == "s3" and settings.tmp.s3 is not None
    assert settings.server.public_url and settings.storage.encryption_key and settings.tmp.signing_key
    runner = CliRunner()
    for service in ("migrate", "api", "worker"):
        command = compose["services"][service]["command"]
        assert runner.invoke(app, [*subcommand(command), "--help"]).exit_code == 0, command
    example = dict(line.split("=", 1) for line in (REPO / "deploy/compose.env.example").read_text().splitlines()
                   if line and not line.startswith("#"))
    needed = {m["name"] for m in VARIABLE.finditer((REPO / "compose.yaml").read_text()) if ":?" in m.group(0)}
    assert needed <= set(example), needed - set(example)


def test_systemd_units_run_photostage_commands() -> None:
    runner = CliRunner()
    for unit in sorted((REPO / "deploy/systemd").glob("*.service")):
        text = unit.read_text()
        start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
        arguments = start.split()[1:]
        assert start.split()[0] == "ExecStart=/opt/photostage/bin/photostage"
        assert runner.invoke(app, [*subcommand(arguments), "--help"]).exit_code == 0, unit.name
        assert "EnvironmentFile=/etc/photostage/photostage.env" in text
        if "TimeoutStopSec" in text:
            assert int(text.split("TimeoutStopSec=")[1].split()[0]) > 30  # above the default grace
