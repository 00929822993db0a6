"""An API and two workers as on three hosts: each with its own data directory, sharing only the
database (PostgreSQL) and Redis. Every result link works from the API (on the API's public URL,
never a worker's), S3 destinations work (the workers decrypt the storages' credentials with the
fleet's key), nothing is misattributed between accounts; a worker whose storage key differs
refuses to start, naming the setting."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from photostage.config import Settings
from photostage.jobs.options import JobOptions

from ..conftest import moto_s3  # noqa: TID252
from .test_jobs_celery import product_body, stop
from .test_jobs_fleet import logs_of, private_redis
from .test_jobs_support import PROCESS_GUARD_S, postgres_database, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.postgres]
REPO = Path(__file__).resolve().parents[2]
STORAGE_KEY = "fleet-storage-key-" + "k" * 24
PUBLIC_URL = "https://photostage.example.com"


def worker_command(options: JobOptions, data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "photostage.cli", "worker", "--pool", "solo", "--queue", options.queue,
            "--redis-url", options.redis_url, "--redis-prefix", options.redis_key_prefix, "--lease-s", "10",
            "--data-dir", str(data_dir)]


def worker_environment(database_url: str, storage_key: str | None) -> dict[str, str]:
    environment = {**os.environ, "PHOTOSTAGE_DATABASE_URL": database_url, "OPENBLAS_NUM_THREADS": "1",
                   "PHOTOSTAGE_SOURCES__ALLOW_HOSTS": '["127.0.0.1"]', "PHOTOSTAGE_LIMITS__WORKERS": "1"}
    environment.pop("PHOTOSTAGE_STORAGE__ENCRYPTION_KEY", None)
    if storage_key is not None:
        environment["PHOTOSTAGE_STORAGE__ENCRYPTION_KEY"] = storage_key
    return environment


def s3_storage(endpoint: str, bucket: str, secret: str) -> dict:
    return {"name": "shots", "type": "s3", "parameters": {
        "bucket": bucket, "path": "renders", "endpoint_url": endpoint, "region": "us-east-1",
        "credentials": {"access_key": "test", "secret_access_key": secret}}}


@pytest.mark.slow
def test_an_api_and_two_workers_on_separate_disks_share_only_the_database_and_redis(tmp_path: Path) -> None:
    import boto3

    from photostage.api.app import create_app
    from photostage.services import build_services

    logs = tmp_path / "logs"
    logs.mkdir()
    with (
        postgres_database() as database_url,
        private_redis(tmp_path) as redis_server,
        moto_s3("bucket-a", "secret-a") as endpoint_a,
        moto_s3("bucket-b", "secret-b") as endpoint_b,
    ):
        settings = Settings(
            data_dir=tmp_path / "api", database_url=database_url, rate_limit={"enabled": False},
            sources={"allow_hosts": ["127.0.0.1"]}, server={"public_url": PUBLIC_URL},
            storage={"encryption_key": STORAGE_KEY}, jobs={"runner": "celery", "redis_url": redis_server.url},
        )
        assert settings.tmp.backend(database_url) == "database"  # the default with a shared database
        options = dataclasses.replace(JobOptions.from_settings(settings.jobs), queue="fleet",
                                      redis_key_prefix="fleet:")
        services = build_services(settings, job_options=options)
        workers: list[subprocess.Popen] = []
        try:
            # A worker whose storage key is not the fleet's refuses to start and says which setting.
            wrong = subprocess.run(worker_command(options, tmp_path / "wrong"), cwd=REPO, capture_output=True,
                                   text=True, env=worker_environment(database_url, None), timeout=120)
            assert wrong.returncode != 0
            assert "PHOTOSTAGE_STORAGE__ENCRYPTION_KEY" in wrong.stdout + wrong.stderr

            for number in range(2):
                workers.append(subprocess.Popen(
                    worker_command(options, tmp_path / f"worker-{number}"), cwd=REPO,
                    env=worker_environment(database_url, STORAGE_KEY),
                    stdout=(logs / f"worker-{number}.log").open("wb"), stderr=subprocess.STDOUT,
                ))
            with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
                accounts = {}
                for name, endpoint, bucket, secret in (("a", endpoint_a, "bucket-a", "secret-a"),
                                                       ("b", endpoint_b, "bucket-b", "secret-b")):
                    key, _ = services.keys.create(f"account-{name}")
                    headers = {"Authorization": f"Bearer {key}"}
                    created = client.post("/v1/storage/storages", json=s3_storage(endpoint, bucket, secret),
                                          headers=headers)
                    assert created.status_code == 200, created.text
                    jobs = []
                    for index in range(4):
                        body = product_body(number_of_images=2)
                        body["scene"]["seed"] = index
                        if index % 2:
                            body["output"]["destination"] = "storage://shots/out/"
                        response = client.post("/v1/scene/create/async", json=body, headers=headers)
                        assert response.status_code == 202, response.text
                        jobs.append(response.json()["data"]["id"])
                    accounts[name] = (headers, jobs, endpoint, bucket, secret)

                def finished(headers: dict[str, str], job_id: str) -> dict | None:
                    job = client.get(f"/v1/scene/create/async/{job_id}", headers=headers).json()["data"]
                    return job if job["status"] in ("DONE", "ERROR") else None

                for name, (headers, jobs, endpoint, bucket, secret) in accounts.items():
                    other_headers = accounts["b" if name == "a" else "a"][0]
                    s3_keys = []
                    for index, job_id in enumerate(jobs):
                        try:
                            job = wait_for(lambda h=headers, j=job_id: finished(h, j), PROCESS_GUARD_S, interval_s=0.2,
                                           alive=workers)
                        except AssertionError:
                            print(logs_of(logs))
                            raise
                        assert job["status"] == "DONE", job["error"]
                        assert client.get(f"/v1/scene/create/async/{job_id}",
                                          headers=other_headers).status_code == 404  # not the other's
                        outputs = job["result"]["output"]
                        assert len(outputs) == 2
                        for number, output in enumerate(outputs):
                            if index % 2:  # written to the account's own bucket by some worker
                                assert output["object_key"] == f"renders/out/{job_id}_{number}.png"
                                assert output["object_bucket"] == bucket and output["tmp_url"] == ""
                                s3_keys.append(output["object_key"])
                            else:  # a temporary link on the API's public URL, served by the API
                                link = urlsplit(output["tmp_url"])
                                assert f"{link.scheme}://{link.netloc}" == PUBLIC_URL
                                served = client.get(f"{link.path}?{link.query}")
                                assert served.status_code == 200, served.text
                                assert served.content.startswith(b"\x89PNG")
                    listing = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test",
                                           aws_secret_access_key=secret, region_name="us-east-1").list_objects_v2(
                        Bucket=bucket, Prefix="renders/out/")
                    assert sorted(item["Key"] for item in listing["Contents"]) == sorted(s3_keys)
                # Nothing of the results sits on the API's or the workers' own disks.
                for directory in (tmp_path / "api", tmp_path / "worker-0", tmp_path / "worker-1"):
                    tmp_dir = directory / "tmp"
                    assert not tmp_dir.exists() or not any(tmp_dir.iterdir())
        finally:
            for worker in workers:
                stop(worker)
            services.close()
