"""The first hour's async path, as the README's quick path says it: `make run` in one shell and
`photostage worker` in another, both with the same PHOTOSTAGE_* settings (the celery runner, a
Redis, the data directory), then an async job submitted over HTTP ends DONE.

The server is started exactly like tests/docs/test_readme_examples.py starts it (``make run
PORT=… DATA_DIR=…``, the install step skipped); the worker is the virtualenv's ``photostage
worker`` with no option at all: everything it shares with the server comes from the environment.
Redis is the one on 127.0.0.1:6379, in our test DB and under a key prefix of our own
(``PHOTOSTAGE_JOBS__REDIS_KEY_PREFIX``), so a suite beside this one never takes our messages.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..conftest import data_uri, make_product, png_bytes  # noqa: TID252
from ..docs.test_readme_examples import (  # noqa: TID252
    REPO,
    START_DEADLINE_S,
    VENV_BIN,
    clean_environment,
    free_port,
    stop_group,
)
from .test_jobs_support import PROCESS_GUARD_S, REDIS_URL, redis_prefix, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.redis,
    pytest.mark.skipif(not (VENV_BIN / "photostage").exists(), reason="needs the repository's .venv (make test)"),
]
JOB_BOUND_S = PROCESS_GUARD_S  # ends a broken test (the worker starts meanwhile); nothing asserts how soon


@contextlib.contextmanager
def started(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            yield process
        finally:
            stop_group(process)


def healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S  # a bound on a cold start, not a timing assertion
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    pytest.fail("make run did not answer:\n" + log.read_text())


def redis_keys(prefix: str) -> list[bytes]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        return list(client.scan_iter(match=f"{prefix}*", count=1000))
    finally:
        client.close()


def test_make_run_then_photostage_worker_runs_an_async_job(tmp_path: Path) -> None:
    with redis_prefix() as prefix:
        env = clean_environment()
        env.update(  # what both shells export: the README's quick path
            PHOTOSTAGE_JOBS__RUNNER="celery", PHOTOSTAGE_JOBS__REDIS_URL=REDIS_URL,
            PHOTOSTAGE_JOBS__REDIS_KEY_PREFIX=prefix, PHOTOSTAGE_DATA_DIR=str(tmp_path / "data"),
        )
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server_log, worker_log = tmp_path / "server.log", tmp_path / "worker.log"
        make_run = ["make", "--no-print-directory", "-o", ".venv/.installed-run", "run", f"PORT={port}"]
        with started(make_run, env, server_log) as server:
            healthy(url, server, server_log)
            keys = re.findall(r"ps_[A-Za-z0-9_-]{16,}", server_log.read_text())
            assert keys, "make run printed no API key:\n" + server_log.read_text()
            headers = {"Authorization": f"Bearer {keys[0]}"}
            with started([str(VENV_BIN / "photostage"), "worker"], env, worker_log) as worker:
                body = {"object": {"image_url": data_uri(png_bytes(make_product(120, 180))), "scale": 0.6},
                        "scene": {"effect": "shadows", "seed": 3}, "output": {"number_of_images": 1, "format": "png"}}
                accepted = httpx.post(url + "/v1/scene/create/async", json=body, headers=headers, timeout=60)
                assert accepted.status_code == 202, accepted.text
                job_url = f"{url}/v1/scene/create/async/{accepted.json()['data']['id']}"

                def finished() -> dict | None:
                    assert worker.poll() is None, "the worker stopped:\n" + worker_log.read_text()
                    job = httpx.get(job_url, headers=headers, timeout=30).json()["data"]
                    return job if job["status"] in ("DONE", "ERROR", "CANCELLED") else None

                try:
                    job = wait_for(finished, JOB_BOUND_S, interval_s=0.5)
                except AssertionError:
                    print(server_log.read_text()[-4000:], worker_log.read_text()[-4000:], sep="\n--- worker\n")
                    raise
                done = job["status"] == "DONE"
                image = httpx.get(job["result"]["output"][0]["tmp_url"], timeout=30) if done else None
        worker_text = worker_log.read_text()
        ours = redis_keys(prefix)
    assert job["status"] == "DONE", job
    assert ours, "nothing under our key prefix: the processes used another one (a suite beside could take our jobs)"
    assert image is not None and image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert "PHOTOSTAGE_JOBS__RUNNER is 'local'" not in worker_text  # the worker knew it had the server's settings
    assert re.search(r"worker \d+ ready \(queue photostage", worker_text), worker_text[-2000:]
