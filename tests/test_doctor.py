"""`photostage doctor`: the table, the JSON report and the exit code when a check fails."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from photostage.cli import app
from photostage.doctor import Check, guarded

runner = CliRunner()


def test_doctor_prints_a_table_and_passes_on_a_fresh_data_dir(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--data-dir", str(tmp_path / "data")], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "codec avif" in result.output and "codec heic" in result.output
    assert "database" in result.output and "ready to serve" in result.output


def test_doctor_json_lists_every_check(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--json", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    checks = {check["name"]: check for check in report["checks"]}
    assert report["ok"] is True
    expected = {"python", "package numpy", "package opencv", "codec png", "codec jpeg", "codec webp",
                "codec avif", "codec tiff", "codec heic", "opencv threads", "optional pymatting",
                "model v1", "cutout engine classical", "data dir", "database", "redis", "storage local"}
    assert expected <= set(checks)
    assert all(check["status"] in ("ok", "warn", "fail") for check in checks.values())
    assert checks["codec avif"]["status"] == "ok" and checks["codec heic"]["status"] == "ok"


def test_failed_checks_exit_1(tmp_path: Path) -> None:
    env = {
        "PHOTOSTAGE_JOBS__RUNNER": "celery",
        "PHOTOSTAGE_JOBS__REDIS_URL": "redis://127.0.0.1:1/0",
        "PHOTOSTAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'dir' / 'db.sqlite'}",
    }
    result = runner.invoke(app, ["doctor", "--json", "--data-dir", str(tmp_path / "data")], env=env)
    assert result.exit_code == 1, result.output
    checks = {check["name"]: check for check in json.loads(result.output)["checks"]}
    assert checks["redis"]["status"] == "fail" and checks["database"]["status"] == "fail"
    assert checks["codec png"]["status"] == "ok"


def test_unreachable_redis_is_not_a_failure_with_the_local_runner(tmp_path: Path) -> None:
    env = {"PHOTOSTAGE_JOBS__REDIS_URL": "redis://127.0.0.1:1/0"}
    result = runner.invoke(app, ["doctor", "--json", "--data-dir", str(tmp_path / "data")], env=env)
    assert result.exit_code == 0, result.output
    redis = next(check for check in json.loads(result.output)["checks"] if check["name"] == "redis")
    assert redis["status"] != "fail" and "not needed" in redis["detail"]


def test_a_check_that_raises_is_reported_as_failed() -> None:
    def broken() -> Check:
        raise RuntimeError("codec exploded\nwith a traceback")

    assert guarded("codec x", broken) == Check("codec x", "fail", "RuntimeError: codec exploded")
