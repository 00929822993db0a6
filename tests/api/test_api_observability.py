"""/metrics (Prometheus), /readyz (readiness: database, broker, storage) and JSON logs with the
request id."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from photostage.config import Settings
from photostage.observability.logs import ContextFilter, JsonFormatter
from photostage.observability.metrics import series_names

from ..conftest import data_uri, png_bytes  # noqa: TID252
from ..jobs.test_jobs_support import WebhookReceiver, postgres_database, wait_for  # noqa: TID252
from ..netproxy import TcpProxy  # noqa: TID252

EXPECTED_SERIES = {
    "photostage_http_requests_total",
    "photostage_http_request_duration_seconds_bucket",
    "photostage_pipeline_stage_duration_seconds_bucket",
    "photostage_errors_total",
    "photostage_cutout_refusals_total",
    "photostage_webhook_attempts_total",
    "photostage_job_runs_total",
    "photostage_jobs",
    "photostage_queue_depth",
    "photostage_job_age_seconds",
    "photostage_webhook_deliveries",
    "photostage_jobs_collector_up",
}


def scene_body(product_uri: str) -> dict:
    return {"object": {"image_url": product_uri, "scale": 0.5}, "scene": {"effect": "shadows", "seed": 1},
            "output": {"number_of_images": 1, "format": "jpeg"}}


def sample(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (0 when absent), labels in any order."""
    wanted = {f'{key}="{value}"' for key, value in labels.items()}
    for line in exposition.splitlines():
        head, _, value = line.rpartition(" ")
        series, _, label_text = head.partition("{")
        if series == name and set(filter(None, label_text.rstrip("}").split(","))) == wanted:
            return float(value)
    return 0.0


def test_metrics_expose_requests_stages_jobs_webhooks_and_refusals(
    client: TestClient, auth: dict[str, str], product_uri: str
) -> None:
    assert client.post("/v1/scene/create", json=scene_body(product_uri), headers=auth).status_code == 200
    empty = np.zeros((64, 64, 4), np.uint8)  # a transparent picture: nothing to cut out
    refused = client.post("/v1/scene/create", json=scene_body(data_uri(png_bytes(empty))), headers=auth)
    assert refused.status_code == 422 and refused.json()["error_type"] == "image"
    assert client.get("/v1/scene/create/async/nonexistent", headers=auth).status_code == 404
    assert client.post("/v1/webhooks/secret", headers=auth).status_code == 200  # webhooks are signed
    with WebhookReceiver([200]) as receiver:
        job = client.post(f"/v1/scene/create/async?webhook_url={receiver.url}", json=scene_body(product_uri),
                          headers=auth)
        assert job.status_code == 202, job.text
        job_id = job.json()["data"]["id"]
        wait_for(lambda: client.get(f"/v1/scene/create/async/{job_id}", headers=auth).json()["data"]["status"]
                 == "DONE", 200)
        wait_for(lambda: receiver.received, 120)

        def webhook_counted() -> str | None:
            text = client.get("/metrics").text
            return text if sample(text, "photostage_webhook_attempts_total", outcome="delivered") >= 1 else None

        text = wait_for(webhook_counted, 120)
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert set(series_names(text.encode())) >= EXPECTED_SERIES
    assert sample(text, "photostage_http_requests_total", route="/v1/scene/create", method="POST", status="200") == 1
    assert sample(text, "photostage_http_requests_total", route="/v1/scene/create/async/{job_id}", method="GET",
                  status="404") == 1  # by route template: no series per job id
    assert sample(text, "photostage_cutout_refusals_total", code=refused.json()["error_code"]) == 1
    assert sample(text, "photostage_jobs", status="DONE") == 1
    assert sample(text, "photostage_queue_depth") == 0
    assert sample(text, "photostage_webhook_deliveries", status="DELIVERED") == 1
    assert sample(text, "photostage_job_runs_total", outcome="DONE") == 1
    assert sample(text, "photostage_pipeline_stage_duration_seconds_count", stage="encode") >= 2  # sync + job
    assert sample(text, "photostage_jobs_collector_up") == 1


def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    from photostage.api.app import create_app

    settings = Settings(data_dir=tmp_path, server={"metrics": False})
    with TestClient(create_app(settings)) as client:
        response = client.get("/metrics")
    assert response.status_code == 404 and "PHOTOSTAGE_SERVER__METRICS" in response.json()["error_message"]


@pytest.mark.postgres
def test_readiness_follows_the_database_while_liveness_stays(tmp_path: Path) -> None:
    """The database behind a proxy this test cuts and restores (never the shared server itself)."""
    from photostage.api.app import create_app

    with postgres_database() as url, TcpProxy("127.0.0.1", 5432) as proxy:
        proxied = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        settings = Settings(data_dir=tmp_path, database_url=proxied, tmp={"store": "local"})  # storage apart
        with TestClient(create_app(settings)) as client:
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "storage": "ok"}
            proxy.cut()
            down = client.get("/readyz")
            assert down.status_code == 503 and down.json()["checks"]["database"] != "ok", down.text
            assert down.json()["checks"]["storage"] == "ok"
            assert client.get("/healthz").status_code == 200  # liveness is not readiness
            metrics = client.get("/metrics")
            assert metrics.status_code == 200 and sample(metrics.text, "photostage_jobs_collector_up") == 0
            proxy.restore()
            assert client.get("/readyz").status_code == 200
            client.app.state.services.db.dispose()  # close pooled connections before the database goes


@pytest.mark.redis
def test_readiness_checks_the_broker_with_the_celery_runner(tmp_path: Path) -> None:
    from photostage.api.app import create_app

    with TcpProxy("127.0.0.1", 6379) as proxy:
        settings = Settings(data_dir=tmp_path, jobs={"runner": "celery",
                                                     "redis_url": f"redis://127.0.0.1:{proxy.port}/13"})
        with TestClient(create_app(settings)) as client:
            assert client.get("/readyz").json()["checks"]["broker"] == "ok"
            proxy.cut()
            down = client.get("/readyz")
            assert down.status_code == 503 and down.json()["checks"]["broker"] != "ok"


def test_json_logs_carry_the_request_id(client: TestClient, auth: dict[str, str]) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("photostage.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        response = client.get("/v1/models", headers={**auth, "x-request-id": "req-observability-1"})
    finally:
        logger.removeHandler(handler)
    assert response.headers["x-request-id"] == "req-observability-1"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    entry = next(line for line in lines if line.get("route") == "/v1/models")
    assert entry["request_id"] == "req-observability-1" and entry["status"] == 200
    assert entry["level"] == "INFO" and entry["logger"] == "photostage.access" and "duration_ms" in entry
