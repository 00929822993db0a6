"""Running as a fleet, the acceptance tests of recovery: a broker that loses its queue, an API
killed in the middle of a synchronous request with an Idempotency-Key, a worker stopped with
SIGTERM in the middle of a job. Real processes, a private Redis (never the shared one: this test
kills it), the shared PostgreSQL or a SQLite file."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from photostage.config import Settings
from photostage.jobs.options import JobOptions

from .test_jobs_celery import product_body, stop
from .test_jobs_support import PROCESS_GUARD_S, wait_for

pytestmark = pytest.mark.redis
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclasses.dataclass
class PrivateRedis:
    """A redis-server of this test's own on a free port, keeping nothing on disk: killing and
    restarting it loses every queued message, as a Redis without persistence does."""

    port: int
    directory: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis.from_url(self.url)
        process = self.process
        wait_for(lambda: process.poll() is not None or _ping(client), 120, interval_s=0.05)
        client.close()
        if process.poll() is not None:  # the port was taken (another suite running beside this one)
            self.process = None
            raise OSError(f"redis-server could not listen on port {self.port}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


def _ping(client) -> bool:  # type: ignore[no-untyped-def]
    import redis

    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@contextlib.contextmanager
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    for _ in range(5):  # a free port may be taken by someone else before redis-server binds it
        server = PrivateRedis(free_port(), tmp_path)
        try:
            server.start()
            break
        except OSError:
            continue
    else:
        pytest.fail("redis-server found no free port in five tries")
    try:
        yield server
    finally:
        server.kill()


def start_worker(settings: Settings, options: JobOptions, logs: Path, name: str,
                 env: dict[str, str] | None = None, slow: bool = False) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "photostage.cli", "worker", "--pool", "solo", "--queue", options.queue,
        "--redis-url", options.redis_url, "--redis-prefix", options.redis_key_prefix,
        "--lease-s", str(options.lease_s), "--data-dir", str(settings.data_dir),
    ] + (["--plugin", "tests.jobs.test_jobs_slow_engine:install"] if slow else [])
    environment = {**os.environ, "PHOTOSTAGE_DATABASE_URL": settings.sqlalchemy_url, "OPENBLAS_NUM_THREADS": "1",
                   "PHOTOSTAGE_LIMITS__WORKERS": "1", **(env or {})}
    log = (logs / f"{name}.log").open("wb")
    return subprocess.Popen(command, cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT)


def logs_of(directory: Path) -> str:
    return "\n".join(f"--- {path.name}\n{path.read_text()[-3000:]}" for path in sorted(directory.glob("*.log")))


@contextlib.contextmanager
def api(settings: Settings, options: JobOptions) -> Iterator[tuple[TestClient, dict[str, str]]]:
    from photostage.api.app import create_app
    from photostage.services import build_services

    services = build_services(settings, job_options=options)
    secret, _ = services.keys.create("fleet")
    try:
        with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
            yield client, {"Authorization": f"Bearer {secret}"}
    finally:
        services.close()


@pytest.mark.slow
def test_a_broker_that_lost_its_queue_gets_every_job_again_and_none_runs_twice(tmp_path: Path) -> None:
    """50 jobs queued, Redis killed and restarted empty: one reaper pass sends each again exactly
    once, and all end DONE with one attempt each (counted, not timed)."""
    import redis

    logs = tmp_path / "logs"
    logs.mkdir()
    with private_redis(tmp_path) as server:
        settings = Settings(data_dir=tmp_path / "api", database_url=f"sqlite:///{tmp_path / 'fleet.db'}",
                            rate_limit={"enabled": False}, jobs={"runner": "celery", "redis_url": server.url})
        options = dataclasses.replace(JobOptions.from_settings(settings.jobs), queue="fleet", lease_s=600.0,
                                      redis_key_prefix="fleet:")  # no lease runs out: "attempts 1" is the broker's
        with api(settings, options) as (client, headers):
            services = client.app.state.services
            services.jobs._stop.set()  # this test runs the reaper's passes itself (counted, not timed)
            ids = []
            for _ in range(50):
                response = client.post("/v1/scene/create/async", json=product_body(), headers=headers)
                assert response.status_code == 202, response.text
                ids.append(response.json()["data"]["id"])
            broker = redis.Redis.from_url(server.url)
            assert broker.llen("fleet:fleet") == 50
            broker.close()

            server.kill()
            server.start()  # empty: the 50 messages are gone
            assert services.jobs.reap() == 50  # the lost messages, each sent once more
            assert services.jobs.reap() == 0
            broker = redis.Redis.from_url(server.url)
            assert broker.llen("fleet:fleet") == 50
            broker.close()

            workers = [start_worker(settings, options, logs, f"worker-{n}") for n in range(2)]
            try:
                def all_done() -> bool:
                    return all(
                        client.get(f"/v1/scene/create/async/{job_id}", headers=headers).json()["data"]["status"]
                        == "DONE" for job_id in ids
                    )

                try:
                    wait_for(all_done, PROCESS_GUARD_S, interval_s=0.5, alive=workers)
                except AssertionError:
                    print(logs_of(logs))
                    raise
                jobs = [client.get(f"/v1/scene/create/async/{job_id}", headers=headers).json()["data"]
                        for job_id in ids]
                assert [job["attempts"] for job in jobs] == [1] * 50  # none ran twice
            finally:
                for worker in workers:
                    stop(worker)


def test_a_worker_stopped_with_sigterm_hands_its_job_back_at_once(tmp_path: Path) -> None:
    """SIGTERM mid-job with a 0.5 s grace: the job is ACCEPTED again, and another worker finishes it
    (one attempt counted). The lease (3600 s) outlasts every wait of this test, so the job coming
    back can only be the stopping worker handing it back, never its lease running out: no clock
    is read, however slow the machine. The waits are bounded by PROCESS_GUARD_S (only a broken
    test reaches it) and end at once when the worker they wait on exits."""
    logs = tmp_path / "logs"
    logs.mkdir()
    with private_redis(tmp_path) as server:
        settings = Settings(data_dir=tmp_path / "api", database_url=f"sqlite:///{tmp_path / 'fleet.db'}",
                            rate_limit={"enabled": False}, jobs={"runner": "celery", "redis_url": server.url})
        options = dataclasses.replace(JobOptions.from_settings(settings.jobs), queue="fleet", lease_s=3600.0,
                                      redis_key_prefix="fleet:")
        with api(settings, options) as (client, headers):
            slow = {"PHOTOSTAGE_JOBS__SHUTDOWN_GRACE_S": "0.5", "PHOTOSTAGE_TEST_RENDER_DELAY_S": "3"}
            first = start_worker(settings, options, logs, "first", env=slow, slow=True)
            body = product_body(number_of_images=4)  # a prompt scene renders through the slow engine: 4 × 3 s
            body["scene"] = {"prompt": "a bottle on a marble table, soft light", "preference": "fast", "seed": 5}
            job_id = client.post("/v1/scene/create/async", json=body, headers=headers).json()["data"]["id"]

            def job() -> dict:
                return client.get(f"/v1/scene/create/async/{job_id}", headers=headers).json()["data"]

            try:
                wait_for(lambda: job()["status"] == "PROCESSING", PROCESS_GUARD_S, interval_s=0.1, alive=[first])
            except AssertionError:
                print(logs_of(logs))
                raise
            first.send_signal(signal.SIGTERM)
            try:  # handed back (the lease outlasts the guard: it cannot have expired)
                wait_for(lambda: job()["status"] == "ACCEPTED", PROCESS_GUARD_S, interval_s=0.1)
            except AssertionError:
                print(job()["status"], logs_of(logs))
                raise
            assert first.wait(timeout=PROCESS_GUARD_S) == 0  # it stops at the job's next step, then exits
            second = start_worker(settings, options, logs, "second")
            try:
                done = wait_for(lambda: (record := job())["status"] in ("DONE", "ERROR") and record,
                                PROCESS_GUARD_S, interval_s=0.2, alive=[second])
            except AssertionError:
                print(job()["status"], logs_of(logs))
                raise
            finally:
                stop(second)
            assert done["status"] == "DONE" and done["attempts"] == 1, done


@pytest.mark.slow
def test_an_api_killed_during_a_sync_request_lets_the_retry_through_once_its_claim_lapses(tmp_path: Path) -> None:
    """A client sends a synchronous request with an Idempotency-Key; its API process is killed
    mid-render. The client retries against another API process of the same database: refused
    (409) while the dead process's claim lasts (claim_s = 3 s here), then answered. Retries are
    counted, not timed: up to 400 of them, half a second apart."""
    from photostage.accounts import KeyStore
    from photostage.db import make_sessionmaker
    from photostage.schema import open_database

    settings = Settings(data_dir=tmp_path / "shared", database_url=f"sqlite:///{tmp_path / 'fleet.db'}")
    engine = open_database(settings)
    secret, _ = KeyStore(make_sessionmaker(engine)).create("fleet")
    engine.dispose()
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "order-1234"}
    environment = {
        **os.environ, "PHOTOSTAGE_DATABASE_URL": settings.sqlalchemy_url, "PHOTOSTAGE_RATE_LIMIT__ENABLED": "false",
        "PHOTOSTAGE_JOBS__SYNC_CLAIM_S": "3", "OPENBLAS_NUM_THREADS": "1", "PHOTOSTAGE_TMP__SIGNING_KEY": "s" * 32,
        "PHOTOSTAGE_STORAGE__ENCRYPTION_KEY": "e" * 32,
    }

    def start_api(name: str, delay_s: str) -> tuple[subprocess.Popen, str]:
        port_file = tmp_path / f"{name}.port"  # the API binds port 0 itself and says which it got
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.jobs.slow_api", "0", str(port_file)], cwd=REPO,
            env={**environment, "PHOTOSTAGE_DATA_DIR": str(tmp_path / name), "PHOTOSTAGE_TEST_RENDER_DELAY_S": delay_s},
            stdout=(tmp_path / f"{name}.log").open("wb"), stderr=subprocess.STDOUT,
        )
        wait_for(lambda: port_file.exists() and _answers(f"http://127.0.0.1:{port_file.read_text()}/healthz"),
                 PROCESS_GUARD_S, interval_s=0.2, alive=[process])
        return process, f"http://127.0.0.1:{port_file.read_text()}"

    body = product_body()  # a prompt scene renders through the slow engine (60 s on the first API)
    body["scene"] = {"prompt": "a bottle on a marble table, soft light", "preference": "fast", "seed": 5}
    first, first_url = start_api("api-1", delay_s="60")
    second, second_url = start_api("api-2", delay_s="0")
    try:
        with httpx.Client(timeout=120) as http:
            import threading

            threading.Thread(
                target=lambda: _quietly(lambda: http.post(f"{first_url}/v1/scene/create", json=body,
                                                          headers=headers)), daemon=True,
            ).start()
            wait_for(lambda: _claimed(settings.sqlalchemy_url), PROCESS_GUARD_S, interval_s=0.2,
                     alive=[first])  # the first holds the key
            first.kill()
            first.wait()
            answer = None
            for _ in range(400):
                response = http.post(f"{second_url}/v1/scene/create", json=body, headers=headers)
                if response.status_code == 200:
                    answer = response
                    break
                assert response.status_code == 409, response.text
                time.sleep(0.5)
            assert answer is not None, "the retry was still refused after 400 tries"
            assert "idempotent-replayed" not in answer.headers  # rendered anew: the first never finished
            replay = http.post(f"{second_url}/v1/scene/create", json=body, headers=headers)
            assert replay.status_code == 200 and replay.headers.get("idempotent-replayed") == "true"
            assert replay.json() == answer.json()
    finally:
        for process in (first, second):
            stop(process)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _claimed(database_url: str) -> bool:
    """True once a running request holds an Idempotency-Key (a pending record in the database)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return bool(connection.execute(
                text("SELECT count(*) FROM idempotency_keys WHERE response_json IS NULL")).scalar())
    finally:
        engine.dispose()


def _quietly(call) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(httpx.HTTPError):
        call()
