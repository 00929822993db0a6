"""The celery runner with real worker processes (``python -m photostage.cli worker``), a
real Redis broker, and SQLite or PostgreSQL shared between the API and the workers."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from photostage.config import Settings
from photostage.jobs.options import JobOptions
from photostage.jobs.service import build_job_service

from ..conftest import data_uri, local_namespace, make_product, png_bytes  # noqa: TID252
from .test_jobs_support import PROCESS_GUARD_S, REDIS_URL, files_under, postgres_database, redis_prefix, wait_for

pytestmark = pytest.mark.redis

REPO = Path(__file__).resolve().parents[2]
# Long enough that a worker stalled by a busy machine keeps its job (a lease that runs out mid-run
# sends the job to a worker again: one attempt more than the tests count), short enough that the
# killed worker's job comes back within seconds.
LEASE_S = 10.0


@dataclasses.dataclass
class CeleryWorld:
    settings: Settings
    options: JobOptions
    client: TestClient
    headers: dict[str, str]
    logs: Path
    workers: list[subprocess.Popen]

    def start_worker(self, slow: bool) -> subprocess.Popen:
        command = [
            sys.executable, "-m", "photostage.cli", "worker", "--pool", "solo",
            "--queue", self.options.queue, "--redis-url", REDIS_URL, "--redis-prefix", self.options.redis_key_prefix,
            "--lease-s", str(LEASE_S), "--data-dir", str(self.settings.data_dir), "--loglevel", "INFO",
        ]
        if slow:
            command += ["--plugin", "tests.jobs.test_jobs_slow_engine:install"]
        env = {
            **os.environ,
            "PHOTOSTAGE_DATABASE_URL": self.settings.sqlalchemy_url,
            "PHOTOSTAGE_LIMITS__WORKERS": "2",
            "PHOTOSTAGE_TEST_RENDER_DELAY_S": "1.0",
            "OPENBLAS_NUM_THREADS": "1",
        }
        log = (self.logs / f"worker-{len(self.workers)}.log").open("wb")
        worker = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(worker)
        return worker

    def job(self, job_id: str) -> dict:
        response = self.client.get(f"/v1/scene/create/async/{job_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def submit(self, body: dict) -> str:
        response = self.client.post("/v1/scene/create/async", json=body, headers=self.headers)
        assert response.status_code == 202, response.text
        return response.json()["data"]["id"]

    def wait_done(self, job_id: str, timeout_s: float = PROCESS_GUARD_S) -> dict:
        """The job once final; the wait ends at once if every worker running now exits."""

        def finished() -> dict | None:
            job = self.job(job_id)
            return job if job["status"] in ("DONE", "ERROR", "CANCELLED") else None

        running = [worker for worker in self.workers if worker.poll() is None]
        try:
            return wait_for(finished, timeout_s, interval_s=0.1, alive=running)  # type: ignore[return-value]
        except AssertionError:
            print(self.worker_logs())
            raise

    def worker_logs(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}" for path in sorted(self.logs.glob("*.log")))


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


@contextlib.contextmanager
def celery_world(tmp_path: Path, database_url: str) -> Iterator[CeleryWorld]:
    from photostage.api.app import create_app
    from photostage.services import build_services

    with redis_prefix() as prefix:
        settings = Settings(
            data_dir=tmp_path / "data", database_url=database_url, rate_limit={"enabled": False},
            sources={"allow_hosts": ["127.0.0.1"]}, limits={"workers": 2},
            jobs={"runner": "celery", "redis_url": REDIS_URL},
        )
        options = dataclasses.replace(
            JobOptions.from_settings(settings.jobs), queue=f"{prefix}jobs", redis_key_prefix=prefix,
            lease_s=LEASE_S, poll_s=0.2,
        )
        services = build_services(settings)
        services.jobs.stop()
        services.jobs = build_job_service(services, options)
        secret, _ = services.keys.create("celery-test")
        logs = tmp_path / "logs"
        logs.mkdir()
        world = None
        try:
            with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
                world = CeleryWorld(settings, options, client, {"Authorization": f"Bearer {secret}"}, logs, [])
                yield world
        finally:
            for worker in world.workers if world else []:
                stop(worker)
            services.close()


def product_body(**output: object) -> dict:
    return {"object": {"image_url": data_uri(png_bytes(make_product(120, 180))), "scale": 0.6},
            "scene": {"effect": "shadows", "seed": 3},
            "output": {"number_of_images": 1, "format": "png", **output}}


def test_jobs_run_on_a_celery_worker_and_a_duplicate_message_is_harmless(tmp_path: Path) -> None:
    with celery_world(tmp_path, f"sqlite:///{tmp_path / 'celery.db'}") as world:
        world.start_worker(slow=False)
        job_ids = [world.submit(product_body()) for _ in range(3)]
        for job_id in job_ids:
            job = world.wait_done(job_id)
            assert job["status"] == "DONE", job["error"]
            assert job["attempts"] == 1 and len(job["result"]["output"]) == 1
        # At-least-once delivery: the same message again finds the job DONE and leaves it be.
        world.client.app.state.services.jobs.dispatcher.submit(job_ids[0])
        import redis

        queue_key = world.options.redis_key_prefix + world.options.queue
        broker = redis.Redis.from_url(REDIS_URL)
        wait_for(lambda: broker.llen(queue_key) == 0, 120)
        time.sleep(0.5)
        assert world.job(job_ids[0])["attempts"] == 1
        broker.close()


@pytest.mark.slow
@pytest.mark.postgres
def test_a_worker_killed_mid_job_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    with postgres_database() as database_url, celery_world(tmp_path, database_url) as world:
        first = world.start_worker(slow=True)
        body = product_body(number_of_images=4, destination="storage://local/kill/")
        body["scene"] = {"prompt": "a bottle on a marble table, soft light", "preference": "fast", "seed": 5}
        job_id = world.submit(body)
        wait_for(lambda: world.job(job_id)["progress"]["stage"] == "render", PROCESS_GUARD_S, interval_s=0.05,
                 alive=[first])
        first.kill()  # SIGKILL: no cleanup, no ack, the lease is left to expire
        first.wait()
        assert world.job(job_id)["status"] == "PROCESSING"
        world.start_worker(slow=True)
        job = world.wait_done(job_id)
        assert job["status"] == "DONE", job["error"]
        assert job["attempts"] == 2
        names = [f"kill/{job_id}_{index}.png" for index in range(4)]
        assert [output["object_key"] for output in job["result"]["output"]] == names
        assert files_under(local_namespace(world.settings)) == names  # the one account's namespace
