"""Generated secrets (tmp signing key, storage encryption key): processes and threads starting
together on a fresh data directory agree on one value.

The race is made certain rather than likely: every racer is held at a barrier at the moment it
generates its candidate secret, so all of them have looked for the file before any writes it."""

from __future__ import annotations

import multiprocessing
import secrets
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from photostage.config import Settings
from photostage.secretfiles import SecretFileError, read_or_create_secret

RACERS = 4


def _held_generation(barrier: Any) -> Callable[[int | None], str]:
    """``secrets.token_urlsafe`` that first waits for every racer (a thread or process barrier)."""
    original = secrets.token_urlsafe

    def generate(nbytes: int | None = None) -> str:
        barrier.wait()
        return original(nbytes)

    return generate


def test_threads_racing_on_a_fresh_data_dir_get_one_secret(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(RACERS, timeout=30)
    monkeypatch.setattr(secrets, "token_urlsafe", _held_generation(barrier))
    settings = Settings(data_dir=tmp_path / "data")
    results: list[str] = []
    errors: list[BaseException] = []

    def race() -> None:
        try:
            results.append(settings.secret("storage-key", None))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    stored = (tmp_path / "data" / "secrets" / "storage-key").read_text()
    assert results == [stored] * RACERS
    assert sorted(path.name for path in (tmp_path / "data" / "secrets").iterdir()) == ["storage-key"]


def _process_racer(data_dir: str, barrier, answers) -> None:  # type: ignore[no-untyped-def]
    secrets.token_urlsafe = _held_generation(barrier)
    answers.put(Settings(data_dir=Path(data_dir)).secret("tmp-signing-key", None))


def test_two_processes_racing_on_a_fresh_data_dir_get_one_secret(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(2, timeout=60)
    answers = context.Queue()
    processes = [
        context.Process(target=_process_racer, args=(str(tmp_path / "data"), barrier, answers)) for _ in range(2)
    ]
    for process in processes:
        process.start()
    values = [answers.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    stored = (tmp_path / "data" / "secrets" / "tmp-signing-key").read_text()
    assert values == [stored, stored]


def test_a_secret_file_is_private_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "k"
    first = read_or_create_secret(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_or_create_secret(path) == first and len(first) >= 43


def test_an_empty_secret_file_is_a_clear_error_not_an_empty_key(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "k"
    path.parent.mkdir()
    path.write_text("")
    with pytest.raises(SecretFileError, match="is empty"):
        read_or_create_secret(path)


def test_a_configured_secret_wins(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).secret("storage-key", "configured-value") == "configured-value"
    assert not (tmp_path / "secrets").exists()
